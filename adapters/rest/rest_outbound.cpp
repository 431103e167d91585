#include "rest_outbound.hpp"

#include <algorithm>
#include <cctype>

#include "curl_multi.hpp"

namespace switchboard::adapters::rest {

ComponentSpec OutboundOptions::spec() {
  return ComponentSpec{
      "rest",
      "Sends each message as an HTTP request; the response becomes the message.",
      {
          {"url", OptionType::Template, true, "", "URL, rendered per message"},
          {"method",
           OptionType::Enum,
           false,
           "POST",
           "HTTP method",
           {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}},
          {"headers", OptionType::TemplateMap, false, "",
           "request headers (templates); Content-Type defaults to the message's"},
          {"timeout", OptionType::Duration, false, "30s", "time for the whole exchange"},
          {"connect_timeout", OptionType::Duration, false, "5s", "time to connect"},
          {"follow_redirects", OptionType::Bool, false, "true", "follow up to 5 redirects"},
          {"forward_headers", OptionType::Bool, false, "true",
           "send the message's headers too (not dotted ones like http.method, not hop-by-hop ones)"},
          {"tls", OptionType::Object, false, "", "ca (PEM file), cert and key (client certificate), verify (true)"},
          {"auth", OptionType::Object, false, "", "basic: {user, password} | bearer: TOKEN"},
      }};
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.url = options.templ("url");
  if (o.url.isConstant() && o.url.text().find("://") == std::string::npos) {
    throw OptionError("url", "url needs a scheme, like http://host:port/path");
  }
  o.method = options.string("method");
  if (options.has("headers")) o.headers = options.templateMap("headers");
  o.timeout = options.duration("timeout");
  o.connect_timeout = options.duration("connect_timeout");
  o.follow_redirects = options.boolean("follow_redirects");
  o.forward_headers = options.boolean("forward_headers");
  if (options.has("tls")) {
    const auto& tls = options.json("tls");
    if (!tls.is_object()) throw OptionError("tls", "tls takes ca, cert, key and verify");
    o.ca = tls.value("ca", "");
    o.cert = tls.value("cert", "");
    o.key = tls.value("key", "");
    o.verify = tls.value("verify", true);
  }
  if (options.has("auth")) {
    const auto& auth = options.json("auth");
    if (auth.is_object() && auth.contains("basic") && auth["basic"].is_object()) {
      o.basic = auth["basic"].value("user", "") + ":" + auth["basic"].value("password", "");
    } else if (auth.is_object() && auth.contains("bearer") && auth["bearer"].is_string()) {
      o.bearer = auth["bearer"].get<std::string>();
    } else {
      throw OptionError("auth", "auth takes basic: {user, password} or bearer: TOKEN");
    }
  }
  return o;
}

namespace {
bool hopByHop(std::string_view name) {
  for (const char* hop : {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Proxy-Connection", "TE",
                          "Trailer", "Upgrade"}) {
    if (iequals(name, hop)) return true;
  }
  return false;
}

// Headers of the message that travel as HTTP headers: not the bus's own dotted ones
// (http.method, file.name, error.*), not hop-by-hop ones, and not those libcurl sets itself.
bool forwarded(std::string_view name) {
  return name.find('.') == std::string_view::npos && !hopByHop(name) && !iequals(name, "Host") &&
         !iequals(name, "Content-Type") && !iequals(name, "Expect") && !iequals(name, "Authorization");
}
}  // namespace

std::string percentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    }
  }
  return out;
}

OutgoingRequest formatRequest(const OutboundOptions& options, const Message& message) {
  OutgoingRequest request;
  // Values go into the URL percent-encoded, so "a&admin=1" stays one query value.
  request.url = options.url.render(message, percentEncode);
  request.method = options.method;
  bool has_type = false;
  for (const auto& [name, value] : options.headers) {
    has_type = has_type || iequals(name, "Content-Type");
    request.headers.push_back(name + ": " + value.render(message));
  }
  if (options.forward_headers) {
    for (const auto& [name, value] : message.headers()) {
      if (!forwarded(name)) continue;
      const bool overridden = std::any_of(options.headers.begin(), options.headers.end(),
                                          [&](const auto& header) { return iequals(header.first, name); });
      if (!overridden) request.headers.push_back(name + ": " + value);
    }
  }
  const bool with_body = options.method != "GET" && options.method != "HEAD";
  if (with_body) {
    if (!has_type && !message.contentType().empty())
      request.headers.push_back("Content-Type: " + message.contentType());
    request.body = &message.body();
  }
  if (!options.bearer.empty()) request.headers.push_back("Authorization: Bearer " + options.bearer);
  request.headers.push_back("Expect:");  // no 100-continue round trip before the body
  return request;
}

Status statusFor(long http_status, const std::string& what) {
  if (http_status >= 200 && http_status < 400) return Status::ok();
  const std::string text = what + " answered " + std::to_string(http_status);
  if (http_status == 408 || http_status == 429 || http_status >= 500) return Status::transient(text);
  return Status::permanent(text);
}

