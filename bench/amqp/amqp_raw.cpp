// The reference for bench/amqp: the same relay as the Switchboard route, written directly
// against librabbitmq, and the tools the benchmark fills and drains its queues with.
//
//   amqp_raw fill  HOST PORT QUEUE N      publish N ~200-byte JSON messages (persistent, confirmed)
//   amqp_raw relay HOST PORT FROM TO N    consume FROM (manual ack, prefetch 256), publish each
//                                         message to TO (persistent, confirmed), ack; stop after N
//   amqp_raw drain HOST PORT QUEUE N      consume N messages; print the seconds from the first
//                                         to the last
//
// The relay batches: it takes whatever deliveries have arrived (up to 256), publishes them all,
// waits for their confirms, then acks them with one multiple-ack: the fastest at-least-once
// relay a plain loop can be.
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr amqp_channel_t kChannel = 1;

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
  amqp_confirm_select(state, kChannel);
  check(amqp_get_rpc_reply(state), "confirm.select");
}

/// Waits until the broker confirmed every publish up to `last`.
void awaitConfirms(amqp_connection_state_t state, std::uint64_t last) {
  for (std::uint64_t confirmed = 0; confirmed < last;) {
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
  if (amqp_basic_publish(state, kChannel, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &properties, body) !=
      AMQP_STATUS_OK) {
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
  for (long i = 0; i < count; ++i) {
    char body[256];
    const int length = std::snprintf(body, sizeof body,
                                     "{\"id\":%ld,\"customer\":\"c-%ld\",\"amount\":%ld.5,\"currency\":\"EUR\","
                                     "\"lines\":[{\"sku\":\"A-1\",\"qty\":2},{\"sku\":\"B-7\",\"qty\":1}]}",
                                     i, i % 97, i % 1000);
    publish(state, queue, {static_cast<std::size_t>(length), body}, amqp_cstring_bytes("application/json"));
    if (++published % 1000 == 0) awaitConfirms(state, published);
  }
  awaitConfirms(state, published);
  return 0;
}

int relay(amqp_connection_state_t state, const char* from, const char* to, long count) {
  declare(state, from);
  declare(state, to);
  confirmMode(state);
  consume(state, from, 256);
  std::uint64_t published = 0;
  std::vector<amqp_envelope_t> batch;
  for (long relayed = 0; relayed < count;) {
    // Block for one delivery, then take what else has already arrived.
    do {
      amqp_envelope_t envelope;
      timeval none{0, 0};
      const auto reply = amqp_consume_message(state, &envelope, batch.empty() ? nullptr : &none, 0);
      if (reply.reply_type != AMQP_RESPONSE_NORMAL) break;
      batch.push_back(envelope);
    } while (batch.size() < 256 && (amqp_frames_enqueued(state) || amqp_data_in_buffer(state)));
    if (batch.empty()) fail("consume");
    for (auto& envelope : batch) {
      publish(state, to, envelope.message.body, envelope.message.properties.content_type);
    }
    published += batch.size();
    awaitConfirms(state, published);
    amqp_basic_ack(state, kChannel, batch.back().delivery_tag, /*multiple=*/1);
    relayed += static_cast<long>(batch.size());
    for (auto& envelope : batch) amqp_destroy_envelope(&envelope);
    batch.clear();
    amqp_maybe_release_buffers(state);
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
