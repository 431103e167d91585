#pragma once

#include <optional>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "soap_envelope.hpp"
#include "switchboard/log.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::soap {

struct OutboundOptions {
  Template url;
  std::optional<Template> action;
  Version version = Version::V11;
  std::vector<Template> header_blocks;  ///< each renders to one XML element
  std::string ws_username;              ///< WS-Security UsernameToken, when set
  std::string ws_password;
  rest::ClientSettings client;

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// The HTTP request a message becomes: its payload in an envelope (or the envelope it is).
rest::ClientRequest formatRequest(const OutboundOptions& options, const Message& message);

/// Calls a SOAP service per message; the response's payload becomes the message, a Fault an
/// endpoint error (Server/Receiver faults are retried, Client/Sender ones are not).
class SoapOutbound final : public OutboundAdapter {
 public:
  explicit SoapOutbound(OutboundOptions options) : options_(std::move(options)), client_(options_.client) {}
  Status send(Message& message) override;
  bool sendAsync(Message& message, Done done) override;
  bool blocks() const override { return false; }
  std::string describe() const override { return "soap " + redactUrl(options_.url.text()); }

 private:
  Status complete(const rest::ClientRequest& request, rest::ClientResponse& response, Message& message) const;

  OutboundOptions options_;
  rest::HttpClient client_;
};

}  // namespace switchboard::adapters::soap
