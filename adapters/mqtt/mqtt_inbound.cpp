#include "mqtt_inbound.hpp"

namespace switchboard::adapters::mqtt {

ComponentSpec InboundOptions::spec() {
  auto options = BrokerSettings::specs();
  options.insert(options.begin() + 1,
                 {{"topics", OptionType::StringList, true, "", "topic filters to subscribe to (+ and # wildcards)"},
                  {"qos", OptionType::Int, false, "1",
                   "1: each message acknowledged after the route finished with it; 0: at most once"},
                  {"clean_session", OptionType::Bool, false, "false",
                   "start without the broker's session; false keeps subscriptions and unacknowledged messages "
                   "across reconnects and restarts"}});
  return ComponentSpec{"mqtt",
                       "Subscribes to MQTT 3.1.1 topics; a QoS 1 message is acknowledged once the route finished "
                       "with it.",
                       std::move(options)};
}

InboundOptions InboundOptions::from(const Options& options) {
  InboundOptions o;
  o.route_id = options.scope().route_id;
  // A stable id: the broker keeps the session (and what it has not delivered) under it.
  o.broker = BrokerSettings::from(options, "switchboard-" + o.route_id);
  o.broker.clean_session = options.boolean("clean_session");
  o.topics = options.list("topics");
  if (o.topics.empty()) throw OptionError("topics", "give at least one topic filter");
  for (const auto& topic : o.topics) {
    if (topic.empty()) throw OptionError("topics", "a topic filter must not be empty");
  }
  const auto qos = options.integer("qos");
  if (qos != 0 && qos != 1) throw OptionError("qos", "qos must be 0 or 1");
  o.qos = static_cast<int>(qos);
  return o;
}

MqttInbound::MqttInbound(InboundOptions options) : options_(std::move(options)), hand_over_([this] { handOver(); }) {}

MqttInbound::~MqttInbound() {
  if (session_) session_->stop();
  {
    std::lock_guard lock(mutex_);
    quitting_ = true;
  }
  changed_.notify_all();
  hand_over_.join();
}

std::string MqttInbound::describe() const {
  std::string topics;
  for (const auto& topic : options_.topics) topics += (topics.empty() ? "" : ",") + topic;
  return "mqtt " + options_.broker.redacted() + " topics " + topics;
}

void MqttInbound::start(Intake& intake) {
  std::uint64_t resend = 0;
  {
    std::lock_guard lock(mutex_);
    intake_ = &intake;
    accepting_ = true;
    if (held_) resend = connection_;
    held_ = false;
  }
  if (session_) {  // a restart: the session stayed up to acknowledge messages in flight
    if (resend) session_->reconnect(resend, "the route started again");
    return;
  }
  std::vector<std::pair<std::string, int>> subscriptions;
  for (const auto& topic : options_.topics) subscriptions.emplace_back(topic, options_.qos);
  session_ = std::make_shared<Session>(
      options_.broker, std::move(subscriptions),
      [this](PublishFields message, std::uint64_t connection) { received(std::move(message), connection); },
      options_.route_id);
  session_->start();
  // A broker that refuses the login or the subscription is a start-up error; an unreachable
  // one is waited for by the session.
  if (auto error = session_->firstAttempt(options_.broker.connect_timeout + std::chrono::seconds(1));
      error && error->rfind("broker refused", 0) == 0) {
    session_->stop();
    session_.reset();
    throw std::runtime_error("mqtt inbound " + options_.broker.redacted() + ": " + *error);
  } else if (error) {
    log(LogLevel::Warn, "mqtt broker unavailable, the subscription will wait for it: " + *error,
        {{"route", options_.route_id}, {"url", options_.broker.redacted()}});
  }
}

void MqttInbound::stop() {
  std::unique_lock lock(mutex_);
  accepting_ = false;
  // No deliver() call after stop() returns: wait for one in progress (the route's intake is
  // closed by now, so it returns at once), and leave what waits unacknowledged.
  changed_.wait(lock, [this] { return !delivering_; });
  for (const auto& waiting : waiting_) held_ = held_ || waiting.fields.qos > 0;
  waiting_.clear();
}

void MqttInbound::received(PublishFields published, std::uint64_t connection) {
  {
    std::lock_guard lock(mutex_);
    connection_ = connection;
    if (!accepting_) {
      held_ = held_ || published.qos > 0;
      return;
    }
    if (published.qos == 0 && waiting_.size() >= kMaxWaitingAtMostOnce) {
      if (dropped_++ % kMaxWaitingAtMostOnce == 0) {
        log(LogLevel::Warn,
            "the route is not keeping up: QoS 0 messages dropped (" + std::to_string(dropped_) + " so far)",
            {{"route", options_.route_id}, {"url", options_.broker.redacted()}});
      }
      return;
    }
    waiting_.push_back(Received{std::move(published), connection});
  }
  changed_.notify_all();
}

void MqttInbound::handOver() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return quitting_ || (accepting_ && !waiting_.empty()); });
    if (quitting_) return;
    Received next = std::move(waiting_.front());
    waiting_.pop_front();
    delivering_ = true;
    lock.unlock();
    deliver(std::move(next));
    lock.lock();
    delivering_ = false;
    changed_.notify_all();
  }
}

void MqttInbound::deliver(Received received) {
  auto& published = received.fields;
  Message message = intake_->newMessage();
  auto& headers = message.headers();
  headers.set("mqtt.topic", published.topic);
  headers.set("mqtt.qos", std::to_string(published.qos));
  headers.set("mqtt.retain", published.retain ? "true" : "false");
  headers.set("mqtt.duplicate", published.duplicate ? "true" : "false");
  message.setBody(std::move(published.payload), "application/octet-stream");
  const bool acknowledged = published.qos > 0;
  const auto packet_id = published.packet_id;
  const auto connection = received.connection;
  std::weak_ptr<Session> session = session_;
  if (!intake_->deliver(std::move(message), [session, connection, packet_id, acknowledged](Outcome outcome) {
        auto live = session.lock();
        if (!live || !acknowledged) return;
        if (outcome.acknowledge()) {
          live->acknowledge(connection, packet_id);
        } else {
          live->reconnect(connection,
                          "a message failed, so that the broker sends it again: " + outcome.status.message());
        }
      })) {
    std::lock_guard lock(mutex_);
    held_ = held_ || acknowledged;  // the route is closing
  }
}

}  // namespace switchboard::adapters::mqtt
