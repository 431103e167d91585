#include <catch2/catch.hpp>

#include "component_options.hpp"
#include "mqtt_codec.hpp"
#include "mqtt_inbound.hpp"
#include "mqtt_outbound.hpp"

using namespace switchboard;
using namespace switchboard::adapters::mqtt;

namespace {
std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}
}  // namespace

TEST_CASE("mqtt: CONNECT carries the protocol, flags, keep-alive and credentials", "[mqtt]") {
  ConnectFields fields;
  fields.client_id = "c1";
  fields.clean_session = false;
  fields.keepalive_seconds = 30;
  fields.username = "u";
  fields.password = "p";
  CHECK(encodeConnect(fields) ==
        bytes({0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC0, 0, 30, 0, 2, 'c', '1', 0, 1, 'u', 0, 1, 'p'}));
  fields.clean_session = true;
  fields.username.reset();
  fields.password.reset();
  const auto plain = encodeConnect(fields);
  CHECK(plain == bytes({0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 30, 0, 2, 'c', '1'}));
}

TEST_CASE("mqtt: PUBLISH round-trips through the decoder, QoS 0 and 1", "[mqtt]") {
  for (int qos : {0, 1}) {
    PublishFields out;
    out.topic = "a/b";
    out.payload = std::string("x\0y", 3);
    out.qos = qos;
    out.retain = true;
    out.packet_id = 513;
    Decoder decoder;
    decoder.feed(encodePublish(out));
    auto packet = decoder.next();
    REQUIRE(packet);
    CHECK(packet->type == PacketType::Publish);
    const auto in = decodePublish(*packet);
    CHECK(in.topic == "a/b");
    CHECK(in.payload == out.payload);
    CHECK(in.qos == qos);
    CHECK(in.retain);
    CHECK_FALSE(in.duplicate);
    CHECK(in.packet_id == (qos ? 513 : 0));
    CHECK_FALSE(decoder.next());
  }
}

TEST_CASE("mqtt: the decoder waits for whole packets and reads long lengths", "[mqtt]") {
  PublishFields big;
  big.topic = "t";
  big.payload.assign(200'000, 'z');  // a three-byte remaining length
  big.qos = 1;
  big.packet_id = 7;
  const auto encoded = encodePublish(big) + encodePuback(9);
  Decoder decoder;
  for (std::size_t at = 0; at < encoded.size(); at += 4096) {
    CHECK_FALSE(decoder.next());
    decoder.feed(std::string_view(encoded).substr(at, 4096));
  }
  auto first = decoder.next();
  REQUIRE(first);
  CHECK(decodePublish(*first).payload.size() == 200'000);
  auto second = decoder.next();
  REQUIRE(second);
  CHECK(second->type == PacketType::Puback);
  CHECK(decodePacketId(*second) == 9);
}

TEST_CASE("mqtt: malformed packets are protocol errors, not crashes", "[mqtt]") {
  Decoder decoder;
  decoder.feed(bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}));
  CHECK_THROWS_AS(decoder.next(), ProtocolError);
  Packet truncated{PacketType::Publish, 0x02, bytes({0, 5, 'a'})};
  CHECK_THROWS_AS(decodePublish(truncated), ProtocolError);
  Packet no_id{PacketType::Publish, 0x02, bytes({0, 1, 'a'})};
  CHECK_THROWS_AS(decodePublish(no_id), ProtocolError);
  Packet qos3{PacketType::Publish, 0x06, bytes({0, 1, 'a', 0, 1})};
  CHECK_THROWS_AS(decodePublish(qos3), ProtocolError);
}

TEST_CASE("mqtt: CONNACK, SUBSCRIBE and SUBACK", "[mqtt]") {
  CHECK(decodeConnack({PacketType::Connack, 0, bytes({1, 0})}) == std::pair<int, bool>{0, true});
  CHECK(decodeConnack({PacketType::Connack, 0, bytes({0, 4})}).first == 4);
  CHECK(connackReason(4) == "wrong username or password");
  CHECK(encodeSubscribe(1, {{"a/#", 1}}) == bytes({0x82, 8, 0, 1, 0, 3, 'a', '/', '#', 1}));
  CHECK(decodeSubackCodes({PacketType::Suback, 0, bytes({0, 1, 1, 0x80})}) == std::vector<int>{1, 0x80});
  CHECK(encodePingreq() == bytes({0xC0, 0}));
  CHECK(encodeDisconnect() == bytes({0xE0, 0}));
}

TEST_CASE("mqtt: options", "[mqtt]") {
  using testing::optionsFor;
  const auto in = InboundOptions::from(
      optionsFor(InboundOptions::spec(), {{"url", "mqtt://127.0.0.1:1884"}, {"topics", {"a/#", "b"}}}));
  CHECK(in.broker.host == "127.0.0.1");
  CHECK(in.broker.port == "1884");
  CHECK_FALSE(in.broker.clean_session);
  CHECK(in.broker.client_id == "switchboard-test-route");
  CHECK(in.qos == 1);
  const auto tls = InboundOptions::from(
      optionsFor(InboundOptions::spec(), {{"url", "mqtts://[::1]"}, {"topics", {"a"}}, {"client_id", "x"}}));
  CHECK(tls.broker.tls);
  CHECK(tls.broker.host == "::1");
  CHECK(tls.broker.port == "8883");
  CHECK(tls.broker.client_id == "x");

  auto fails = [](nlohmann::ordered_json values, const std::string& option) {
    try {
      OutboundOptions::from(optionsFor(OutboundOptions::spec(), std::move(values)));
    } catch (const OptionError& e) {
      CHECK(e.option() == option);
      return;
    }
    FAIL("no OptionError for " + option);
  };
  fails({{"url", "http://h"}, {"topic", "t"}}, "url");
  fails({{"url", "mqtt://u:p@h"}, {"topic", "t"}}, "url");
  fails({{"url", "mqtt://h:x1"}, {"topic", "t"}}, "url");
  fails({{"url", "mqtt://h"}, {"topic", "a/#"}}, "topic");
  fails({{"url", "mqtt://h"}, {"topic", "t"}, {"qos", 2}}, "qos");
  fails({{"url", "mqtt://h"}, {"topic", "t"}, {"password", "p"}}, "password");
  const auto out = OutboundOptions::from(optionsFor(OutboundOptions::spec(), {{"url", "mqtt://h"}, {"topic", "t"}}));
  CHECK(out.broker.client_id.rfind("switchboard-test-route-", 0) == 0);
  CHECK(out.broker.port == "1883");
}
