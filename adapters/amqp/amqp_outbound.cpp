#include "amqp_outbound.hpp"

#include <ctime>

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

Status AmqpOutbound::send(Message& message) {
  std::string routing_key;
  HeaderList headers;
  try {
    routing_key = options_.routing_key.render(message);
    if (options_.forward_headers) {
      for (const auto& [name, value] : message.headers()) {
        if (forwarded(name)) headers.emplace_back(name, value);
      }
    }
    for (const auto& [name, value] : options_.headers) {
      std::erase_if(headers, [&](const auto& header) { return iequals(header.first, name); });
      headers.emplace_back(name, value.render(message));
    }
  } catch (const MessageError& e) {
    return Status::badInput(e.what());
  }
  // A pooled connection may have died while idle (a broker restart, a missed heartbeat):
  // that one failure earns a second try on a new connection.
  for (bool retry = true;; retry = false) {
    bool reused = false;
    try {
      auto publisher = acquire(reused);
      Status status = publish(*publisher, message, routing_key, headers);
      release(std::move(publisher));
      return status;
    } catch (const BrokerError& e) {
      if (retry && reused && e.code() == Status::Code::Transient) continue;
      const std::string text = describe() + ": " + e.what();
      switch (e.code()) {
        case Status::Code::Permanent: return Status::permanent(text);
        case Status::Code::Timeout: return Status::timeout(text);
        default: return Status::transient(text);
      }
    }
  }
}

std::unique_ptr<AmqpOutbound::Publisher> AmqpOutbound::acquire(bool& reused) {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto publisher = std::move(idle_.back());
      idle_.pop_back();
      reused = true;
      return publisher;
    }
  }
  reused = false;
  auto publisher = std::make_unique<Publisher>();
  publisher->connection = std::make_unique<Connection>(options_.broker);
  auto& connection = *publisher->connection;
  amqp_confirm_select(connection.state(), kChannel);
  connection.check("enable publisher confirms");
  if (options_.declare) connection.declareExchange(options_.exchange, options_.exchange_type);
  return publisher;
}

void AmqpOutbound::release(std::unique_ptr<Publisher> publisher) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(publisher));
}

Status AmqpOutbound::publish(Publisher& publisher, const Message& message, const std::string& routing_key,
                             const HeaderList& headers) {
  auto& connection = *publisher.connection;
  auto* state = connection.state();
  amqp_maybe_release_buffers(state);

  std::vector<amqp_table_entry_t> entries(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    entries[i].key = bytes(headers[i].first);
    entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[i].value.value.bytes = bytes(headers[i].second);
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
  connection.checkStatus(amqp_basic_publish(state, kChannel, bytes(options_.exchange), bytes(routing_key),
                                            options_.mandatory, /*immediate=*/0, &properties, bytes(message.body())),
                         "publish");
  const auto tag = ++publisher.published;

  std::string returned;  // why the broker sent the message back (mandatory, no queue)
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw BrokerError("no publisher confirm within " + std::to_string(options_.timeout.count()) + "ms",
                        Status::Code::Timeout);
    }
    timeval wait{static_cast<time_t>(left.count() / 1'000'000), static_cast<suseconds_t>(left.count() % 1'000'000)};
    amqp_frame_t frame;
    const int status = amqp_simple_wait_frame_noblock(state, &frame, &wait);
    if (status == AMQP_STATUS_TIMEOUT) continue;
    connection.checkStatus(status, "wait for the publisher confirm");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        if (ack->delivery_tag < tag && !ack->multiple) continue;
        if (!returned.empty()) return Status::permanent(describe() + ": " + returned);
        return Status::ok();
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        if (nack->delivery_tag < tag && !nack->multiple) continue;
        return Status::transient(describe() + ": the broker did not take the message (basic.nack)");
      }
      case AMQP_BASIC_RETURN_METHOD: {
        const auto* back = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
        returned = "unroutable: " + std::string(view(back->reply_text)) + " (" + std::to_string(back->reply_code) +
                   "), no queue bound for routing key '" + routing_key + "'";
        amqp_message_t content;
        connection.check(amqp_read_message(state, frame.channel, &content, 0), "read a returned message");
        amqp_destroy_message(&content);
        break;
      }
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

}  // namespace switchboard::adapters::amqp
