#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mqtt_codec.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::mqtt {

/// Where a broker is and how to log in, from the options every mqtt endpoint shares.
struct BrokerSettings {
  std::string url;  ///< as written, for log lines (redacted)
  std::string host;
  std::string port;
  bool tls = false;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::string client_id;
  bool clean_session = true;
  std::chrono::seconds keepalive{30};
  std::chrono::milliseconds connect_timeout{5000};
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify = true;

  std::string redacted() const { return redactUrl(url); }
  /// url, username, password, client_id, keepalive, connect_timeout, tls_*.
  static std::vector<OptionSpec> specs();
  /// `default_client_id` serves when the options name none.
  static BrokerSettings from(const Options& options, std::string default_client_id);
};

class Transport;

/// One MQTT 3.1.1 client connection kept up by a thread of its own: it connects, subscribes,
/// sends keep-alives, and reconnects with backoff after any failure. Publishing and
/// acknowledging are thread-safe; everything received is handed to `on_message` on the
/// session's thread.
///
/// QoS 1 messages received are acknowledged only when `acknowledge` is called, which is what
/// lets a route finish with a message before the broker forgets it. With clean_session off,
/// the broker sends whatever was not acknowledged again after a reconnect.
class Session {
 public:
  /// A received message and the connection it came on (acknowledge on that one only).
  using OnMessage = std::function<void(PublishFields message, std::uint64_t connection)>;

  Session(BrokerSettings settings, std::vector<std::pair<std::string, int>> subscriptions, OnMessage on_message,
          std::string route_id);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  /// Disconnects politely and ends the thread.
  void stop();
  /// Waits until the first connection was made or failed; its error, if it failed.
  std::optional<std::string> firstAttempt(std::chrono::milliseconds timeout);

  /// Sends a message; with QoS 1 waits for the broker's PUBACK. Waits up to `timeout` for a
  /// connection when there is none.
  Status publish(PublishFields message, std::chrono::milliseconds timeout);
  /// Sends the PUBACK of a QoS 1 message received on `connection`, if that one is still up.
  void acknowledge(std::uint64_t connection, std::uint16_t packet_id);
  /// Closes `connection` (if it is still the current one) and connects again: the broker then
  /// resends what was not acknowledged.
  void reconnect(std::uint64_t connection, std::string why);

 private:
  struct Awaited {
    bool done = false;
    Status status = Status::ok();
  };

  void run();
  /// Serves one connection until it fails (throws) or the session stops.
  void serve(Transport& transport, std::uint64_t connection);
  /// CONNECT and SUBSCRIBE; returns what the broker sent before it acknowledged both.
  std::vector<Packet> handshake(Transport& transport);
  /// Ends every wait of the connection that was lost.
  void lost(const std::string& why);
  void queue(std::string packet);

  const BrokerSettings settings_;
  const std::vector<std::pair<std::string, int>> subscriptions_;
  const OnMessage on_message_;
  const std::string route_id_;
  const int wake_fd_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> outgoing_;
  std::map<std::uint16_t, Awaited*> awaited_;  // QoS 1 publishes waiting for their PUBACK
  std::uint16_t last_packet_id_ = 0;
  std::uint64_t connection_ = 0;  // counts connections; the current one while connected_
  bool connected_ = false;
  bool attempted_ = false;
  bool stopping_ = false;
  std::uint64_t drop_ = 0;  // a connection to close
  std::string drop_reason_;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace switchboard::adapters::mqtt
