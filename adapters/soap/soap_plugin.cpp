// Entry point of libswitchboard-soap.so: the `soap` inbound (service) and outbound (client).
#include "soap_inbound.hpp"
#include "soap_outbound.hpp"

namespace {
void registerSoap(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::soap;
  registrar.addInbound(InboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<SoapInbound>(InboundOptions::from(options));
  });
  registrar.addOutbound(OutboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<SoapOutbound>(OutboundOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("soap", "0.1.0", registerSoap)
