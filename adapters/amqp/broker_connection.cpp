#include "broker_connection.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/time.h>

#include <cinttypes>
#include <cstdio>

namespace switchboard::adapters::amqp {

std::vector<OptionSpec> BrokerSettings::specs() {
  return {
      {"url", OptionType::String, true, "",
       "broker: amqp://user:password@host:5672/vhost, or amqps:// for TLS (port 5671); no path means vhost /"},
      {"heartbeat", OptionType::Duration, false, "30s", "AMQP heartbeat; a silent broker is given up after two"},
      {"connect_timeout", OptionType::Duration, false, "5s", "time to connect and log in"},
      {"tls_ca", OptionType::String, false, "",
       "amqps: CA certificate file the broker's certificate is checked against"},
      {"tls_cert", OptionType::String, false, "", "amqps: client certificate file (mutual TLS)"},
      {"tls_key", OptionType::String, false, "", "amqps: the client certificate's key file"},
      {"tls_verify", OptionType::Bool, false, "true", "amqps: check the broker's certificate and host name"},
  };
}

BrokerSettings BrokerSettings::from(const Options& options) {
  BrokerSettings s;
  s.url = options.string("url");
  std::string buffer = s.url;  // amqp_parse_url writes into its argument
  amqp_connection_info info{};
  amqp_default_connection_info(&info);
  if (s.url.rfind("amqp://", 0) != 0 && s.url.rfind("amqps://", 0) != 0) {
    throw OptionError("url", "url must start with amqp:// or amqps://, like amqp://guest:guest@127.0.0.1:5672/");
  }
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
    // Not echoed: a password with / or @ in it is what makes a url unreadable.
    throw OptionError("url",
                      "cannot read the url: write amqp://user:password@host:port/vhost, with / @ : and % in the "
                      "user or password percent-encoded (%2F %40 %3A %25)");
  }
  s.host = info.host;
  s.port = info.port;
  s.user = info.user;
  s.password = info.password;
  // `amqp://host/` names the empty vhost by the URI spec, but everyone means the default one.
  s.vhost = (info.vhost && *info.vhost) ? info.vhost : "/";
  s.tls = info.ssl != 0;
  s.heartbeat = std::chrono::duration_cast<std::chrono::seconds>(options.duration("heartbeat"));
  s.connect_timeout = options.duration("connect_timeout");
  if (s.connect_timeout.count() <= 0) throw OptionError("connect_timeout", "connect_timeout must be longer than 0ms");
  if (options.has("tls_ca")) s.ca_file = options.string("tls_ca");
  if (options.has("tls_cert")) s.cert_file = options.string("tls_cert");
  if (options.has("tls_key")) s.key_file = options.string("tls_key");
  s.verify = options.boolean("tls_verify");
  if (!s.tls && (!s.ca_file.empty() || !s.cert_file.empty())) {
    throw OptionError("url", "tls_* options need an amqps:// url");
  }
  if (s.cert_file.empty() != s.key_file.empty()) throw OptionError("tls_cert", "give tls_cert and tls_key together");
  return s;
}

std::string describeReply(const amqp_rpc_reply_t& reply, bool* permanent) {
  if (permanent) *permanent = false;
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "no reply from the broker";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION: break;
  }
  std::uint16_t code = 0;
  std::string_view text;
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    code = close->reply_code;
    text = view(close->reply_text);
  } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    code = close->reply_code;
    text = view(close->reply_text);
  } else {
    char id[16];
    std::snprintf(id, sizeof id, "%08" PRIx32, reply.reply.id);
    return std::string("unexpected broker method 0x") + id;
  }
  // 403 access refused, 404 not found, 406 precondition failed: the broker says no.
  if (permanent) *permanent = code == 403 || code == 404 || code == 406;
  return "broker closed the " + std::string(reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD ? "connection" : "channel") +
         ": " + std::string(text) + " (" + std::to_string(code) + ")";
}

bool fieldText(const amqp_field_value_t& value, std::string& text) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: text.assign(view(value.value.bytes)); return true;
    case AMQP_FIELD_KIND_BOOLEAN: text = value.value.boolean ? "true" : "false"; return true;
    case AMQP_FIELD_KIND_I8: text = std::to_string(value.value.i8); return true;
    case AMQP_FIELD_KIND_U8: text = std::to_string(value.value.u8); return true;
    case AMQP_FIELD_KIND_I16: text = std::to_string(value.value.i16); return true;
    case AMQP_FIELD_KIND_U16: text = std::to_string(value.value.u16); return true;
    case AMQP_FIELD_KIND_I32: text = std::to_string(value.value.i32); return true;
    case AMQP_FIELD_KIND_U32: text = std::to_string(value.value.u32); return true;
    case AMQP_FIELD_KIND_I64: text = std::to_string(value.value.i64); return true;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: text = std::to_string(value.value.u64); return true;
    case AMQP_FIELD_KIND_F32: text = std::to_string(value.value.f32); return true;
    case AMQP_FIELD_KIND_F64: text = std::to_string(value.value.f64); return true;
    default: return false;
  }
}

