#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "broker_connection.hpp"

namespace switchboard::adapters::amqp {

struct InboundOptions {
  std::string route_id;  // for log lines
  BrokerSettings broker;
  std::string queue;
  bool declare = false;
  std::string exchange;
  std::string exchange_type;
  std::vector<std::string> bindings;
  int prefetch = 1;
  std::chrono::milliseconds requeue_delay{1000};

  static ComponentSpec spec();
  static InboundOptions from(const Options& options);
};

struct Settlements;

/// Consumes a queue with manual acknowledgements: a message is acked once the route finished
/// with it (delivered, filtered or dead-lettered) and nacked back onto the queue when it
/// failed. At most `prefetch` messages are unacknowledged at once. One thread owns the
/// connection; it reconnects with backoff, and whatever was unacknowledged when a
/// connection broke is redelivered by the broker.
class AmqpInbound final : public InboundAdapter {
 public:
  explicit AmqpInbound(InboundOptions options);
  ~AmqpInbound() override;

  void start(Intake& intake) override;
  void stop() override;
  std::string describe() const override;
  /// The route runs on the consuming thread when none of its endpoints blocks: no hand-over
  /// to a worker and back for each message.
  bool eventDriven() const override { return true; }

 private:
  void run(Intake& intake);
  /// Consumes on one connection until it breaks (throws BrokerError) or the adapter is done.
  void consume(Connection& connection, Intake& intake, std::uint64_t generation);
  /// Hands a message to the route; false when the route is closing (the message was returned).
  bool deliver(Connection& connection, Intake& intake, std::uint64_t generation, amqp_envelope_t& envelope);
  /// Waits up to `pause` unless told to finish; false when finishing.
  bool pause(std::chrono::milliseconds pause);

  InboundOptions options_;
  std::shared_ptr<Settlements> settlements_;
  std::thread thread_;
};

}  // namespace switchboard::adapters::amqp
