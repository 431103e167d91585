#include "amqp_inbound.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>

#include "switchboard/log.hpp"

namespace switchboard::adapters::amqp {

namespace {
constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{5'000};
constexpr std::chrono::seconds kStableConnection{5};  // a connection that held this long resets the backoff
constexpr std::chrono::seconds kRestartWait{10};
// How often an idle consumer calls into librabbitmq, which sends heartbeats from its calls.
constexpr int kIdleWakeMs = 1000;
}  // namespace

/// What the consuming thread, the route's completions and stop() share. Completions may
/// arrive after the adapter is gone, so they hold this, not the adapter.
struct Settlements {
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::uint64_t generation;  // the connection the message came on: a tag means nothing on another
    std::uint64_t tag;
    bool ack;
    Clock::time_point due;  // when to send it: a nack waits out the requeue delay
  };

  explicit Settlements(std::chrono::milliseconds requeue_delay)
      : requeue_delay(requeue_delay), wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (wake_fd < 0) throw std::runtime_error("amqp inbound: cannot make an eventfd");
  }
  ~Settlements() { ::close(wake_fd); }

  void settle(std::uint64_t generation, std::uint64_t tag, bool ack) {
    {
      std::lock_guard lock(mutex);
      pending.push_back({generation, tag, ack, ack ? Clock::time_point() : Clock::now() + requeue_delay});
      --outstanding;
    }
    wake();
    changed.notify_all();
  }
  void wake() const {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_fd, &one, sizeof one);
  }
  void drainWake() const {
    std::uint64_t count;
    [[maybe_unused]] auto read = ::read(wake_fd, &count, sizeof count);
  }
  /// The adapter goes away: the thread closes the connection and ends, whatever it waits for.
  void finish() {
    {
      std::lock_guard lock(mutex);
      finishing = true;
    }
    wake();
    changed.notify_all();
  }
  /// The thread no longer hands messages to the route.
  void stopDelivering() {
    {
      std::lock_guard lock(mutex);
      delivering = false;
    }
    changed.notify_all();
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Entry> pending;
  std::size_t outstanding = 0;  // handed to the route, not settled yet
  bool stopping = false;        // stop(): hand nothing more to the route
  bool finishing = false;       // the adapter goes away: close the connection now
  bool delivering = true;       // the thread may still call the intake
  const std::chrono::milliseconds requeue_delay;
  const int wake_fd;
};

ComponentSpec InboundOptions::spec() {
  auto options = BrokerSettings::specs();
  options.insert(options.begin() + 1,
                 {{"queue", OptionType::String, true, "", "queue to consume"},
                  {"declare", OptionType::Bool, false, "false",
                   "declare the queue (durable) before consuming; with `exchange`, declare that too and bind the "
                   "queue to it with each of `bindings`"},
                  {"exchange", OptionType::String, false, "", "exchange to bind the queue to (with declare: true)"},
                  {"exchange_type",
                   OptionType::Enum,
                   false,
                   "direct",
                   "type of the declared exchange",
                   {"direct", "fanout", "topic", "headers"}},
                  {"bindings", OptionType::StringList, false, "", "binding keys (default: the queue's name)"},
                  {"prefetch", OptionType::Int, false, "0",
                   "most unacknowledged messages at once; 0 means the route's concurrency"},
                  {"requeue_delay", OptionType::Duration, false, "1s",
                   "pause before a failed message goes back to the queue, so a failing peer is not "
                   "called in a tight loop"}});
  return ComponentSpec{"amqp",
                       "Consumes an AMQP 0-9-1 queue (RabbitMQ); a message is acknowledged once the route "
                       "finished with it, and returned to the queue when it failed.",
                       std::move(options)};
}

