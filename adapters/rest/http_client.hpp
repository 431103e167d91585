#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::rest {

/// How an outbound adapter talks HTTP: the options `rest` and `soap` share.
struct ClientSettings {
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  bool follow_redirects = true;
  // TLS
  std::string ca;
  std::string cert;
  std::string key;
  bool verify = true;
  // Authentication: "user:password" for basic, or a bearer token.
  std::string basic;
  std::string bearer;

  /// timeout, connect_timeout, tls and auth, as every HTTP outbound adapter names them.
  static std::vector<OptionSpec> specs();
  static ClientSettings from(const Options& options);
};

/// One HTTP request, as data.
struct ClientRequest {
  std::string url;
  std::string method = "POST";
  std::vector<std::string> headers;  ///< "Name: value"
  std::string body;                  ///< sent unless the method is GET or HEAD
};

/// "Name: value" for a request header. Throws MessageError when the value holds a line
/// break: a value taken from a message must not add headers of its own.
std::string headerLine(std::string_view name, std::string_view value);

/// What came back: a transport failure (result not CURLE_OK) or an HTTP answer.
struct ClientResponse {
  CURLcode result = CURLE_OK;
  std::string error;  ///< libcurl's text for a transport failure
  long status = 0;
  Headers headers;  ///< of the last response (after redirects), in order
  std::string body;
};

/// The status of a transport failure: a timeout, a URL that cannot work (permanent), or
/// anything else (refused, reset, not HTTP at all), which may pass (transient).
Status transportStatus(const ClientRequest& request, const ClientResponse& response);

/// How an HTTP status counts: 2xx and 3xx succeed; 408, 429 and 5xx are worth retrying;
/// other 4xx are permanent (the peer refused this message).
Status statusFor(long http_status, const std::string& what);

/// Sends requests with libcurl on the bus's event loops (see CurlMulti), reusing kept-alive
/// connections across messages and endpoints.
class HttpClient {
 public:
  using Done = std::function<void(const ClientRequest&, ClientResponse&)>;

  explicit HttpClient(ClientSettings settings) : settings_(std::move(settings)) {}
  /// Exchanges still running are dropped without a word: their route is gone.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Starts `request`; `done` runs once on an event loop thread: the calling one, when it is
  /// a loop (a route served over HTTP continues there), else any.
  void start(ClientRequest request, Done done);
  /// Sends `request` and waits for the answer, on the calling thread.
  ClientResponse perform(ClientRequest request);

  const ClientSettings& settings() const noexcept { return settings_; }

 private:
  struct Exchange;
  void configure(CURL* handle, Exchange& exchange) const;

  // Exchanges outlive their client when a reload gives up waiting for them: their
  // completions then find it gone and do nothing.
  struct Liveness {
    std::shared_mutex mutex;
    bool alive = true;
  };

  ClientSettings settings_;
  std::shared_ptr<Liveness> liveness_ = std::make_shared<Liveness>();
};

}  // namespace switchboard::adapters::rest
