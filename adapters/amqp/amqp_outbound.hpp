#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "broker_connection.hpp"

namespace switchboard::adapters::amqp {

struct OutboundOptions {
  std::string route_id;  // for log lines
  BrokerSettings broker;
  std::string exchange;  ///< empty: the default exchange
  std::string exchange_type;
  bool declare = false;
  Template routing_key;
  bool persistent = true;
  bool mandatory = false;
  std::vector<std::pair<std::string, Template>> headers;
  bool forward_headers = true;
  std::chrono::milliseconds timeout{10'000};

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// Publishes each message and succeeds only once the broker confirmed it (publisher
/// confirms): a message the endpoint reports as sent is in the broker. One connection per
/// endpoint, owned by a thread of its own, carries the messages of every worker at once:
/// publishes are pipelined, and each confirm completes the sends it covers.
class AmqpOutbound final : public OutboundAdapter {
 public:
  explicit AmqpOutbound(OutboundOptions options) : options_(std::move(options)) {}
  ~AmqpOutbound() override;

  Status send(Message& message) override;
  bool sendAsync(Message& message, Done done) override;
  bool blocks() const override { return false; }  // sendAsync only queues the message
  std::string describe() const override;

 private:
  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  struct Job {
    const Message* message;
    std::string routing_key;
    HeaderList headers;
    Done done;
  };
  struct InFlight {
    std::uint64_t tag;  // the publish's delivery tag on the channel
    std::string message_id;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };

  void run();
  void publish(Connection& connection, Job& job);
  /// Reads what the broker sent: confirms complete sends, returns mark them unroutable.
  void readConfirms(Connection& connection);
  void confirm(std::uint64_t tag, bool multiple, const Status& status);
  /// Ends every send in flight with `status` (the connection is gone or untrustworthy).
  void failInFlight(const Status& status);
  std::unique_ptr<Connection> connect();
  void wake() const;

  OutboundOptions options_;

  std::mutex mutex_;
  std::deque<Job> queued_;
  bool stopping_ = false;
  bool started_ = false;
  int wake_fd_ = -1;
  std::thread thread_;

  // The connection thread's own.
  std::deque<InFlight> in_flight_;
  std::map<std::string, std::string> returned_;  // message id -> why the broker sent it back
  std::uint64_t published_ = 0;
  std::optional<std::string> blocked_;  // the broker blocks publishers (connection.blocked): why
};

}  // namespace switchboard::adapters::amqp
