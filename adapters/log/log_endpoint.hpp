#pragma once

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::log {

struct LogOptions {
  LogLevel level = LogLevel::Info;
  Template message;

  static ComponentSpec spec(const char* summary);
  static LogOptions from(const Options& options);
};

/// Writes one log line per message, with the route and message id. The same class serves as
/// the `log` outbound endpoint and the `log` step: logging never changes the message.
class LogEndpoint final : public OutboundAdapter, public Transform {
 public:
  LogEndpoint(LogOptions options, std::string route_id)
      : options_(std::move(options)), route_id_(std::move(route_id)) {}
  Status send(Message& message) override { return apply(message); }
  /// One write of one line: nothing to wait for, so a route served on an event loop keeps
  /// running there.
  bool blocks() const override { return false; }
  Status apply(Message& message) override;
  std::string describe() const override;

 private:
  LogOptions options_;
  std::string route_id_;
};

}  // namespace switchboard::adapters::log
