#include "amqp_outbound.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <ctime>
#include <future>

#include "switchboard/log.hpp"

namespace switchboard::adapters::amqp {

ComponentSpec OutboundOptions::spec() {
  auto options = BrokerSettings::specs();
  options.insert(
      options.begin() + 1,
      {{"exchange", OptionType::String, false, "", "exchange to publish to; empty: the default exchange"},
       {"routing_key", OptionType::Template, false, "",
        "routing key, rendered per message (with the default exchange: the queue's name)"},
       {"declare", OptionType::Bool, false, "false", "declare the exchange (durable) before the first publish"},
       {"exchange_type",
        OptionType::Enum,
        false,
        "direct",
        "type of the declared exchange",
        {"direct", "fanout", "topic", "headers"}},
       {"persistent", OptionType::Bool, false, "true", "delivery mode 2: durable queues keep the message on disk"},
       {"mandatory", OptionType::Bool, false, "false",
        "a message no queue is bound for is an endpoint error (not retried) instead of being dropped by the broker"},
       {"headers", OptionType::TemplateMap, false, "", "AMQP headers (templates)"},
       {"forward_headers", OptionType::Bool, false, "true",
        "send the message's headers as AMQP headers too (not amqp.* and http.* ones)"},
       {"timeout", OptionType::Duration, false, "10s", "wait for the broker's publisher confirm"}});
  return ComponentSpec{"amqp",
                       "Publishes each message to an AMQP 0-9-1 exchange (RabbitMQ) and succeeds once the broker "
                       "confirmed it.",
                       std::move(options)};
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.route_id = options.scope().route_id;
  o.broker = BrokerSettings::from(options);
  if (options.has("exchange")) o.exchange = options.string("exchange");
  o.exchange_type = options.string("exchange_type");
  o.declare = options.boolean("declare");
  if (o.declare && o.exchange.empty()) throw OptionError("declare", "declare: true needs an exchange to declare");
  o.routing_key = options.has("routing_key") ? options.templ("routing_key") : Template::compile("", options.scope());
  if (o.exchange.empty() && o.routing_key.isConstant() && o.routing_key.text().empty()) {
    throw OptionError("routing_key",
                      "the default exchange routes by queue name: give routing_key (the queue) or an exchange");
  }
  o.persistent = options.boolean("persistent");
  o.mandatory = options.boolean("mandatory");
  if (options.has("headers")) o.headers = options.templateMap("headers");
  o.forward_headers = options.boolean("forward_headers");
  o.timeout = options.duration("timeout");
  if (o.timeout.count() <= 0) throw OptionError("timeout", "timeout must be longer than 0ms");
  return o;
}

std::string AmqpOutbound::describe() const {
  return "amqp " + options_.broker.redacted() +
         (options_.exchange.empty() ? " default exchange" : " exchange " + options_.exchange);
}

namespace {
bool forwarded(std::string_view name) {
  auto prefixed = [&](std::string_view prefix) {
    return name.size() > prefix.size() && iequals(name.substr(0, prefix.size()), prefix);
  };
  return !prefixed("amqp.") && !prefixed("http.");
}
}  // namespace

namespace {
// A broker that could not be reached is not tried again for this long: sends fail at once.
constexpr std::chrono::milliseconds kRetryConnectAfter{1000};
constexpr int kIdleWakeMs = 1000;  // librabbitmq sends heartbeats from its calls
}  // namespace

AmqpOutbound::~AmqpOutbound() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    wake();
    thread_.join();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void AmqpOutbound::wake() const {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

Status AmqpOutbound::send(Message& message) {
  std::promise<Status> finished;
  auto status = finished.get_future();
  sendAsync(message, [&finished](Status result) { finished.set_value(std::move(result)); });
  return status.get();
}

bool AmqpOutbound::sendAsync(Message& message, Done done) {
  Job job{&message, {}, {}, std::move(done)};
  try {
    job.routing_key = options_.routing_key.render(message);
    if (options_.forward_headers) {
      for (const auto& [name, value] : message.headers()) {
        if (forwarded(name)) job.headers.emplace_back(name, value);
      }
    }
    for (const auto& [name, value] : options_.headers) {
      std::erase_if(job.headers, [&](const auto& header) { return iequals(header.first, name); });
      job.headers.emplace_back(name, value.render(message));
    }
  } catch (const MessageError& e) {
    job.done(Status::badInput(e.what()));
    return true;
  }
  // AMQP short strings: longer ones would fail the whole connection, not this message.
  if (job.routing_key.size() > 255) {
    job.done(Status::badInput("routing key longer than 255 bytes: '" + job.routing_key.substr(0, 64) + "...'"));
    return true;
  }
  for (const auto& [name, value] : job.headers) {
    if (name.size() > 255) {
      job.done(Status::badInput("header name longer than 255 bytes: '" + name.substr(0, 64) + "...'"));
      return true;
    }
  }
  {
    std::unique_lock lock(mutex_);
    if (!started_) {  // the connection is made at the first send, not when routes are only checked
      wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wake_fd_ < 0) {
        lock.unlock();
        job.done(Status::transient("amqp: cannot make an eventfd"));
        return true;
      }
      thread_ = std::thread([this] { run(); });
      started_ = true;
    }
    queued_.push_back(std::move(job));
  }
  wake();
  return true;
}

std::unique_ptr<Connection> AmqpOutbound::connect() {
  auto connection = std::make_unique<Connection>(options_.broker);
  amqp_confirm_select(connection->state(), kChannel);
  connection->check("enable publisher confirms");
  if (options_.declare) connection->declareExchange(options_.exchange, options_.exchange_type);
  published_ = 0;
  return connection;
}

namespace {
Status withCode(Status::Code code, std::string text) {
  switch (code) {
    case Status::Code::Permanent: return Status::permanent(std::move(text));
    case Status::Code::Timeout: return Status::timeout(std::move(text));
    default: return Status::transient(std::move(text));
  }
}
}  // namespace

void AmqpOutbound::run() {
  std::unique_ptr<Connection> connection;
  std::optional<Status> unreachable;  // why the last connect failed, while kRetryConnectAfter runs
  auto retry_at = std::chrono::steady_clock::now();
  for (;;) {
    std::deque<Job> jobs;
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      jobs.swap(queued_);
      stopping = stopping_;
    }
    if (stopping) {
      for (auto& job : jobs) job.done(Status::transient("amqp endpoint stopped"));
      failInFlight(Status::transient(describe() + ": endpoint stopped before the broker confirmed"));
      return;
    }
    if (!jobs.empty() && !connection) {
      if (unreachable && std::chrono::steady_clock::now() < retry_at) {
        for (auto& job : jobs) job.done(*unreachable);
        jobs.clear();
      } else {
        try {
          connection = connect();
          if (unreachable) log(LogLevel::Info, "broker available again", {{"route", options_.route_id}});
          unreachable.reset();
        } catch (const BrokerError& e) {
          unreachable = withCode(e.code(), describe() + ": " + e.what());
          retry_at = std::chrono::steady_clock::now() + kRetryConnectAfter;
          for (auto& job : jobs) job.done(*unreachable);
          jobs.clear();
        }
      }
    }
    if (connection && blocked_ && !jobs.empty()) {
      // Written now, they would sit in the socket until the alarm clears, past any timeout.
      const auto status =
          Status::transient(describe() + ": the broker blocks publishers (connection.blocked: " + *blocked_ + ")");
      for (auto& job : jobs) job.done(status);
      jobs.clear();
    }
    try {
      while (!jobs.empty()) {
        publish(*connection, jobs.front());
        jobs.pop_front();
      }
      if (connection) {
        const auto now = std::chrono::steady_clock::now();
        if (!in_flight_.empty() && in_flight_.front().deadline <= now) {
          const auto what = "no publisher confirm within " + std::to_string(options_.timeout.count()) + "ms";
          if (!blocked_) throw BrokerError(what, Status::Code::Timeout);
          // The broker holds them until its alarm clears: the connection is fine, and a new
          // one would only be blocked again.
          const auto status = Status::timeout(describe() + ": " + what + " (connection.blocked: " + *blocked_ + ")");
          while (!in_flight_.empty() && in_flight_.front().deadline <= now) {
            auto sent = std::move(in_flight_.front());
            in_flight_.pop_front();
            returned_.erase(sent.message_id);
            sent.done(status);
          }
        }
        int wait_ms = kIdleWakeMs;
        if (!in_flight_.empty()) {
          wait_ms = std::min<int>(
              wait_ms, static_cast<int>(
                           std::chrono::ceil<std::chrono::milliseconds>(in_flight_.front().deadline - now).count()));
        }
        auto* state = connection->state();
        if (!amqp_frames_enqueued(state) && !amqp_data_in_buffer(state)) {
          pollfd watched[2] = {{connection->socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
          ::poll(watched, 2, std::max(wait_ms, 0));
          if (watched[1].revents) {
            std::uint64_t count;
            [[maybe_unused]] auto read = ::read(wake_fd_, &count, sizeof count);
          }
        }
        readConfirms(*connection);
      } else {
        pollfd watched{wake_fd_, POLLIN, 0};
        ::poll(&watched, 1, kIdleWakeMs);
        std::uint64_t count;
        [[maybe_unused]] auto read = ::read(wake_fd_, &count, sizeof count);
      }
    } catch (const BrokerError& e) {
      // Sends not yet published go out on the next connection; those in flight may or may
      // not have reached the broker, so they fail (and the route retries them).
      const auto status = withCode(e.code(), describe() + ": " + e.what());
      for (auto& job : jobs) job.done(status);
      failInFlight(status);
      connection.reset();
      blocked_.reset();  // a new connection is told again
      log(LogLevel::Warn, "amqp publisher lost the broker: " + std::string(e.what()),
          {{"route", options_.route_id}, {"url", options_.broker.redacted()}});
    }
  }
}

void AmqpOutbound::publish(Connection& connection, Job& job) {
  auto* state = connection.state();
  const Message& message = *job.message;
  std::vector<amqp_table_entry_t> entries(job.headers.size());
  for (std::size_t i = 0; i < job.headers.size(); ++i) {
    entries[i].key = bytes(job.headers[i].first);
    entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[i].value.value.bytes = bytes(job.headers[i].second);
  }
  const std::string& content_type =
      message.contentType().empty() ? std::string("application/octet-stream") : message.contentType();
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                      AMQP_BASIC_TIMESTAMP_FLAG;
  properties.content_type = bytes(content_type);
  properties.delivery_mode = options_.persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
  properties.message_id = bytes(message.id());
  properties.timestamp = static_cast<std::uint64_t>(std::time(nullptr));
  if (const auto* correlation = message.headers().find("amqp.correlation_id")) {
    properties._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
    properties.correlation_id = bytes(*correlation);
  }
  if (!entries.empty()) {
    properties._flags |= AMQP_BASIC_HEADERS_FLAG;
    properties.headers = {static_cast<int>(entries.size()), entries.data()};
  }
  connection.checkStatus(amqp_basic_publish(state, kChannel, bytes(options_.exchange), bytes(job.routing_key),
                                            options_.mandatory, /*immediate=*/0, &properties, bytes(message.body())),
                         "publish");
  in_flight_.push_back(
      {++published_, message.id(), std::chrono::steady_clock::now() + options_.timeout, std::move(job.done)});
}

void AmqpOutbound::readConfirms(Connection& connection) {
  auto* state = connection.state();
  for (;;) {
    amqp_maybe_release_buffers(state);
    amqp_frame_t frame;
    timeval now{0, 0};
    const int status = amqp_simple_wait_frame_noblock(state, &frame, &now);
    if (status == AMQP_STATUS_TIMEOUT) return;
    connection.checkStatus(status, "wait for publisher confirms");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        confirm(ack->delivery_tag, ack->multiple, Status::ok());
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        confirm(nack->delivery_tag, nack->multiple,
                Status::transient(describe() + ": the broker did not take the message (basic.nack)"));
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        // Sent before the message's confirm; only the message itself says which one it was.
        const auto* back = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
        std::string why = "unroutable: " + std::string(view(back->reply_text)) + " (" +
                          std::to_string(back->reply_code) + "), no queue bound for routing key '" +
                          std::string(view(back->routing_key)) + "'";
        amqp_message_t content;
        connection.check(amqp_read_message(state, frame.channel, &content, 0), "read a returned message");
        if (content.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
          returned_[std::string(view(content.properties.message_id))] = std::move(why);
        }
        amqp_destroy_message(&content);
        break;
      }
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        const auto* blocked = static_cast<const amqp_connection_blocked_t*>(frame.payload.method.decoded);
        blocked_ = std::string(view(blocked->reason));
        log(LogLevel::Warn, "the broker blocks publishers, sends fail until it unblocks: " + *blocked_,
            {{"route", options_.route_id}, {"url", options_.broker.redacted()}});
        break;
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        blocked_.reset();
        log(LogLevel::Info, "the broker takes publishes again (connection.unblocked)",
            {{"route", options_.route_id}, {"url", options_.broker.redacted()}});
        break;
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_rpc_reply_t closed{};
        closed.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
        closed.reply = frame.payload.method;
        connection.check(closed, "publish");
        break;
      }
      default: break;
    }
  }
}

void AmqpOutbound::confirm(std::uint64_t tag, bool multiple, const Status& status) {
  // Confirms usually come in publish order, but need not: a single one may be for any send.
  std::vector<InFlight> confirmed;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->tag == tag || (multiple && it->tag < tag)) {
      confirmed.push_back(std::move(*it));
      it = in_flight_.erase(it);
    } else if (it->tag > tag) {
      break;
    } else {
      ++it;
    }
  }
  for (auto& sent : confirmed) {
    if (auto it = returned_.find(sent.message_id); it != returned_.end()) {
      sent.done(Status::permanent(describe() + ": " + it->second));
      returned_.erase(it);
    } else {
      sent.done(status);
    }
  }
}

void AmqpOutbound::failInFlight(const Status& status) {
  while (!in_flight_.empty()) {
    auto sent = std::move(in_flight_.front());
    in_flight_.pop_front();
    sent.done(status);
  }
  returned_.clear();
}

}  // namespace switchboard::adapters::amqp
