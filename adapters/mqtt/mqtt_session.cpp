#include "mqtt_session.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "switchboard/log.hpp"

namespace switchboard::adapters::mqtt {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{5'000};
constexpr std::chrono::milliseconds kRedeliveryPause{1'000};
constexpr std::chrono::seconds kStableConnection{5};

/// A failure of the connection: it is closed and made again.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string systemError(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

std::string tlsError(std::string_view what) {
  char text[256] = "unknown error";
  if (const auto code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return std::string(what) + ": " + text;
}

int millisecondsUntil(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

}  // namespace

/// A TCP connection to the broker, with TLS on top for mqtts://.
class Transport {
 public:
  explicit Transport(const BrokerSettings& settings);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int socket() const noexcept { return socket_; }
  /// Bytes TLS has decrypted but not handed out yet: readable without the socket being so.
  bool pending() const { return ssl_ && SSL_pending(ssl_) > 0; }
  /// Reads what is there (blocking only until the first byte); throws when the broker is gone.
  std::size_t read(char* buffer, std::size_t size);
  void write(std::string_view bytes);

 private:
  int socket_ = -1;
  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
};

Transport::Transport(const BrokerSettings& settings) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(settings.host.c_str(), settings.port.c_str(), &hints, &found); rc != 0) {
    throw ConnectionError("cannot resolve " + settings.host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  const auto deadline = std::chrono::steady_clock::now() + settings.connect_timeout;
  std::string failure = "no address";
  for (auto* address = found; address && socket_ < 0; address = address->ai_next) {
    const int s = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) continue;
    int error = 0;
    if (::connect(s, address->ai_addr, address->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        pollfd watched{s, POLLOUT, 0};
        const int ready = ::poll(&watched, 1, millisecondsUntil(deadline));
        socklen_t length = sizeof error;
        if (ready <= 0) {
          error = ETIMEDOUT;
        } else {
          ::getsockopt(s, SOL_SOCKET, SO_ERROR, &error, &length);
        }
      }
    }
    if (error != 0) {
      failure = std::strerror(error);
      ::close(s);
      continue;
    }
    socket_ = s;
  }
  if (socket_ < 0) throw ConnectionError("cannot connect to " + settings.host + ":" + settings.port + ": " + failure);
  ::fcntl(socket_, F_SETFL, ::fcntl(socket_, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  ::setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A broker that stops reading or stalls mid-packet must not hold the session thread forever.
  const auto ms = std::max(settings.connect_timeout, std::chrono::milliseconds(settings.keepalive)).count();
  timeval bound{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  ::setsockopt(socket_, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
  ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  if (!settings.tls) return;

  try {
    context_ = SSL_CTX_new(TLS_client_method());
    if (!context_) throw ConnectionError(tlsError("TLS"));
    SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
    if (settings.ca_file.empty() ? SSL_CTX_set_default_verify_paths(context_) != 1
                                 : SSL_CTX_load_verify_locations(context_, settings.ca_file.c_str(), nullptr) != 1) {
      throw ConnectionError(tlsError("tls_ca " + settings.ca_file));
    }
    if (!settings.cert_file.empty() &&
        (SSL_CTX_use_certificate_chain_file(context_, settings.cert_file.c_str()) != 1 ||
         SSL_CTX_use_PrivateKey_file(context_, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
      throw ConnectionError(tlsError("tls_cert/tls_key"));
    }
    SSL_CTX_set_verify(context_, settings.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(context_);
    if (!ssl_) throw ConnectionError(tlsError("TLS"));
    SSL_set_tlsext_host_name(ssl_, settings.host.c_str());
    if (settings.verify) SSL_set1_host(ssl_, settings.host.c_str());
    SSL_set_fd(ssl_, socket_);
    if (SSL_connect(ssl_) != 1) {
      const auto verified = SSL_get_verify_result(ssl_);
      if (verified != X509_V_OK) {
        throw ConnectionError(std::string("TLS: the broker's certificate is not trusted: ") +
                              X509_verify_cert_error_string(verified));
      }
      throw ConnectionError(tlsError("TLS handshake"));
    }
  } catch (...) {
    if (ssl_) SSL_free(ssl_);
    if (context_) SSL_CTX_free(context_);
    ::close(socket_);
    throw;
  }
}

Transport::~Transport() {
  if (ssl_) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
    SSL_CTX_free(context_);
  }
  ::close(socket_);
}

std::size_t Transport::read(char* buffer, std::size_t size) {
  if (ssl_) {
    const int n = SSL_read(ssl_, buffer, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (n > 0) return static_cast<std::size_t>(n);
    if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) throw ConnectionError("the broker closed the connection");
    throw ConnectionError(tlsError("TLS read"));
  }
  for (;;) {
    const auto n = ::recv(socket_, buffer, size, 0);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) throw ConnectionError("the broker closed the connection");
    if (errno != EINTR) throw ConnectionError(systemError("read"));
  }
}

void Transport::write(std::string_view bytes) {
  while (!bytes.empty()) {
    if (ssl_) {
      const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 30)));
      if (n <= 0) {
        const int error = errno;
        // A broker that refuses the client (a missing client certificate under TLS 1.3) says
        // why in an alert that is waiting to be read.
        char alert;
        SSL_read(ssl_, &alert, 1);
        if (ERR_peek_error() == 0) {
          throw ConnectionError(std::string("TLS write: the broker closed the connection (") + std::strerror(error) +
                                ")");
        }
        throw ConnectionError(tlsError("TLS write"));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else {
      const auto n = ::send(socket_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ConnectionError(systemError("write"));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
}

std::vector<OptionSpec> BrokerSettings::specs() {
  return {
      {"url", OptionType::String, true, "", "broker: mqtt://host:1883, or mqtts://host:8883 for TLS"},
      {"username", OptionType::String, false, "", "user name to log in with"},
      {"password", OptionType::String, false, "", "password (write ${env.NAME})"},
      {"client_id", OptionType::String, false, "", "MQTT client id; unique per connection to the broker"},
      {"keepalive", OptionType::Duration, false, "30s", "MQTT keep-alive interval"},
      {"connect_timeout", OptionType::Duration, false, "5s", "time to connect and log in"},
      {"tls_ca", OptionType::String, false, "", "mqtts: CA certificate file (default: the system's)"},
      {"tls_cert", OptionType::String, false, "", "mqtts: client certificate file (mutual TLS)"},
      {"tls_key", OptionType::String, false, "", "mqtts: the client certificate's key file"},
      {"tls_verify", OptionType::Bool, false, "true", "mqtts: check the broker's certificate and host name"},
  };
}

BrokerSettings BrokerSettings::from(const Options& options, std::string default_client_id) {
  BrokerSettings s;
  s.url = options.string("url");
  std::string_view rest = s.url;
  if (rest.rfind("mqtt://", 0) == 0) {
    rest.remove_prefix(7);
  } else if (rest.rfind("mqtts://", 0) == 0) {
    rest.remove_prefix(8);
    s.tls = true;
  } else {
    throw OptionError("url", "url must start with mqtt:// or mqtts://, like mqtt://127.0.0.1:1883");
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") throw OptionError("url", "an MQTT url has no path: topics are options");
    rest = rest.substr(0, slash);
  }
  if (rest.find('@') != std::string_view::npos) {
    throw OptionError("url", "give the user as username and password options, not in the url");
  }
  // host, host:port, [v6]:port
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) throw OptionError("url", "unclosed [ in the url's host");
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) throw OptionError("url", "the url names no host");
  if (!port.empty() && (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit))) {
    throw OptionError("url", "the url's port must be a number");
  }
  s.host = host;
  s.port = port.empty() ? (s.tls ? "8883" : "1883") : std::string(port);
  if (options.has("username")) s.username = options.string("username");
  if (options.has("password")) s.password = options.string("password");
  if (s.password && !s.username) throw OptionError("password", "a password needs a username");
  s.client_id = options.has("client_id") ? options.string("client_id") : std::move(default_client_id);
  if (s.client_id.empty() || s.client_id.size() > 0xffff) throw OptionError("client_id", "client_id must not be empty");
  const auto keepalive = options.duration("keepalive");
  if (keepalive < std::chrono::seconds(1) || keepalive > std::chrono::seconds(65535)) {
    throw OptionError("keepalive", "keepalive must be between 1s and 65535s");
  }
  s.keepalive = std::chrono::duration_cast<std::chrono::seconds>(keepalive);
  s.connect_timeout = options.duration("connect_timeout");
  if (s.connect_timeout.count() <= 0) throw OptionError("connect_timeout", "connect_timeout must be longer than 0ms");
  if (options.has("tls_ca")) s.ca_file = options.string("tls_ca");
  if (options.has("tls_cert")) s.cert_file = options.string("tls_cert");
  if (options.has("tls_key")) s.key_file = options.string("tls_key");
  s.verify = options.boolean("tls_verify");
  if (!s.tls && (!s.ca_file.empty() || !s.cert_file.empty()))
    throw OptionError("url", "tls_* options need an mqtts:// url");
  if (s.cert_file.empty() != s.key_file.empty()) throw OptionError("tls_cert", "give tls_cert and tls_key together");
  return s;
}

Session::Session(BrokerSettings settings, std::vector<std::pair<std::string, int>> subscriptions, OnMessage on_message,
                 std::string route_id)
    : settings_(std::move(settings)),
      subscriptions_(std::move(subscriptions)),
      on_message_(std::move(on_message)),
      route_id_(std::move(route_id)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (wake_fd_ < 0) throw std::runtime_error(systemError("mqtt: eventfd"));
}

Session::~Session() {
  stop();
  ::close(wake_fd_);
}

void Session::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void Session::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> Session::firstAttempt(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [this] { return attempted_; });
  if (connected_) return std::nullopt;
  return attempted_ ? last_error_ : "no answer within " + std::to_string(timeout.count()) + "ms";
}

void Session::queue(std::string packet) {
  outgoing_.push_back(std::move(packet));
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

Status Session::publish(PublishFields message, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  if (!changed_.wait_until(lock, deadline, [this] { return connected_ || stopping_; }) || !connected_) {
    return Status::transient("not connected to " + settings_.redacted() +
                             (last_error_.empty() ? std::string() : ": " + last_error_));
  }
  if (message.qos > 0) {
    do {
      message.packet_id = ++last_packet_id_;
    } while (message.packet_id == 0 || awaited_.count(message.packet_id));
  }
  std::string packet;
  try {
    packet = encodePublish(message);
  } catch (const std::invalid_argument& e) {
    return Status::badInput(std::string("cannot publish: ") + e.what());
  }
  queue(std::move(packet));
  if (message.qos == 0) return Status::ok();
  Awaited awaited;
  awaited_[message.packet_id] = &awaited;
  const bool done = changed_.wait_until(lock, deadline, [&] { return awaited.done; });
  if (!done) {
    awaited_.erase(message.packet_id);
    return Status::timeout("no PUBACK from " + settings_.redacted() + " within " + std::to_string(timeout.count()) +
                           "ms");
  }
  return awaited.status;
}

void Session::acknowledge(std::uint64_t connection, std::uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  // On a newer connection the broker has sent the message again, under its own delivery.
  if (connected_ && connection == connection_) queue(encodePuback(packet_id));
}

void Session::reconnect(std::uint64_t connection, std::string why) {
  std::lock_guard lock(mutex_);
  if (!connected_ || connection != connection_ || drop_ == connection) return;
  drop_ = connection;
  drop_reason_ = std::move(why);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

void Session::lost(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    connected_ = false;
    attempted_ = true;
    last_error_ = why;
    outgoing_.clear();  // PUBACKs and publishes of the lost connection mean nothing on the next
    for (auto& [id, awaited] : awaited_) {
      awaited->done = true;
      awaited->status =
          Status::transient("connection to " + settings_.redacted() + " lost before the broker acknowledged: " + why);
    }
    awaited_.clear();
  }
  changed_.notify_all();
}

void Session::run() {
  auto backoff = kFirstBackoff;
  bool unavailable = false;
  bool first = true;  // the first failure is the owner's to report (a start-up warning, a send error)
  std::chrono::steady_clock::time_point connected_at;
  const auto url = settings_.redacted();
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    bool was_connected = false;
    try {
      Transport transport(settings_);
      auto early = handshake(transport);
      std::uint64_t connection;
      {
        std::lock_guard lock(mutex_);
        connection = ++connection_;
        connected_ = true;
        attempted_ = true;
        last_error_.clear();
      }
      changed_.notify_all();
      was_connected = true;
      if (unavailable) log(LogLevel::Info, "mqtt broker available again", {{"route", route_id_}, {"url", url}});
      unavailable = false;
      connected_at = std::chrono::steady_clock::now();
      for (auto& packet : early) {
        if (packet.type == PacketType::Publish && on_message_) on_message_(decodePublish(packet), connection);
      }
      serve(transport, connection);
      return;  // stopping
    } catch (const std::exception& e) {
      bool requested;
      {
        std::lock_guard lock(mutex_);
        requested = was_connected && drop_ == connection_;
      }
      lost(e.what());
      if (requested) {
        log(LogLevel::Info, std::string("mqtt ") + e.what(), {{"route", route_id_}, {"url", url}});
      } else if (was_connected) {
        log(LogLevel::Warn, std::string("mqtt connection lost, reconnecting with backoff: ") + e.what(),
            {{"route", route_id_}, {"url", url}});
      } else if (!unavailable && !first) {
        log(LogLevel::Warn, std::string("cannot reach the mqtt broker, retrying with backoff: ") + e.what(),
            {{"route", route_id_}, {"url", url}});
      }
      unavailable = !requested;
      first = false;
      // A connection that held is a fresh start; one that fails at once (a client id taken
      // over, a subscription refused after login) keeps backing off.
      if (was_connected && std::chrono::steady_clock::now() - connected_at >= kStableConnection)
        backoff = kFirstBackoff;
    }
    std::unique_lock lock(mutex_);
    // After a failed message the broker resends it on the next connection: a short pause
    // keeps a message that fails every time from turning into a busy loop.
    const auto pause = was_connected && drop_ == connection_ ? kRedeliveryPause : backoff;
    if (changed_.wait_for(lock, pause, [this] { return stopping_; })) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

std::vector<Packet> Session::handshake(Transport& transport) {
  ConnectFields fields;
  fields.client_id = settings_.client_id;
  fields.clean_session = settings_.clean_session;
  fields.keepalive_seconds = static_cast<std::uint16_t>(settings_.keepalive.count());
  fields.username = settings_.username;
  fields.password = settings_.password;
  transport.write(encodeConnect(fields));
  if (!subscriptions_.empty()) transport.write(encodeSubscribe(1, subscriptions_));

  // CONNACK, then SUBACK; a broker may send retained or queued messages in between, which are
  // handed on once the session is up.
  const auto deadline = std::chrono::steady_clock::now() + settings_.connect_timeout;
  Decoder decoder;
  bool accepted = false;
  bool subscribed = subscriptions_.empty();
  std::vector<Packet> early;
  char buffer[16384];
  while (!accepted || !subscribed) {
    while (auto packet = decoder.next()) {
      if (packet->type == PacketType::Connack) {
        const auto [code, session_present] = decodeConnack(*packet);
        if (code != 0) {
          throw ConnectionError("broker refused the connection: " + std::string(connackReason(code)) + " (" +
                                std::to_string(code) + ")");
        }
        accepted = true;
      } else if (packet->type == PacketType::Suback) {
        const auto codes = decodeSubackCodes(*packet);
        for (std::size_t i = 0; i < codes.size() && i < subscriptions_.size(); ++i) {
          if (codes[i] == 0x80) throw ConnectionError("broker refused the subscription to " + subscriptions_[i].first);
        }
        subscribed = true;
      } else {
        early.push_back(std::move(*packet));
      }
    }
    if (accepted && subscribed) break;
    pollfd watched{transport.socket(), POLLIN, 0};
    if (!transport.pending() && ::poll(&watched, 1, millisecondsUntil(deadline)) <= 0) {
      throw ConnectionError(std::string("no ") + (accepted ? "SUBACK" : "CONNACK") + " from the broker within " +
                            std::to_string(settings_.connect_timeout.count()) + "ms");
    }
    decoder.feed({buffer, transport.read(buffer, sizeof buffer)});
  }
  return early;
}

void Session::serve(Transport& transport, std::uint64_t connection) {
  using Clock = std::chrono::steady_clock;
  const auto keepalive = std::chrono::duration_cast<Clock::duration>(settings_.keepalive);
  auto last_sent = Clock::now();
  bool ping_open = false;  // a PINGREQ awaits its PINGRESP
  Clock::time_point ping_sent;
  Decoder decoder;
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    std::deque<std::string> out;
    bool stopping;
    bool dropping;
    std::string drop_reason;
    {
      std::lock_guard lock(mutex_);
      stopping = stopping_;
      dropping = !stopping && drop_ == connection;
      if (dropping) drop_reason = drop_reason_;
      out.swap(outgoing_);
    }
    if (dropping) {
      for (const auto& packet : out) transport.write(packet);  // acknowledgements of finished messages
      throw ConnectionError("reconnecting, so that the broker sends what was not acknowledged again: " + drop_reason);
    }
    if (stopping) {
      for (const auto& packet : out) transport.write(packet);  // acknowledgements made while stopping
      transport.write(encodeDisconnect());
      lost("stopped");
      return;
    }
    for (const auto& packet : out) transport.write(packet);
    const auto now = Clock::now();
    if (!out.empty()) last_sent = now;
    if (ping_open && now - ping_sent > keepalive) throw ConnectionError("no PINGRESP from the broker within keepalive");
    if (now - last_sent >= keepalive / 2) {  // well within the 1.5x keepalive the broker allows
      transport.write(encodePingreq());
      last_sent = now;
      if (!ping_open) ping_sent = now;
      ping_open = true;
    }
    if (!transport.pending()) {
      pollfd watched[2] = {{transport.socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      ::poll(watched, 2, millisecondsUntil(last_sent + keepalive / 2));
      if (watched[1].revents) {
        std::uint64_t count;
        [[maybe_unused]] auto read = ::read(wake_fd_, &count, sizeof count);
      }
      if (!watched[0].revents) continue;
    }
    decoder.feed({buffer.data(), transport.read(buffer.data(), buffer.size())});
    while (auto packet = decoder.next()) {
      switch (packet->type) {
        case PacketType::Publish:
          if (on_message_) on_message_(decodePublish(*packet), connection);
          break;
        case PacketType::Puback: {
          const auto id = decodePacketId(*packet);
          {
            std::lock_guard lock(mutex_);
            if (auto it = awaited_.find(id); it != awaited_.end()) {
              it->second->done = true;
              awaited_.erase(it);
            }
          }
          changed_.notify_all();
          break;
        }
        case PacketType::Pingresp: ping_open = false; break;
        default: break;
      }
    }
  }
}

}  // namespace switchboard::adapters::mqtt
