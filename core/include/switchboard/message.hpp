#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace switchboard {

/// ASCII case-insensitive equality, as HTTP and Switchboard header names use.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Ordered message headers; names compare case-insensitively and keep the case they were
/// first written with.
class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;

  /// Replaces every header of this name by one with `value`, keeping the first one's place.
  void set(std::string_view name, std::string value);
  /// Appends a header even if one of this name exists (HTTP allows repeated headers).
  void add(std::string_view name, std::string value);
  /// The first value of `name`, or nullptr.
  const std::string* find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  /// Removes every header of this name; returns how many there were.
  std::size_t remove(std::string_view name);

  std::vector<Entry>::const_iterator begin() const noexcept { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const noexcept { return entries_.end(); }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

/// One unit of work travelling through a route: identity, headers, a byte body with its
/// content type, and route-local properties.
class Message {
 public:
  Message() = default;
  explicit Message(std::string id) : id_(std::move(id)) {}

  const std::string& id() const noexcept { return id_; }

  Headers& headers() noexcept { return headers_; }
  const Headers& headers() const noexcept { return headers_; }

  const std::string& body() const noexcept { return body_; }
  const std::string& contentType() const noexcept { return content_type_; }
  /// Replaces the body; an empty `content_type` keeps the current one.
  void setBody(std::string body, std::string_view content_type = {});
  void setContentType(std::string content_type) { content_type_ = std::move(content_type); }
  /// Moves the body out, leaving the message with an empty one.
  std::string takeBody();

  /// The body parsed as JSON, parsed at most once per body. Throws MessageError when the
  /// body is not valid JSON.
  const nlohmann::json& jsonBody() const;

  std::map<std::string, std::string>& properties() noexcept { return properties_; }
  const std::map<std::string, std::string>& properties() const noexcept { return properties_; }

 private:
  std::string id_;
  Headers headers_;
  std::string body_;
  std::string content_type_;
  std::map<std::string, std::string> properties_;
  // Shared and immutable, so copying a message keeps the parsed body without a reparse.
  mutable std::shared_ptr<const nlohmann::json> json_body_;
};

/// A random RFC 4122 version 4 UUID in its 36-character text form.
std::string newUuid();

}  // namespace switchboard
