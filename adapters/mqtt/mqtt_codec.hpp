#pragma once

/// MQTT 3.1.1 packets, as far as a client with QoS 0 and 1 needs them: encoders for what it
/// sends, and a decoder that cuts the byte stream from the broker into packets.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard::adapters::mqtt {

enum class PacketType : std::uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Subscribe = 8,
  Suback = 9,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
};

/// The broker broke the protocol (a malformed packet): the connection cannot go on.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ConnectFields {
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keepalive_seconds = 30;
  std::optional<std::string> username;
  std::optional<std::string> password;
};

struct PublishFields {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  bool duplicate = false;
  std::uint16_t packet_id = 0;  ///< QoS 1 only
};

std::string encodeConnect(const ConnectFields& fields);
std::string encodePublish(const PublishFields& fields);
std::string encodePuback(std::uint16_t packet_id);
std::string encodeSubscribe(std::uint16_t packet_id, const std::vector<std::pair<std::string, int>>& filters);
std::string encodePingreq();
std::string encodeDisconnect();

/// One packet from the broker: its type, the fixed header's flags and the rest.
struct Packet {
  PacketType type;
  std::uint8_t flags;
  std::string body;
};

/// Cuts packets out of the bytes read so far.
class Decoder {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  /// The next whole packet, or nothing until more bytes arrive. Throws ProtocolError.
  std::optional<Packet> next();

 private:
  std::string buffer_;
  std::size_t start_ = 0;
};

/// Fields of packets the broker sends; each throws ProtocolError when malformed.
PublishFields decodePublish(const Packet& packet);
/// The CONNACK's return code (0 accepted) and whether the broker kept a session.
std::pair<int, bool> decodeConnack(const Packet& packet);
std::uint16_t decodePacketId(const Packet& packet);  ///< PUBACK, SUBACK
/// The SUBACK's return codes, one per filter (0x80: refused).
std::vector<int> decodeSubackCodes(const Packet& packet);

/// Why a broker refused a CONNECT, from its return code.
std::string_view connackReason(int code) noexcept;

}  // namespace switchboard::adapters::mqtt
