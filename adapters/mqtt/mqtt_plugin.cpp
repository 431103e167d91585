// Entry point of libswitchboard-mqtt.so: the `mqtt` inbound and outbound adapters.
#include "mqtt_inbound.hpp"
#include "mqtt_outbound.hpp"

namespace {
void registerMqtt(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::mqtt;
  registrar.addInbound(InboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<MqttInbound>(InboundOptions::from(options));
  });
  registrar.addOutbound(OutboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<MqttOutbound>(OutboundOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("mqtt", "0.1.0", registerMqtt)
