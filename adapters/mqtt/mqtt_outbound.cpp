#include "mqtt_outbound.hpp"

namespace switchboard::adapters::mqtt {

ComponentSpec OutboundOptions::spec() {
  auto options = BrokerSettings::specs();
  options.insert(
      options.begin() + 1,
      {{"topic", OptionType::Template, true, "", "topic to publish to, rendered per message"},
       {"payload", OptionType::Template, false, "", "payload, rendered per message (default: the body)"},
       {"qos", OptionType::Int, false, "1", "1: the send succeeds once the broker acknowledged it; 0: fire and forget"},
       {"retain", OptionType::Bool, false, "false", "the broker keeps the message for later subscribers"},
       {"timeout", OptionType::Duration, false, "10s", "wait for a connection and the broker's PUBACK"}});
  return ComponentSpec{"mqtt", "Publishes each message to an MQTT 3.1.1 topic.", std::move(options)};
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.route_id = options.scope().route_id;
  o.broker = BrokerSettings::from(options, "switchboard-" + o.route_id + "-" + newUuid().substr(0, 8));
  o.topic = options.templ("topic");
  if (o.topic.isConstant() && (o.topic.text().empty() || o.topic.text().find_first_of("+#") != std::string::npos)) {
    throw OptionError("topic", "a topic to publish to is not empty and has no + or # wildcard");
  }
  if (options.has("payload")) o.payload = options.templ("payload");
  const auto qos = options.integer("qos");
  if (qos != 0 && qos != 1) throw OptionError("qos", "qos must be 0 or 1");
  o.qos = static_cast<int>(qos);
  o.retain = options.boolean("retain");
  o.timeout = options.duration("timeout");
  if (o.timeout.count() <= 0) throw OptionError("timeout", "timeout must be longer than 0ms");
  return o;
}

std::string MqttOutbound::describe() const {
  return "mqtt " + options_.broker.redacted() + " topic " + options_.topic.text();
}

Status MqttOutbound::send(Message& message) {
  PublishFields published;
  try {
    published.topic = options_.topic.render(message);
    published.payload = options_.payload ? options_.payload->render(message) : message.body();
  } catch (const MessageError& e) {
    return Status::badInput(e.what());
  }
  if (published.topic.empty() || published.topic.size() > 0xffff ||
      published.topic.find_first_of("+#") != std::string::npos) {
    return Status::badInput("cannot publish to topic '" + published.topic.substr(0, 200) +
                            "': empty, longer than 65535 bytes, or with a wildcard");
  }
  published.qos = options_.qos;
  published.retain = options_.retain;
  std::call_once(started_, [this] {
    session_ = std::make_unique<Session>(options_.broker, std::vector<std::pair<std::string, int>>{}, nullptr,
                                         options_.route_id);
    session_->start();
  });
  return session_->publish(std::move(published), options_.timeout);
}

}  // namespace switchboard::adapters::mqtt
