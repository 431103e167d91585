#include "rest_inbound.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

namespace switchboard::adapters::rest {

namespace {

std::string base64Decode(std::string_view text) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    const auto index = kAlphabet.find(c);
    if (index == std::string_view::npos) return {};
    buffer = (buffer << 6) | static_cast<unsigned>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// Takes time that depends on the length of what was given, not on where it differs.
bool sameSecret(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ (i < expected.size() ? expected[i] : 0));
  }
  return diff == 0;
}

std::vector<std::string> stringList(const nlohmann::ordered_json& value, const std::string& option) {
  if (!value.is_array() || value.empty()) throw OptionError(option, option + " must be a non-empty list");
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string() || item.get<std::string>().empty())
      throw OptionError(option, option + " holds an empty or non-string entry");
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

Auth Auth::from(const nlohmann::ordered_json& value) {
  Auth auth;
  if (value.is_null()) return auth;
  if (!value.is_object() || value.size() != 1) {
    throw OptionError("auth",
                      "auth takes one of basic: {users: {name: password}}, bearer: {tokens: [..]}, "
                      "api_key: {header: NAME, keys: [..]}");
  }
  const std::string kind = value.begin().key();
  const auto& settings = value.begin().value();
  if (!settings.is_object()) {
    throw OptionError("auth", "auth." + kind +
                                  " takes a map: basic: {users: {name: password}}, bearer: {tokens: [..]}, "
                                  "api_key: {header: NAME, keys: [..]}");
  }
  if (kind == "basic") {
    auth.kind = Kind::Basic;
    if (!settings.contains("users") || !settings["users"].is_object() || settings["users"].empty()) {
      throw OptionError("auth", "auth.basic needs users: {name: password, ...}");
    }
    for (const auto& [name, password] : settings["users"].items()) {
      if (!password.is_string()) throw OptionError("auth", "auth.basic.users." + name + " must be a password string");
      auth.users.emplace_back(name, password.get<std::string>());
    }
  } else if (kind == "bearer") {
    auth.kind = Kind::Bearer;
    auth.keys = stringList(settings.value("tokens", nlohmann::ordered_json()), "auth.bearer.tokens");
  } else if (kind == "api_key") {
    auth.kind = Kind::ApiKey;
    auth.header = settings.value("header", "X-API-Key");
    auth.keys = stringList(settings.value("keys", nlohmann::ordered_json()), "auth.api_key.keys");
  } else {
    throw OptionError("auth", "unknown auth kind '" + kind + "': use basic, bearer or api_key");
  }
  return auth;
}

unsigned Auth::check(const Headers& headers) const {
  if (kind == Kind::None) return 0;
  const std::string* given = headers.find(credentialHeader());
  if (!given || given->empty()) return 401;
  if (kind == Kind::ApiKey) {
    for (const auto& key : keys) {
      if (sameSecret(*given, key)) return 0;
    }
    return 403;
  }
  const std::string_view scheme = kind == Kind::Basic ? "Basic " : "Bearer ";
  if (given->size() <= scheme.size() || !iequals(std::string_view(*given).substr(0, scheme.size()), scheme)) return 401;
  const std::string_view credential = std::string_view(*given).substr(scheme.size());
  if (kind == Kind::Bearer) {
    for (const auto& token : keys) {
      if (sameSecret(credential, token)) return 0;
    }
    return 403;
  }
  const auto decoded = base64Decode(credential);
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return 401;
  const auto name = std::string_view(decoded).substr(0, colon);
  const auto password = std::string_view(decoded).substr(colon + 1);
  for (const auto& [user, secret] : users) {
    if (user == name && sameSecret(password, secret)) return 0;
  }
  return 403;
}

std::vector<OptionSpec> serverSpecs() {
  return {
      {"listen", OptionType::String, true, "", "host:port to listen on; routes may share one"},
      {"path", OptionType::String, false, "/", "path, with {name} segments that become path.<name> headers"},
      {"max_body", OptionType::Size, false, "10MiB", "larger bodies are refused with 413"},
      {"read_timeout", OptionType::Duration, false, "30s", "time for a whole request to arrive"},
      {"idle_timeout", OptionType::Duration, false, "60s", "time a kept-alive connection may idle"},
      {"auth", OptionType::Object, false, "",
       "basic: {users: {name: password}} | bearer: {tokens: [..]} | api_key: {header, keys: [..]}"},
      {"tls", OptionType::Object, false, "", "cert, key (PEM files), client_ca (require client certificates)"},
  };
}

ServerOptions ServerOptions::from(const Options& options) {
  ServerOptions o;
  auto& e = o.endpoint;
  e.listen = options.string("listen");
  if (e.listen.find(':') == std::string::npos) throw OptionError("listen", "listen must be host:port");
  e.path = options.string("path");
  if (auto error = http::checkPathPattern(e.path); !error.empty()) throw OptionError("path", error);
  e.max_body = options.size("max_body");
  e.read_timeout = options.duration("read_timeout");
  e.idle_timeout = options.duration("idle_timeout");
  e.answer_timeout = options.scope().route_timeout;
  if (options.has("tls")) {
    const auto& tls = options.json("tls");
    if (!tls.is_object() || !tls.contains("cert") || !tls.contains("key")) {
      throw OptionError("tls", "tls needs cert and key (PEM files), and optionally client_ca");
    }
    e.tls.cert = tls["cert"].get<std::string>();
    e.tls.key = tls["key"].get<std::string>();
    e.tls.client_ca = tls.value("client_ca", "");
  }
  if (options.has("auth")) o.auth = Auth::from(options.json("auth"));
  return o;
}

