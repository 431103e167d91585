#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/message.hpp"

namespace switchboard {

/// A syntax error in a template or expression, at `offset` characters into its text.
class SyntaxError : public std::runtime_error {
 public:
  SyntaxError(std::size_t offset, const std::string& message) : std::runtime_error(message), offset_(offset) {}
  std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

/// The route a component belongs to: what its templates and expressions are compiled for,
/// and the route settings an adapter may need.
struct Scope {
  std::string route_id;
  std::chrono::milliseconds route_timeout{30'000};  ///< the route's `timeout`
  int concurrency = 1;                              ///< the route's `concurrency` (ABI 1.2)
};

/// A path into a JSON document: `a.b[0].c`, `items[2]`, `['odd key'].x`.
class JsonPath {
 public:
  /// Parses a path; a leading `.` is optional. Throws SyntaxError.
  static JsonPath parse(std::string_view text);

  /// The value at the path, or nullptr when any step is missing.
  const nlohmann::json* find(const nlohmann::json& root) const;
  /// The value at the path, made (objects, arrays padded with nulls) where missing; a step
  /// into a value of the wrong kind replaces it.
  template <typename Json>
  Json& make(Json& root) const {
    Json* node = &root;
    for (const auto& segment : segments_) {
      if (segment.is_index) {
        if (!node->is_array()) *node = Json::array();
        while (node->size() <= segment.index) node->push_back(nullptr);
        node = &(*node)[segment.index];
      } else {
        if (!node->is_object()) *node = Json::object();
        node = &(*node)[segment.key];
      }
    }
    return *node;
  }
  bool empty() const noexcept { return segments_.empty(); }

 private:
  struct Segment {
    bool is_index = false;
    std::string key;
    std::size_t index = 0;
  };
  std::vector<Segment> segments_;
};

/// One `${...}` reference: body, body.a.b[0], xpath:/a/b, header.NAME, prop.NAME,
/// message.id, route.id, now, now:FORMAT, uuid.
class Reference {
 public:
  /// Parses the text between `${` and `}`. Throws SyntaxError.
  static Reference parse(std::string_view text, const Scope& scope);

  /// The referenced value: a JSON value for body paths, a string otherwise, null when absent.
  /// Throws MessageError when the body cannot be read as the reference needs.
  nlohmann::json evaluate(const Message& message) const;
  /// The value as text: strings as they are, null as "", other JSON as compact JSON.
  std::string render(const Message& message) const;
  const std::string& text() const noexcept { return text_; }

  struct Impl;

 private:
  std::string text_;
  std::shared_ptr<const Impl> impl_;
};

/// Text with `${...}` references, compiled once and rendered per message. `$${` writes a
/// literal `${`.
class Template {
 public:
  static Template compile(std::string_view text, const Scope& scope);

  std::string render(const Message& message) const;
  /// Renders with every referenced value passed through `escape` (the literal text is kept
  /// as written): for URLs, where a value must not change the URL's structure.
  std::string render(const Message& message, std::string (*escape)(std::string_view)) const;
  /// True when the whole text is exactly one reference (it may then keep a JSON type).
  bool isSingleReference() const noexcept { return parts_.size() == 1 && !parts_[0].is_literal; }
  /// The first reference, for single-reference templates.
  const Reference& reference() const { return parts_.at(0).reference; }
  bool isConstant() const noexcept;
  const std::string& text() const noexcept { return text_; }

 private:
  struct Part {
    bool is_literal = true;
    std::string literal;
    Reference reference;
  };
  std::string text_;
  std::vector<Part> parts_;
};

/// A guard expression (`when`, `filter`): literals, references, comparisons, `&& || !`,
/// parentheses, `contains`, `matches`, `exists(...)`.
class Expression {
 public:
  static Expression compile(std::string_view text, const Scope& scope);
  /// Throws MessageError when a value cannot be evaluated for this message.
  bool test(const Message& message) const;
  const std::string& text() const noexcept { return text_; }

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace switchboard
