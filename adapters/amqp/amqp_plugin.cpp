// Entry point of libswitchboard-amqp.so: the `amqp` inbound and outbound adapters.
#include "amqp_inbound.hpp"
#include "amqp_outbound.hpp"

namespace {
void registerAmqp(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::amqp;
  registrar.addInbound(InboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<AmqpInbound>(InboundOptions::from(options));
  });
  registrar.addOutbound(OutboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<AmqpOutbound>(OutboundOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("amqp", "0.1.0", registerAmqp)
