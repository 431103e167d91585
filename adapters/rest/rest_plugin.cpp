// Entry point of libswitchboard-rest.so: the `rest` inbound (HTTP server) and outbound (client).
#include "rest_inbound.hpp"
#include "rest_outbound.hpp"

namespace {
void registerRest(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::rest;
  registrar.addInbound(restInboundSpec(), [](const switchboard::Options& options) {
    return std::make_unique<RestInbound>(restInboundOptions(options));
  });
  registrar.addOutbound(OutboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<RestOutbound>(OutboundOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("rest", "0.1.0", registerRest)
