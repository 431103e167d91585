// The reference for bench/amqp: the same relay as the Switchboard route, written directly
// against librabbitmq, and the tools the benchmark fills and drains its queues with.
//
//   amqp_raw fill  HOST PORT QUEUE N      publish N ~200-byte JSON messages (persistent, confirmed)
//   amqp_raw relay HOST PORT FROM TO N    consume FROM (manual ack, prefetch 256), publish each
//                                         message to TO (persistent, confirmed), ack; stop after N
//   amqp_raw drain HOST PORT QUEUE N      consume N messages; print the seconds from the first
//                                         to the last
//
// The relay pipelines: it publishes each delivery as it arrives (prefetch 256) and acks
// deliveries as the confirms of their publishes come in, with multiple-acks: the fastest
// at-least-once relay a plain loop can be.
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

constexpr amqp_channel_t kChannel = 1;
// Publishing in confirm mode on a channel of its own keeps its confirms apart from deliveries.
constexpr amqp_channel_t kPublishChannel = 2;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "amqp_raw: %s\n", what);
  std::exit(1);
}

void check(amqp_rpc_reply_t reply, const char* what) {
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) fail(what);
}

amqp_connection_state_t connect(const char* host, int port) {
  auto state = amqp_new_connection();
  auto* socket = amqp_tcp_socket_new(state);
  if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) fail("connect");
  check(amqp_login(state, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
  amqp_channel_open(state, kChannel);
  check(amqp_get_rpc_reply(state), "channel");
  return state;
}

void declare(amqp_connection_state_t state, const char* queue) {
  amqp_queue_declare(state, kChannel, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(state), "declare");
}

void confirmMode(amqp_connection_state_t state) {
  amqp_channel_open(state, kPublishChannel);
  check(amqp_get_rpc_reply(state), "channel");
  amqp_confirm_select(state, kPublishChannel);
  check(amqp_get_rpc_reply(state), "confirm.select");
}

/// Waits until the broker confirmed every publish up to `last`; `confirmed` is the highest
/// delivery tag confirmed so far.
void awaitConfirms(amqp_connection_state_t state, std::uint64_t last, std::uint64_t& confirmed) {
  while (confirmed < last) {
    amqp_frame_t frame;
    if (amqp_simple_wait_frame(state, &frame) != AMQP_STATUS_OK) fail("wait for confirms");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) fail("broker nacked a publish");
    if (frame.payload.method.id != AMQP_BASIC_ACK_METHOD) continue;
    const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
    confirmed = ack->delivery_tag;  // acks arrive in order; `multiple` covers the ones before
  }
}

void publish(amqp_connection_state_t state, const char* queue, amqp_bytes_t body, amqp_bytes_t content_type) {
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  properties.content_type = content_type;
  if (amqp_basic_publish(state, kPublishChannel, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &properties,
                         body) != AMQP_STATUS_OK) {
    fail("publish");
  }
}

void consume(amqp_connection_state_t state, const char* queue, int prefetch) {
  amqp_basic_qos(state, kChannel, 0, static_cast<std::uint16_t>(prefetch), 0);
  check(amqp_get_rpc_reply(state), "qos");
  amqp_basic_consume(state, kChannel, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check(amqp_get_rpc_reply(state), "consume");
}

int fill(amqp_connection_state_t state, const char* queue, long count) {
  declare(state, queue);
  confirmMode(state);
  std::uint64_t published = 0;
  std::uint64_t confirmed = 0;
  for (long i = 0; i < count; ++i) {
    char body[256];
    const int length = std::snprintf(body, sizeof body,
                                     "{\"id\":%ld,\"customer\":\"c-%ld\",\"amount\":%ld.5,\"currency\":\"EUR\","
                                     "\"lines\":[{\"sku\":\"A-1\",\"qty\":2},{\"sku\":\"B-7\",\"qty\":1}]}",
                                     i, i % 97, i % 1000);
    publish(state, queue, {static_cast<std::size_t>(length), body}, amqp_cstring_bytes("application/json"));
    if (++published % 1000 == 0) awaitConfirms(state, published, confirmed);
  }
  awaitConfirms(state, published, confirmed);
  return 0;
}

int relay(amqp_connection_state_t state, const char* from, const char* to, long count) {
  declare(state, from);
  declare(state, to);
  confirmMode(state);
  consume(state, from, 256);
  // One frame loop for both channels: each delivery is published at once, and each confirm
  // acks (multiple) every delivery whose publish it covers.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> unconfirmed;  // publish tag, delivery tag
  std::uint64_t published = 0;
  for (long relayed = 0; relayed < count;) {
    amqp_maybe_release_buffers(state);
    amqp_frame_t frame;
    if (amqp_simple_wait_frame(state, &frame) != AMQP_STATUS_OK) fail("read");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (frame.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
      const auto tag = static_cast<amqp_basic_deliver_t*>(frame.payload.method.decoded)->delivery_tag;
      amqp_message_t message;
      check(amqp_read_message(state, frame.channel, &message, 0), "read a delivery");
      publish(state, to, message.body, message.properties.content_type);
      unconfirmed.emplace_back(++published, tag);
      amqp_destroy_message(&message);
    } else if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      const auto confirmed = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded)->delivery_tag;
      std::uint64_t delivery = 0;
      while (!unconfirmed.empty() && unconfirmed.front().first <= confirmed) {
        delivery = unconfirmed.front().second;
        unconfirmed.pop_front();
        ++relayed;
      }
      if (delivery) amqp_basic_ack(state, kChannel, delivery, /*multiple=*/1);
    } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      fail("broker nacked a publish");
    }
  }
  return 0;
}

int drain(amqp_connection_state_t state, const char* queue, long count) {
  declare(state, queue);
  consume(state, queue, 1000);
  std::chrono::steady_clock::time_point first;
  for (long received = 0; received < count; ++received) {
    amqp_envelope_t envelope;
    check(amqp_consume_message(state, &envelope, nullptr, 0), "consume");
    if (received == 0) first = std::chrono::steady_clock::now();
    if ((received + 1) % 100 == 0 || received + 1 == count) {
      amqp_basic_ack(state, kChannel, envelope.delivery_tag, 1);
    }
    amqp_destroy_envelope(&envelope);
    amqp_maybe_release_buffers(state);
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - first;
  std::printf("%.6f\n", took.count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) fail("usage: amqp_raw fill|relay|drain HOST PORT QUEUE... N");
  const std::string mode = argv[1];
  auto state = connect(argv[2], std::atoi(argv[3]));
  int rc = 1;
  if (mode == "fill") rc = fill(state, argv[4], std::atol(argv[5]));
  if (mode == "drain") rc = drain(state, argv[4], std::atol(argv[5]));
  if (mode == "relay" && argc >= 7) rc = relay(state, argv[4], argv[5], std::atol(argv[6]));
  amqp_channel_close(state, kChannel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(state, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(state);
  return rc;
}