InboundOptions InboundOptions::from(const Options& options) {
  InboundOptions o;
  o.route_id = options.scope().route_id;
  o.broker = BrokerSettings::from(options);
  o.queue = options.string("queue");
  if (o.queue.empty()) throw OptionError("queue", "queue must not be empty");
  o.declare = options.boolean("declare");
  if (options.has("exchange")) o.exchange = options.string("exchange");
  o.exchange_type = options.string("exchange_type");
  if (options.has("bindings")) o.bindings = options.list("bindings");
  if (o.bindings.empty()) o.bindings.push_back(o.queue);
  if (!o.exchange.empty() && !o.declare) {
    throw OptionError("exchange", "exchange binds the queue only with declare: true");
  }
  const auto prefetch = options.integer("prefetch");
  if (prefetch < 0 || prefetch > 65535) throw OptionError("prefetch", "prefetch must be between 0 and 65535");
  o.prefetch = prefetch > 0 ? static_cast<int>(prefetch) : std::clamp(options.scope().concurrency, 1, 65535);
  o.requeue_delay = options.duration("requeue_delay");
  if (o.requeue_delay.count() < 0) throw OptionError("requeue_delay", "requeue_delay must not be negative");
  return o;
}

AmqpInbound::AmqpInbound(InboundOptions options) : options_(std::move(options)) {}

AmqpInbound::~AmqpInbound() {
  stop();
  if (settlements_) {
    settlements_->finish();
  }
  if (thread_.joinable()) thread_.join();
}

std::string AmqpInbound::describe() const {
  return "amqp " + options_.broker.redacted() + " queue " + options_.queue;
}

void AmqpInbound::start(Intake& intake) {
  if (thread_.joinable()) {  // a restart: the previous run may still be acknowledging
    {
      // Closing its connection would hand its messages still in the route to the new consumer
      // at once, to run a second time beside the first.
      std::unique_lock lock(settlements_->mutex);
      settlements_->changed.wait_for(lock, kRestartWait, [&] { return settlements_->outstanding == 0; });
    }
    settlements_->finish();
    thread_.join();
  }
  // A reachable broker that refuses the queue or the login is a start-up error; an
  // unreachable one is waited for by the consumer.
  try {
    Connection probe(options_.broker);
    if (options_.declare) {
      probe.declareQueue(options_.queue);
    } else {
      amqp_queue_declare(probe.state(), kChannel, bytes(options_.queue), /*passive=*/1, 0, 0, 0, amqp_empty_table);
      probe.check("find queue '" + options_.queue + "' (declare: true makes it)");
    }
  } catch (const BrokerError& e) {
    if (e.permanent()) throw std::runtime_error("amqp inbound " + options_.broker.redacted() + ": " + e.what());
    log(LogLevel::Warn, std::string("broker unavailable, consuming will wait for it: ") + e.what(),
        {{"route", options_.route_id}, {"url", options_.broker.redacted()}});
  }
  settlements_ = std::make_shared<Settlements>(options_.requeue_delay);
  thread_ = std::thread([this, &intake] { run(intake); });
}

void AmqpInbound::stop() {
  if (!settlements_) return;
  auto& s = *settlements_;
  std::unique_lock lock(s.mutex);
  s.stopping = true;
  s.wake();                // a consumer waiting on the broker's socket
  s.changed.notify_all();  // a consumer waiting out its reconnect backoff
  s.changed.wait(lock, [&] { return !s.delivering; });
}

bool AmqpInbound::pause(std::chrono::milliseconds pause) {
  auto& s = *settlements_;
  std::unique_lock lock(s.mutex);
  return !s.changed.wait_for(lock, pause, [&] { return s.stopping || s.finishing; });
}