ComponentSpec restInboundSpec() {
  ComponentSpec spec{"rest", "Serves HTTP requests as messages; the caller gets the route's answer (request-reply).",
                     serverSpecs()};
  spec.options.insert(spec.options.begin() + 2,
                      OptionSpec{"methods", OptionType::StringList, false, "[POST]", "HTTP methods served"});
  return spec;
}

ServerOptions restInboundOptions(const Options& options) {
  auto o = ServerOptions::from(options);
  o.endpoint.methods = options.list("methods");
  for (auto& method : o.endpoint.methods) {
    for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return o;
}

Message messageFor(http::Request&& request, Message message, const Auth& auth) {
  auto& headers = message.headers();
  for (auto& [name, value] : request.headers) {
    if (auth.kind != Auth::Kind::None && iequals(name, auth.credentialHeader())) continue;
    // Dotted names (http.status, path.id, error.message) are the bus's own: callers cannot set them.
    if (name.find('.') != std::string::npos) continue;
    headers.add(name, value);
  }
  headers.set("http.method", request.method);
  headers.set("http.path", request.path);
  headers.set("http.remote", request.remote);
  for (auto& [key, value] : request.query) headers.set("http.query." + key, value);
  for (auto& [name, value] : request.path_params) headers.set("path." + name, value);
  const auto* type = request.headers.find("Content-Type");
  message.setBody(std::move(request.body),
                  type ? std::string_view(*type) : std::string_view("application/octet-stream"));
  return message;
}

http::Response answerFor(Outcome&& outcome, const std::string& message_id) {
  switch (outcome.kind) {
    case Outcome::Kind::Delivered: {
      const std::string* status = outcome.reply ? outcome.reply->headers().find("http.status") : nullptr;
      if (!status) {
        http::Response accepted;
        accepted.status = 202;
        accepted.headers.set("Content-Type", "application/json");
        accepted.body = nlohmann::json{{"id", message_id}}.dump();
        return accepted;
      }
      unsigned code = 0;
      const char* end = status->data() + status->size();
      if (const auto parsed = std::from_chars(status->data(), end, code);
          parsed.ec != std::errc() || parsed.ptr != end || code < 200 || code > 599) {
        auto response = http::errorResponse(502, "the reply has no usable http.status: '" + *status + "'");
        response.headers.set("X-Message-Id", message_id);
        return response;
      }
      http::Response response;
      response.status = code;
      if (!outcome.reply->contentType().empty()) response.headers.set("Content-Type", outcome.reply->contentType());
      response.body = outcome.reply->takeBody();
      return response;
    }
    case Outcome::Kind::Filtered: {
      http::Response response;
      response.status = 204;
      return response;
    }
    case Outcome::Kind::DeadLettered:
    case Outcome::Kind::Failed: break;
  }
  const auto code = outcome.status.code();
  const unsigned status = code == Status::Code::BadInput ? 400 : code == Status::Code::Timeout ? 504 : 502;
  auto response = http::errorResponse(status, outcome.status.message());
  response.headers.set("X-Message-Id", message_id);
  return response;
}

void RestInbound::start(Intake& intake) {
  intake_ = &intake;
  registration_ = http::serve(options_.endpoint, [this](http::Request&& request, http::Respond respond) {
    handle(std::move(request), std::move(respond));
  });
}

std::string RestInbound::describe() const {
  std::string methods;
  for (const auto& m : options_.endpoint.methods) methods += (methods.empty() ? "" : ",") + m;
  return std::string(options_.endpoint.tls.enabled() ? "rest https://" : "rest ") + options_.endpoint.listen + " " +
         methods + " " + options_.endpoint.path;
}

void RestInbound::handle(http::Request&& request, http::Respond respond) {
  if (const unsigned refused = options_.auth.check(request.headers)) {
    auto response = http::errorResponse(refused, refused == 401 ? "authentication required" : "credentials refused");
    if (refused == 401 && options_.auth.kind == Auth::Kind::Basic) {
      response.headers.set("WWW-Authenticate", "Basic realm=\"switchboard\"");
    } else if (refused == 401 && options_.auth.kind == Auth::Kind::Bearer) {
      response.headers.set("WWW-Authenticate", "Bearer");
    } else if (refused == 401 && options_.auth.kind == Auth::Kind::ApiKey) {
      // A 401 always names a challenge (RFC 9110 §11.6.1): here, the header the key goes in.
      response.headers.set("WWW-Authenticate", "ApiKey header=\"" + options_.auth.header + "\"");
    }
    return respond(std::move(response));
  }
  Message message = messageFor(std::move(request), intake_->newMessage(), options_.auth);
  const std::string id = message.id();
  const auto admission = intake_->offer(std::move(message),
                                        [respond, id](Outcome outcome) { respond(answerFor(std::move(outcome), id)); });
  if (admission != Intake::Admission::Accepted) {
    auto response = http::errorResponse(
        503, admission == Intake::Admission::Full ? "route is busy, retry later" : "route is stopping");
    response.headers.set("Retry-After", "1");
    respond(std::move(response));
  }
}

}  // namespace switchboard::adapters::rest
