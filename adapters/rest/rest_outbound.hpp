#pragma once

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::rest {

struct OutboundOptions {
  Template url;
  std::string method = "POST";
  std::vector<std::pair<std::string, Template>> headers;
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds connect_timeout{5'000};
  bool follow_redirects = true;
  bool forward_headers = true;
  // TLS
  std::string ca;
  std::string cert;
  std::string key;
  bool verify = true;
  // Authentication: "user:password" for basic, or a bearer token.
  std::string basic;
  std::string bearer;

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// The HTTP request a message becomes, as data: what `send` hands to libcurl.
struct OutgoingRequest {
  std::string url;
  std::string method;
  std::vector<std::string> headers;  ///< "Name: value"
  const std::string* body = nullptr;
};
OutgoingRequest formatRequest(const OutboundOptions& options, const Message& message);

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string percentEncode(std::string_view value);

/// How an HTTP status counts: 2xx and 3xx succeed; 408, 429 and 5xx are worth retrying;
/// other 4xx are permanent (the peer refused this message).
Status statusFor(long http_status, const std::string& what);

/// Sends each message as an HTTP request with libcurl, on the bus's event loops (see
/// CurlMulti): kept-alive connections are reused across messages and endpoints.
class RestOutbound final : public OutboundAdapter {
 public:
  explicit RestOutbound(OutboundOptions options) : options_(std::move(options)) {}
  ~RestOutbound() override;
  Status send(Message& message) override;
  bool sendAsync(Message& message, Done done) override;
  bool blocks() const override { return false; }
  std::string describe() const override;

 private:
  struct Transfer;
  void configure(CURL* handle, Transfer& transfer) const;
  Status complete(Transfer& transfer, CURL* handle, CURLcode code, Message& message) const;

  // Transfers outlive their endpoint when a reload gives up waiting for them: their
  // completions then find it gone and do nothing.
  struct Liveness {
    std::shared_mutex mutex;
    bool alive = true;
  };

  OutboundOptions options_;
  std::shared_ptr<Liveness> liveness_ = std::make_shared<Liveness>();
};

}  // namespace switchboard::adapters::rest
