#pragma once

#include <amqp.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::amqp {

/// Where a broker is and how to log in, from the options every amqp endpoint shares.
struct BrokerSettings {
  std::string url;  ///< as written, for log lines (redacted)
  std::string host;
  int port = 5672;
  std::string user;
  std::string password;
  std::string vhost;
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify = true;
  std::chrono::seconds heartbeat{30};
  std::chrono::milliseconds connect_timeout{5000};

  std::string redacted() const { return redactUrl(url); }
  /// The options of the connection: url, heartbeat, connect_timeout, tls_*.
  static std::vector<OptionSpec> specs();
  static BrokerSettings from(const Options& options);
};

/// A failure talking to the broker: Permanent when the broker refused what was asked
/// (access refused, no such exchange or queue, a precondition), so retrying will not help;
/// Timeout when it did not answer in time; Transient otherwise.
class BrokerError : public std::runtime_error {
 public:
  explicit BrokerError(const std::string& message, Status::Code code = Status::Code::Transient)
      : std::runtime_error(message), code_(code) {}
  bool permanent() const noexcept { return code_ == Status::Code::Permanent; }
  Status::Code code() const noexcept { return code_; }

 private:
  Status::Code code_;
};

/// The one channel Switchboard opens on each connection.
constexpr amqp_channel_t kChannel = 1;

/// An open, logged-in connection with channel 1 open. librabbitmq connections are not
/// thread-safe: one thread uses a Connection at a time.
class Connection {
 public:
  /// Connects, logs in and opens the channel; throws BrokerError.
  explicit Connection(const BrokerSettings& settings);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  amqp_connection_state_t state() const noexcept { return state_; }
  int socket() const noexcept { return amqp_get_sockfd(state_); }
  /// Throws BrokerError unless `reply` is normal; `what` says what was asked.
  void check(const amqp_rpc_reply_t& reply, std::string_view what);
  /// Checks the reply of the last synchronous call.
  void check(std::string_view what) { check(amqp_get_rpc_reply(state_), what); }
  /// Throws BrokerError for a librabbitmq status code other than AMQP_STATUS_OK.
  void checkStatus(int status, std::string_view what);

  void declareExchange(const std::string& name, const std::string& type);
  void declareQueue(const std::string& name);
  void bindQueue(const std::string& queue, const std::string& exchange, const std::string& key);

 private:
  amqp_connection_state_t state_;
  bool open_ = false;  // logged in: close politely
};

/// Text for a reply that is not normal: the library's error or the broker's close reason.
std::string describeReply(const amqp_rpc_reply_t& reply, bool* permanent = nullptr);

/// A field value of an AMQP header table as text; false for tables, arrays and void.
bool fieldText(const amqp_field_value_t& value, std::string& text);

inline std::string_view view(amqp_bytes_t bytes) {
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}
inline amqp_bytes_t bytes(std::string_view text) {
  return {text.size(), const_cast<char*>(text.data())};
}

}  // namespace switchboard::adapters::amqp