Connection::Connection(const BrokerSettings& settings) : state_(amqp_new_connection()) {
  if (!state_) throw BrokerError("out of memory for an AMQP connection");
  try {
    amqp_socket_t* socket = settings.tls ? amqp_ssl_socket_new(state_) : amqp_tcp_socket_new(state_);
    if (!socket) throw BrokerError("cannot make a socket");
    if (settings.tls) {
      amqp_ssl_socket_set_verify_peer(socket, settings.verify);
      // librabbitmq's own host name check knows DNS names only; OpenSSL's also matches an IP
      // address against the certificate's IP entries.
      amqp_ssl_socket_set_verify_hostname(socket, 0);
      if (settings.verify) {
        auto* parameters = SSL_CTX_get0_param(static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket)));
        if (X509_VERIFY_PARAM_set1_ip_asc(parameters, settings.host.c_str()) != 1) {
          X509_VERIFY_PARAM_set1_host(parameters, settings.host.c_str(), 0);
        }
      }
      if (!settings.ca_file.empty()) {
        checkStatus(amqp_ssl_socket_set_cacert(socket, settings.ca_file.c_str()), "tls_ca " + settings.ca_file);
      }
      if (!settings.cert_file.empty()) {
        checkStatus(amqp_ssl_socket_set_key(socket, settings.cert_file.c_str(), settings.key_file.c_str()),
                    "tls_cert/tls_key");
      }
    }
    const auto ms = settings.connect_timeout.count();
    timeval timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    amqp_set_handshake_timeout(state_, &timeout);
    amqp_set_rpc_timeout(state_, &timeout);
    checkStatus(amqp_socket_open_noblock(socket, settings.host.c_str(), settings.port, &timeout),
                "cannot connect to " + settings.host + ":" + std::to_string(settings.port));
    // connection.blocked: the broker tells before a resource alarm makes it stop reading from
    // publishers, so a publisher fails its sends at once instead of hanging in write().
    amqp_table_entry_t capability{};
    capability.key = amqp_cstring_bytes("connection.blocked");
    capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability.value.value.boolean = 1;
    amqp_table_entry_t capabilities{};
    capabilities.key = amqp_cstring_bytes("capabilities");
    capabilities.value.kind = AMQP_FIELD_KIND_TABLE;
    capabilities.value.value.table = {1, &capability};
    const amqp_table_t properties{1, &capabilities};
    check(amqp_login_with_properties(state_, settings.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE,
                                     static_cast<int>(settings.heartbeat.count()), &properties, AMQP_SASL_METHOD_PLAIN,
                                     settings.user.c_str(), settings.password.c_str()),
          "login as " + settings.user + " to vhost " + settings.vhost);
    open_ = true;
    amqp_channel_open(state_, kChannel);
    check("open a channel");
    // Replies to a blocked publisher or consumer are bounded by the endpoints, not here.
    amqp_set_rpc_timeout(state_, nullptr);
  } catch (...) {
    if (open_) amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
    throw;
  }
}

Connection::~Connection() {
  if (open_) {
    timeval brief{1, 0};
    amqp_set_rpc_timeout(state_, &brief);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(state_);
}

void Connection::check(const amqp_rpc_reply_t& reply, std::string_view what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  bool permanent = false;
  std::string text = describeReply(reply, &permanent);
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok{};
    amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    open_ = false;
  }
  // A login the broker refuses arrives as a closed socket; the credentials are the likely cause.
  if (!open_ && reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      reply.library_error == AMQP_STATUS_CONNECTION_CLOSED && what.rfind("login", 0) == 0) {
    text += " (wrong user or password, or no access to the vhost?)";
  }
  throw BrokerError(std::string(what) + ": " + text, permanent ? Status::Code::Permanent : Status::Code::Transient);
}

void Connection::checkStatus(int status, std::string_view what) {
  if (status != AMQP_STATUS_OK) throw BrokerError(std::string(what) + ": " + amqp_error_string2(status));
}

void Connection::declareExchange(const std::string& name, const std::string& type) {
  amqp_exchange_declare(state_, kChannel, bytes(name), bytes(type), /*passive=*/0, /*durable=*/1,
                        /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
  check("declare exchange '" + name + "'");
}

void Connection::declareQueue(const std::string& name) {
  amqp_queue_declare(state_, kChannel, bytes(name), /*passive=*/0, /*durable=*/1, /*exclusive=*/0,
                     /*auto_delete=*/0, amqp_empty_table);
  check("declare queue '" + name + "'");
}

void Connection::bindQueue(const std::string& queue, const std::string& exchange, const std::string& key) {
  amqp_queue_bind(state_, kChannel, bytes(queue), bytes(exchange), bytes(key), amqp_empty_table);
  check("bind queue '" + queue + "' to exchange '" + exchange + "' with key '" + key + "'");
}

}  // namespace switchboard::adapters::amqp
