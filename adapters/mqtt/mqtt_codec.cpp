#include "mqtt_codec.hpp"

namespace switchboard::adapters::mqtt {

namespace {

constexpr std::size_t kMaxRemainingLength = 268'435'455;  // four length bytes

void putU16(std::string& out, std::uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value & 0xff));
}

void putString(std::string& out, std::string_view text) {
  if (text.size() > 0xffff) throw std::invalid_argument("MQTT strings are at most 65535 bytes");
  putU16(out, static_cast<std::uint16_t>(text.size()));
  out.append(text);
}

/// Fixed header + body.
std::string packet(PacketType type, std::uint8_t flags, std::string_view body) {
  if (body.size() > kMaxRemainingLength) throw std::invalid_argument("MQTT packets are at most 256 MiB");
  std::string out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>((static_cast<std::uint8_t>(type) << 4) | flags));
  std::size_t length = body.size();
  do {
    std::uint8_t digit = length % 128;
    length /= 128;
    if (length > 0) digit |= 0x80;
    out.push_back(static_cast<char>(digit));
  } while (length > 0);
  out.append(body);
  return out;
}

/// Reads the body of a packet from the front.
class Reader {
 public:
  explicit Reader(std::string_view body) : body_(body) {}
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(body_[at_++]);
  }
  std::uint16_t u16() {
    need(2);
    const auto value = static_cast<std::uint16_t>((static_cast<std::uint8_t>(body_[at_]) << 8) |
                                                  static_cast<std::uint8_t>(body_[at_ + 1]));
    at_ += 2;
    return value;
  }
  std::string string() {
    const auto length = u16();
    need(length);
    std::string text(body_.substr(at_, length));
    at_ += length;
    return text;
  }
  std::string rest() {
    std::string text(body_.substr(at_));
    at_ = body_.size();
    return text;
  }
  bool done() const { return at_ == body_.size(); }

 private:
  void need(std::size_t count) const {
    if (body_.size() - at_ < count) throw ProtocolError("truncated MQTT packet");
  }
  std::string_view body_;
  std::size_t at_ = 0;
};

}  // namespace

std::string encodeConnect(const ConnectFields& fields) {
  std::string body;
  putString(body, "MQTT");
  body.push_back(4);  // protocol level: 3.1.1
  std::uint8_t flags = fields.clean_session ? 0x02 : 0;
  if (fields.username) flags |= 0x80;
  if (fields.password) flags |= 0x40;
  body.push_back(static_cast<char>(flags));
  putU16(body, fields.keepalive_seconds);
  putString(body, fields.client_id);
  if (fields.username) putString(body, *fields.username);
  if (fields.password) putString(body, *fields.password);
  return packet(PacketType::Connect, 0, body);
}

std::string encodePublish(const PublishFields& fields) {
  std::string body;
  putString(body, fields.topic);
  if (fields.qos > 0) putU16(body, fields.packet_id);
  body.append(fields.payload);
  const auto flags =
      static_cast<std::uint8_t>((fields.duplicate ? 0x08 : 0) | (fields.qos << 1) | (fields.retain ? 1 : 0));
  return packet(PacketType::Publish, flags, body);
}

std::string encodePuback(std::uint16_t packet_id) {
  std::string body;
  putU16(body, packet_id);
  return packet(PacketType::Puback, 0, body);
}

std::string encodeSubscribe(std::uint16_t packet_id, const std::vector<std::pair<std::string, int>>& filters) {
  std::string body;
  putU16(body, packet_id);
  for (const auto& [filter, qos] : filters) {
    putString(body, filter);
    body.push_back(static_cast<char>(qos));
  }
  return packet(PacketType::Subscribe, 0x02, body);
}

std::string encodePingreq() {
  return packet(PacketType::Pingreq, 0, {});
}

std::string encodeDisconnect() {
  return packet(PacketType::Disconnect, 0, {});
}

std::optional<Packet> Decoder::next() {
  const std::size_t available = buffer_.size() - start_;
  if (available < 2) return std::nullopt;
  std::size_t length = 0;
  std::size_t multiplier = 1;
  std::size_t header = 1;
  for (;; ++header) {
    if (header > 4) throw ProtocolError("MQTT remaining length longer than four bytes");
    if (header >= available) return std::nullopt;
    const auto digit = static_cast<std::uint8_t>(buffer_[start_ + header]);
    length += (digit & 0x7f) * multiplier;
    multiplier *= 128;
    if (!(digit & 0x80)) break;
  }
  ++header;
  if (available < header + length) return std::nullopt;
  const auto first = static_cast<std::uint8_t>(buffer_[start_]);
  Packet packet{static_cast<PacketType>(first >> 4), static_cast<std::uint8_t>(first & 0x0f),
                buffer_.substr(start_ + header, length)};
  start_ += header + length;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 65536) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return packet;
}

PublishFields decodePublish(const Packet& packet) {
  Reader reader(packet.body);
  PublishFields fields;
  fields.duplicate = packet.flags & 0x08;
  fields.qos = (packet.flags >> 1) & 0x03;
  fields.retain = packet.flags & 0x01;
  if (fields.qos > 2) throw ProtocolError("PUBLISH with QoS 3");
  fields.topic = reader.string();
  if (fields.qos > 0) fields.packet_id = reader.u16();
  fields.payload = reader.rest();
  return fields;
}

std::pair<int, bool> decodeConnack(const Packet& packet) {
  Reader reader(packet.body);
  const bool session_present = reader.u8() & 0x01;
  return {reader.u8(), session_present};
}

std::uint16_t decodePacketId(const Packet& packet) {
  Reader reader(packet.body);
  return reader.u16();
}

std::vector<int> decodeSubackCodes(const Packet& packet) {
  Reader reader(packet.body);
  reader.u16();
  std::vector<int> codes;
  while (!reader.done()) codes.push_back(reader.u8());
  return codes;
}

std::string_view connackReason(int code) noexcept {
  switch (code) {
    case 0: return "accepted";
    case 1: return "the broker does not speak MQTT 3.1.1";
    case 2: return "client_id rejected";
    case 3: return "broker unavailable";
    case 4: return "wrong username or password";
    case 5: return "not authorized (wrong username or password, or no access)";
    default: return "refused";
  }
}

}  // namespace switchboard::adapters::mqtt
