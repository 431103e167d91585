#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "broker_connection.hpp"

namespace switchboard::adapters::amqp {

struct OutboundOptions {
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
/// confirms): a message the endpoint reports as sent is in the broker. Each send uses a
/// connection of its own from a pool, so sends from several workers run side by side.
class AmqpOutbound final : public OutboundAdapter {
 public:
  explicit AmqpOutbound(OutboundOptions options) : options_(std::move(options)) {}

  Status send(Message& message) override;
  std::string describe() const override;

 private:
  /// A pooled connection in confirm mode, with the exchange declared.
  struct Publisher {
    std::unique_ptr<Connection> connection;
    std::uint64_t published = 0;  // the delivery tag of the last publish on this channel
  };

  using HeaderList = std::vector<std::pair<std::string, std::string>>;

  /// An idle publisher (`reused`) or a new one; throws BrokerError.
  std::unique_ptr<Publisher> acquire(bool& reused);
  void release(std::unique_ptr<Publisher> publisher);
  /// Publishes and waits for the confirm. The broker's refusals (unroutable, nack) are the
  /// returned status; a connection failure throws BrokerError, and the publisher is then unusable.
  Status publish(Publisher& publisher, const Message& message, const std::string& routing_key,
                 const HeaderList& headers);

  OutboundOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Publisher>> idle_;
};

}  // namespace switchboard::adapters::amqp