void AmqpInbound::run(Intake& intake) {
  auto backoff = kFirstBackoff;
  std::uint64_t generation = 0;
  bool unavailable = false;
  const LogField route{"route", options_.route_id};
  const auto url = options_.broker.redacted();
  for (;;) {
    {
      std::lock_guard lock(settlements_->mutex);
      // Unsettled messages of a lost connection are redelivered anyway: nothing to wait for.
      if (settlements_->stopping || settlements_->finishing) break;
    }
    std::optional<std::chrono::steady_clock::time_point> connected_at;
    try {
      Connection connection(options_.broker);
      connected_at = std::chrono::steady_clock::now();
      ++generation;
      if (unavailable) log(LogLevel::Info, "broker available again", {route, {"url", url}});
      unavailable = false;
      consume(connection, intake, generation);
      break;
    } catch (const BrokerError& e) {
      // A connection that held is a fresh start; one that fails at once (the queue deleted,
      // access to it refused) keeps backing off.
      if (connected_at && std::chrono::steady_clock::now() - *connected_at >= kStableConnection) {
        backoff = kFirstBackoff;
      }
      if (!unavailable) {
        log(LogLevel::Warn, std::string("amqp consumer lost the broker, reconnecting with backoff: ") + e.what(),
            {route, {"url", url}});
        unavailable = true;
      }
      if (!pause(backoff)) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }
  settlements_->stopDelivering();
}

void AmqpInbound::consume(Connection& connection, Intake& intake, std::uint64_t generation) {
  auto* state = connection.state();
  auto& s = *settlements_;
  if (options_.declare) {
    connection.declareQueue(options_.queue);
    if (!options_.exchange.empty()) {
      connection.declareExchange(options_.exchange, options_.exchange_type);
      for (const auto& key : options_.bindings) connection.bindQueue(options_.queue, options_.exchange, key);
    }
  }
  amqp_basic_qos(state, kChannel, 0, static_cast<std::uint16_t>(options_.prefetch), 0);
  connection.check("set prefetch");
  const auto* consumer = amqp_basic_consume(state, kChannel, bytes(options_.queue), amqp_empty_bytes, /*no_local=*/0,
                                            /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  connection.check("consume queue '" + options_.queue + "'");
  const std::string consumer_tag(view(consumer->consumer_tag));
  bool consuming = true;
  std::set<std::uint64_t> unsettled;  // delivery tags handed to the route and not yet acked or nacked

  for (;;) {
    std::vector<Settlements::Entry> settled;
    bool stopping, finishing, idle;
    auto wake_in = std::chrono::milliseconds(kIdleWakeMs);
    {
      std::lock_guard lock(s.mutex);
      stopping = s.stopping;
      finishing = s.finishing;
      // Nacks wait out the requeue delay, unless the route is stopping anyway.
      const auto now = Settlements::Clock::now();
      auto later = std::partition(s.pending.begin(), s.pending.end(),
                                  [&](const auto& entry) { return stopping || entry.due <= now; });
      settled.assign(s.pending.begin(), later);
      for (auto it = later; it != s.pending.end(); ++it) {
        wake_in = std::min(wake_in, std::chrono::ceil<std::chrono::milliseconds>(it->due - now));
      }
      s.pending.erase(s.pending.begin(), later);
      idle = s.outstanding == 0 && s.pending.empty();
    }
    std::vector<std::uint64_t> acks;
    for (const auto& entry : settled) {
      if (entry.generation != generation) continue;
      if (entry.ack) {
        acks.push_back(entry.tag);
      } else {
        connection.checkStatus(amqp_basic_nack(state, kChannel, entry.tag, 0, /*requeue=*/1), "return a message");
        unsettled.erase(entry.tag);
      }
    }
    for (const auto tag : acks) unsettled.erase(tag);
    // Everything below the oldest message still open is finished: one multiple-ack covers it.
    std::sort(acks.begin(), acks.end());
    const auto covered =
        std::lower_bound(acks.begin(), acks.end(), unsettled.empty() ? UINT64_MAX : *unsettled.begin());
    if (covered - acks.begin() > 1) {
      connection.checkStatus(amqp_basic_ack(state, kChannel, *(covered - 1), /*multiple=*/1), "acknowledge");
    } else if (covered != acks.begin()) {
      connection.checkStatus(amqp_basic_ack(state, kChannel, acks.front(), 0), "acknowledge");
    }
    for (auto it = covered; it != acks.end(); ++it) {
      connection.checkStatus(amqp_basic_ack(state, kChannel, *it, 0), "acknowledge");
    }
    if (finishing) return;
    if (stopping && consuming) {
      amqp_basic_cancel(state, kChannel, bytes(consumer_tag));
      connection.check("cancel the consumer");
      consuming = false;
      s.stopDelivering();
    }
    if (stopping && idle) return;

    if (!amqp_frames_enqueued(state) && !amqp_data_in_buffer(state)) {
      pollfd watched[2] = {{connection.socket(), POLLIN, 0}, {s.wake_fd, POLLIN, 0}};
      const int ready = ::poll(watched, 2, static_cast<int>(wake_in.count()));
      if (watched[1].revents) s.drainWake();
      if (ready > 0 && !watched[0].revents) continue;  // only settlements to send
    }
    amqp_maybe_release_buffers(state);
    amqp_envelope_t envelope;
    timeval now{0, 0};
    const auto reply = amqp_consume_message(state, &envelope, &now, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      if (consuming) {
        if (deliver(connection, intake, generation, envelope)) unsettled.insert(envelope.delivery_tag);
      } else {  // arrived while the consumer was being cancelled
        connection.checkStatus(amqp_basic_nack(state, kChannel, envelope.delivery_tag, 0, 1), "return a message");
      }
      amqp_destroy_envelope(&envelope);
      continue;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) continue;
    if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION || reply.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
      connection.check(reply, "consume");
    }
    // Something other than a delivery: read it, and give up the connection when it ends ours.
    amqp_frame_t frame;
    connection.checkStatus(amqp_simple_wait_frame(state, &frame), "read from the broker");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_CANCEL_METHOD:
        throw BrokerError("the broker cancelled the consumer (queue '" + options_.queue + "' deleted?)");
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_rpc_reply_t closed{};
        closed.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
        closed.reply = frame.payload.method;
        connection.check(closed, "consume");
        break;
      }
      default: break;
    }
  }
}

