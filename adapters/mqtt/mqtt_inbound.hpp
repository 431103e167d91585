#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

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
///
/// Received messages wait in a queue of their own and a thread of the inbound hands them to
/// the route, waiting there when the route is full: the session's thread never waits, so it
/// keeps sending keep-alives and acknowledgements however slow the route is. QoS 1 messages
/// in that queue are bounded by the broker's in-flight limit (they are not acknowledged yet);
/// QoS 0 messages beyond kMaxWaitingAtMostOnce are dropped, as QoS 0 allows.
class MqttInbound final : public InboundAdapter {
 public:
  static constexpr std::size_t kMaxWaitingAtMostOnce = 1000;

  explicit MqttInbound(InboundOptions options);
  ~MqttInbound() override;

  void start(Intake& intake) override;
  void stop() override;
  std::string describe() const override;

 private:
  struct Received {
    PublishFields fields;
    std::uint64_t connection;
  };
  void received(PublishFields message, std::uint64_t connection);
  void handOver();  // the thread handing received messages to the route
  void deliver(Received received);

  InboundOptions options_;
  std::shared_ptr<Session> session_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Received> waiting_;
  Intake* intake_ = nullptr;
  bool accepting_ = false;
  bool delivering_ = false;  // the hand-over thread is in the route's deliver()
  bool quitting_ = false;
  bool held_ = false;  // a QoS 1 message was left unacknowledged while stopped: resent after a reconnect
  std::uint64_t connection_ = 0;
  std::uint64_t dropped_ = 0;  // QoS 0 messages dropped since the last warning
  std::thread hand_over_;
};

}  // namespace switchboard::adapters::mqtt
