#pragma once

#include <string>
#include <vector>

#include "http_client.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::rest {

struct OutboundOptions {
  Template url;
  std::string method = "POST";
  std::vector<std::pair<std::string, Template>> headers;
  bool forward_headers = true;
  ClientSettings client;

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// The HTTP request a message becomes, as data: what `send` hands to libcurl.
ClientRequest formatRequest(const OutboundOptions& options, const Message& message);

/// Percent-encodes everything but RFC 3986 unreserved characters.
std::string percentEncode(std::string_view value);

/// Sends each message as an HTTP request; the response becomes the message.
class RestOutbound final : public OutboundAdapter {
 public:
  explicit RestOutbound(OutboundOptions options) : options_(std::move(options)), client_(options_.client) {}
  Status send(Message& message) override;
  bool sendAsync(Message& message, Done done) override;
  bool blocks() const override { return false; }
  std::string describe() const override;

 private:
  Status complete(const ClientRequest& request, ClientResponse& response, Message& message) const;

  OutboundOptions options_;
  HttpClient client_;
};

}  // namespace switchboard::adapters::rest