namespace {

struct Exchange {
  std::string body;
  Headers headers;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<Exchange*>(user)->body.append(data, size * count);
  return size * count;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    exchange->headers = Headers();  // a redirect or 100 Continue: only the last response counts
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    exchange->headers.add(line.substr(0, colon), std::string(value));
  }
  return size * count;
}

}  // namespace

RestOutbound::~RestOutbound() {
  std::unique_lock lock(liveness_->mutex);
  liveness_->alive = false;
}

std::string RestOutbound::describe() const {
  return "rest " + options_.method + " " + options_.url.text();
}

/// One request in flight: what libcurl reads from and writes into until it finished.
struct RestOutbound::Transfer {
  OutgoingRequest request;
  Exchange exchange;
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  ~Transfer() { curl_slist_free_all(headers); }
};

void RestOutbound::configure(CURL* handle, Transfer& transfer) const {
  const auto& request = transfer.request;
  for (const auto& header : request.headers) transfer.headers = curl_slist_append(transfer.headers, header.c_str());

  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, transfer.error);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, options_.follow_redirects ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, transfer.headers);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer.exchange);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer.exchange);
  if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body->data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
  }
  if (!options_.ca.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, options_.ca.c_str());
  if (!options_.cert.empty()) curl_easy_setopt(handle, CURLOPT_SSLCERT, options_.cert.c_str());
  if (!options_.key.empty()) curl_easy_setopt(handle, CURLOPT_SSLKEY, options_.key.c_str());
  if (!options_.verify) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!options_.basic.empty()) {
    curl_easy_setopt(handle, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(handle, CURLOPT_USERPWD, options_.basic.c_str());
  }
}

Status RestOutbound::complete(Transfer& transfer, CURL* handle, CURLcode code, Message& message) const {
  long http_status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http_status);
  const auto& request = transfer.request;
  auto& exchange = transfer.exchange;
  const std::string what = request.method + " " + request.url;
  if (code != CURLE_OK) {
    const std::string text = what + " failed: " + (transfer.error[0] ? transfer.error : curl_easy_strerror(code));
    if (code == CURLE_OPERATION_TIMEDOUT) return Status::timeout(text);
    // A URL that cannot work is this message's fault; everything else (refused, reset, an
    // answer that is not HTTP, which libcurl also reports as an unsupported protocol) may pass.
    const auto scheme = request.url.substr(0, request.url.find(':'));
    const bool web_url = iequals(scheme, "http") || iequals(scheme, "https");
    if (code == CURLE_URL_MALFORMAT || !web_url) return Status::permanent(text);
    return Status::transient(text);
  }
  Status status = statusFor(http_status, what);
  if (!status.isOk()) {
    const auto excerpt = exchange.body.substr(0, 200);
    return status.retryable() ? Status::transient(status.message() + ": " + excerpt)
                              : Status::permanent(status.message() + ": " + excerpt);
  }
  // The response becomes the message: status, headers and body; the id stays.
  std::string content_type;
  Headers response_headers;
  for (const auto& [name, value] : exchange.headers) {
    if (iequals(name, "Content-Type")) content_type = value;
    if (!hopByHop(name)) response_headers.add(name, value);
  }
  response_headers.set("http.status", std::to_string(http_status));
  message.headers() = std::move(response_headers);
  message.setBody(std::move(exchange.body), content_type.empty() ? "application/octet-stream" : content_type);
  return Status::ok();
}

Status RestOutbound::send(Message& message) {
  initCurl();
  Transfer transfer;
  transfer.request = formatRequest(options_, message);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);
  if (!handle) return Status::transient("rest: cannot create a libcurl handle");
  configure(handle.get(), transfer);
  const CURLcode code = curl_easy_perform(handle.get());
  return complete(transfer, handle.get(), code, message);
}

bool RestOutbound::sendAsync(Message& message, Done done) {
  auto transfer = std::make_shared<Transfer>();
  transfer->request = formatRequest(options_, message);
  auto begin = [this, transfer, &message, done = std::move(done), liveness = liveness_](EventLoop& loop) {
    std::shared_lock lock(liveness->mutex);
    if (!liveness->alive) return;
    auto& multi = CurlMulti::of(loop);
    CURL* handle = multi.acquire();
    if (!handle) return done(Status::transient("rest: cannot create a libcurl handle"));
    configure(handle, *transfer);
    multi.start(handle, [this, transfer, &message, done, liveness](CURL* handle, CURLcode code) {
      std::shared_lock lock(liveness->mutex);
      if (liveness->alive) done(complete(*transfer, handle, code, message));
    });
  };
  // On a loop (a route served by the HTTP server) the transfer runs right there; from any
  // other thread it goes to a loop.
  if (auto* loop = EventLoop::current()) {
    begin(*loop);
  } else {
    auto& chosen = EventLoop::any();
    chosen.post([begin = std::move(begin), &chosen] { begin(chosen); });
  }
  return true;
}

}  // namespace switchboard::adapters::rest
