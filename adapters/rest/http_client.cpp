#include "http_client.hpp"

#include <mutex>

#include "curl_multi.hpp"
#include "switchboard/log.hpp"

namespace switchboard::adapters::rest {

std::vector<OptionSpec> ClientSettings::specs() {
  return {
      {"timeout", OptionType::Duration, false, "30s", "time for the whole exchange"},
      {"connect_timeout", OptionType::Duration, false, "5s", "time to connect"},
      {"tls", OptionType::Object, false, "", "ca (PEM file), cert and key (client certificate), verify (true)"},
      {"auth", OptionType::Object, false, "", "basic: {user, password} | bearer: TOKEN"},
  };
}

ClientSettings ClientSettings::from(const Options& options) {
  ClientSettings s;
  s.timeout = options.duration("timeout");
  s.connect_timeout = options.duration("connect_timeout");
  if (options.has("tls")) {
    const auto& tls = options.json("tls");
    if (!tls.is_object()) throw OptionError("tls", "tls takes ca, cert, key and verify");
    s.ca = tls.value("ca", "");
    s.cert = tls.value("cert", "");
    s.key = tls.value("key", "");
    s.verify = tls.value("verify", true);
  }
  if (options.has("auth")) {
    const auto& auth = options.json("auth");
    if (auth.is_object() && auth.contains("basic") && auth["basic"].is_object()) {
      s.basic = auth["basic"].value("user", "") + ":" + auth["basic"].value("password", "");
    } else if (auth.is_object() && auth.contains("bearer") && auth["bearer"].is_string()) {
      s.bearer = auth["bearer"].get<std::string>();
    } else {
      throw OptionError("auth", "auth takes basic: {user, password} or bearer: TOKEN");
    }
  }
  return s;
}

std::string headerLine(std::string_view name, std::string_view value) {
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    throw MessageError("the value of header " + std::string(name) + " holds a line break");
  }
  std::string line;
  line.reserve(name.size() + 2 + value.size());
  line.append(name).append(": ").append(value);
  return line;
}

Status statusFor(long http_status, const std::string& what) {
  if (http_status >= 200 && http_status < 400) return Status::ok();
  const std::string text = what + " answered " + std::to_string(http_status);
  if (http_status == 408 || http_status == 429 || http_status >= 500) return Status::transient(text);
  return Status::permanent(text);
}

Status transportStatus(const ClientRequest& request, const ClientResponse& response) {
  const std::string text = request.method + " " + redactUrl(request.url) + " failed: " +
                           (response.error.empty() ? curl_easy_strerror(response.result) : response.error);
  if (response.result == CURLE_OPERATION_TIMEDOUT) return Status::timeout(text);
  // A URL that cannot work is this message's fault; everything else (refused, reset, an
  // answer that is not HTTP, which libcurl also reports as an unsupported protocol) may pass.
  const auto scheme = request.url.substr(0, request.url.find(':'));
  const bool web_url = iequals(scheme, "http") || iequals(scheme, "https");
  if (response.result == CURLE_URL_MALFORMAT || !web_url) return Status::permanent(text);
  return Status::transient(text);
}

namespace {

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<ClientResponse*>(user)->body.append(data, size * count);
  return size * count;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* response = static_cast<ClientResponse*>(user);
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    response->headers = Headers();  // a redirect or 100 Continue: only the last response counts
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    response->headers.add(line.substr(0, colon), std::string(value));
  }
  return size * count;
}

}  // namespace

/// One request in flight: what libcurl reads from and writes into until it finished.
struct HttpClient::Exchange {
  ClientRequest request;
  ClientResponse response;
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = nullptr;
  ~Exchange() { curl_slist_free_all(headers); }

  void finish(CURL* handle, CURLcode result) {
    response.result = result;
    if (result != CURLE_OK) response.error = error[0] ? error : curl_easy_strerror(result);
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  }
};

HttpClient::~HttpClient() {
  std::unique_lock lock(liveness_->mutex);
  liveness_->alive = false;
}

void HttpClient::configure(CURL* handle, Exchange& exchange) const {
  const auto& request = exchange.request;
  const auto& s = settings_;
  for (const auto& header : request.headers) exchange.headers = curl_slist_append(exchange.headers, header.c_str());
  if (!s.bearer.empty()) {
    exchange.headers = curl_slist_append(exchange.headers, ("Authorization: Bearer " + s.bearer).c_str());
  }
  exchange.headers = curl_slist_append(exchange.headers, "Expect:");  // no 100-continue round trip

  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, exchange.error);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(s.timeout.count()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(s.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, s.follow_redirects ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, exchange.headers);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &exchange.response);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &exchange.response);
  if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  if (!s.ca.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, s.ca.c_str());
  if (!s.cert.empty()) curl_easy_setopt(handle, CURLOPT_SSLCERT, s.cert.c_str());
  if (!s.key.empty()) curl_easy_setopt(handle, CURLOPT_SSLKEY, s.key.c_str());
  if (!s.verify) {
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!s.basic.empty()) {
    curl_easy_setopt(handle, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(handle, CURLOPT_USERPWD, s.basic.c_str());
  }
}

ClientResponse HttpClient::perform(ClientRequest request) {
  initCurl();
  Exchange exchange;
  exchange.request = std::move(request);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);
  if (!handle) {
    exchange.response.result = CURLE_FAILED_INIT;
    exchange.response.error = "cannot create a libcurl handle";
    return std::move(exchange.response);
  }
  configure(handle.get(), exchange);
  exchange.finish(handle.get(), curl_easy_perform(handle.get()));
  return std::move(exchange.response);
}

void HttpClient::start(ClientRequest request, Done done) {
  auto exchange = std::make_shared<Exchange>();
  exchange->request = std::move(request);
  auto begin = [this, exchange, done = std::move(done), liveness = liveness_](EventLoop& loop) {
    std::shared_lock lock(liveness->mutex);
    if (!liveness->alive) return;
    auto& multi = CurlMulti::of(loop);
    CURL* handle = multi.acquire();
    if (!handle) {
      exchange->response.result = CURLE_FAILED_INIT;
      exchange->response.error = "cannot create a libcurl handle";
      return done(exchange->request, exchange->response);
    }
    configure(handle, *exchange);
    multi.start(handle, [exchange, done, liveness](CURL* handle, CURLcode result) {
      std::shared_lock lock(liveness->mutex);
      if (!liveness->alive) return;
      exchange->finish(handle, result);
      done(exchange->request, exchange->response);
    });
  };
  if (auto* loop = EventLoop::current()) {
    begin(*loop);
  } else {
    auto& chosen = EventLoop::any();
    chosen.post([begin = std::move(begin), &chosen] { begin(chosen); });
  }
}

}  // namespace switchboard::adapters::rest
