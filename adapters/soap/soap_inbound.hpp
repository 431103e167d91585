#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "rest_inbound.hpp"
#include "soap_envelope.hpp"
#include "switchboard/http.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::soap {

struct InboundOptions {
  rest::ServerOptions server;
  std::optional<Version> version;  ///< none: both, as each request says
  std::string wsdl;                ///< the WSDL document, read at load time
  /// Operation (payload element name) or SOAPAction -> headers set on its messages.
  std::map<std::string, std::map<std::string, std::string>> operations;

  static ComponentSpec spec();
  static InboundOptions from(const Options& options);
};

/// The WSDL with every soap:address / soap12:address location set to `address`.
std::string wsdlFor(const std::string& wsdl, const std::string& address);

/// Serves a SOAP endpoint: each request's payload becomes a message; the caller gets the
/// reply in an envelope of its own version, or a Fault.
class SoapInbound final : public InboundAdapter {
 public:
  explicit SoapInbound(InboundOptions options) : options_(std::move(options)) {}
  void start(Intake& intake) override;
  void stop() override { registration_.reset(); }
  std::string describe() const override;
  bool eventDriven() const override { return true; }

 private:
  void handle(http::Request&& request, http::Respond respond);

  InboundOptions options_;
  Intake* intake_ = nullptr;
  std::unique_ptr<http::Registration> registration_;
};

}  // namespace switchboard::adapters::soap
