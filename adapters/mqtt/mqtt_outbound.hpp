#pragma once

#include <memory>
#include <mutex>

#include "mqtt_session.hpp"

namespace switchboard::adapters::mqtt {

struct OutboundOptions {
  std::string route_id;  // for log lines
  BrokerSettings broker;
  Template topic;
  std::optional<Template> payload;  ///< absent: the message body
  int qos = 1;
  bool retain = false;
  std::chrono::milliseconds timeout{10'000};

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// Publishes each message; with QoS 1 it succeeds once the broker acknowledged it (PUBACK).
/// One connection per endpoint carries the sends of every worker at once; it is made at the
/// first send.
class MqttOutbound final : public OutboundAdapter {
 public:
  explicit MqttOutbound(OutboundOptions options) : options_(std::move(options)) {}

  Status send(Message& message) override;
  std::string describe() const override;

 private:
  OutboundOptions options_;
  std::once_flag started_;
  std::unique_ptr<Session> session_;
};

}  // namespace switchboard::adapters::mqtt