bool AmqpInbound::deliver(Connection& connection, Intake& intake, std::uint64_t generation, amqp_envelope_t& envelope) {
  Message message = intake.newMessage();
  auto& headers = message.headers();
  const auto& properties = envelope.message.properties;
  // The publisher's headers first, so that the amqp.* ones below are the broker's facts.
  if (properties._flags & AMQP_BASIC_HEADERS_FLAG) {
    std::string text;
    for (int i = 0; i < properties.headers.num_entries; ++i) {
      const auto& entry = properties.headers.entries[i];
      if (fieldText(entry.value, text)) headers.set(view(entry.key), text);
    }
  }
  headers.set("amqp.exchange", std::string(view(envelope.exchange)));
  headers.set("amqp.routing_key", std::string(view(envelope.routing_key)));
  headers.set("amqp.redelivered", envelope.redelivered ? "true" : "false");
  headers.set("amqp.delivery_tag", std::to_string(envelope.delivery_tag));
  const std::pair<amqp_flags_t, std::pair<const char*, const amqp_bytes_t*>> texts[] = {
      {AMQP_BASIC_MESSAGE_ID_FLAG, {"amqp.message_id", &properties.message_id}},
      {AMQP_BASIC_CORRELATION_ID_FLAG, {"amqp.correlation_id", &properties.correlation_id}},
      {AMQP_BASIC_REPLY_TO_FLAG, {"amqp.reply_to", &properties.reply_to}},
      {AMQP_BASIC_TYPE_FLAG, {"amqp.type", &properties.type}},
      {AMQP_BASIC_APP_ID_FLAG, {"amqp.app_id", &properties.app_id}},
  };
  for (const auto& [flag, header] : texts) {
    if (properties._flags & flag) headers.set(header.first, std::string(view(*header.second)));
  }
  std::string content_type = (properties._flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
                                 ? std::string(view(properties.content_type))
                                 : std::string("application/octet-stream");
  message.setBody(std::string(view(envelope.message.body)), content_type);

  {
    std::lock_guard lock(settlements_->mutex);
    ++settlements_->outstanding;
  }
  const auto tag = envelope.delivery_tag;
  if (!intake.deliver(std::move(message), [settlements = settlements_, generation, tag](Outcome outcome) {
        settlements->settle(generation, tag, outcome.acknowledge());
      })) {
    // The route is closing: the message goes back to the queue for the next consumer.
    {
      std::lock_guard lock(settlements_->mutex);
      --settlements_->outstanding;
    }
    connection.checkStatus(amqp_basic_nack(connection.state(), kChannel, tag, 0, 1), "return a message");
    return false;
  }
  return true;
}

}  // namespace switchboard::adapters::amqp
