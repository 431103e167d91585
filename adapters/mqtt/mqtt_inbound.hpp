#pragma once

#include <memory>
#include <mutex>

#include "mqtt_session.hpp"

namespace switchboard::adapters::mqtt {

struct InboundOptions {
  std::string route_id;  // for log lines
  BrokerSettings broker;
  std::vector<std::string> topics;
  int qos = 1;

  static ComponentSpec spec();
  static InboundOptions from(const Options& options);
};

/// Subscribes to topic filters. A QoS 1 message is acknowledged to the broker only once the
/// route finished with it; when it failed, the connection is made again so that the broker
/// (clean_session: false) sends it again.
class MqttInbound final : public InboundAdapter {
 public:
  explicit MqttInbound(InboundOptions options) : options_(std::move(options)) {}
  ~MqttInbound() override;

  void start(Intake& intake) override;
  void stop() override;
  std::string describe() const override;

 private:
  void received(PublishFields message, std::uint64_t connection);

  InboundOptions options_;
  std::shared_ptr<Session> session_;
  std::mutex mutex_;  // held while a message is handed to the route
  Intake* intake_ = nullptr;
  bool accepting_ = false;
  bool held_ = false;  // a message arrived while stopped: unacknowledged, resent after a reconnect
  std::uint64_t connection_ = 0;
};

}  // namespace switchboard::adapters::mqtt
