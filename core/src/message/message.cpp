#include "switchboard/message.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

#include "switchboard/json_parse.hpp"
#include "switchboard/status.hpp"

namespace switchboard {

namespace {
char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

void Headers::set(std::string_view name, std::string value) {
  auto first = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return iequals(e.first, name); });
  if (first == entries_.end()) {
    entries_.emplace_back(std::string(name), std::move(value));
    return;
  }
  first->second = std::move(value);
  entries_.erase(
      std::remove_if(std::next(first), entries_.end(), [&](const Entry& e) { return iequals(e.first, name); }),
      entries_.end());
}

void Headers::add(std::string_view name, std::string value) {
  entries_.emplace_back(std::string(name), std::move(value));
}

const std::string* Headers::find(std::string_view name) const noexcept {
  for (const auto& [key, value] : entries_) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

std::size_t Headers::remove(std::string_view name) {
  const auto before = entries_.size();
  entries_.erase(
      std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return iequals(e.first, name); }),
      entries_.end());
  return before - entries_.size();
}

void Message::setBody(std::string body, std::string_view content_type) {
  body_ = std::move(body);
  if (!content_type.empty()) content_type_ = content_type;
  json_body_.reset();
}

std::string Message::takeBody() {
  json_body_.reset();
  return std::exchange(body_, std::string());
}

const nlohmann::json& Message::jsonBody() const {
  if (!json_body_) {
    try {
      json_body_ = std::make_shared<const nlohmann::json>(json::parse<nlohmann::json>(body_));
    } catch (const nlohmann::json::parse_error& e) {
      throw MessageError(std::string("body is not valid JSON: ") + e.what());
    }
  }
  return *json_body_;
}

std::string newUuid() {
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }()};
  std::array<unsigned char, 16> bytes{};
  const std::uint64_t high = generator();
  const std::uint64_t low = generator();
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(high >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(low >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text.push_back(kHex[bytes[i] >> 4]);
    text.push_back(kHex[bytes[i] & 0x0f]);
  }
  return text;
}

}  // namespace switchboard
