#pragma once
// A strict JSON (RFC 8259) reader that hands what it reads to a builder, so that each
// consumer builds its own values (nlohmann/json, jq's, a compact tree) in one pass, without
// a token buffer or a copy of strings without escapes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard::json {

/// Strict UTF-8 (RFC 3629): no overlong forms, no encoded surrogates, nothing past U+10FFFF.
inline bool isValidUtf8(std::string_view bytes) {
  const auto* at = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = at + bytes.size();
  while (at != end) {
    const unsigned char c = *at;
    if (c < 0x80) {
      ++at;
      continue;
    }
    int length = 0;
    std::uint32_t codepoint = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      codepoint = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      codepoint = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      codepoint = c & 0x07;
    } else {
      return false;
    }
    if (end - at < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((at[i] & 0xC0) != 0x80) return false;
      codepoint = (codepoint << 6) | (at[i] & 0x3F);
    }
    if ((length == 3 && codepoint < 0x800) || (length == 4 && (codepoint < 0x10000 || codepoint > 0x10FFFF)) ||
        (codepoint >= 0xD800 && codepoint <= 0xDFFF)) {
      return false;
    }
    at += length;
  }
  return true;
}

/// What a reader accepts beyond strict JSON, and how deep it goes.
struct ReaderOptions {
  /// Deepest nesting of arrays and objects; the reader recurses once per level.
  int max_depth = 256;
  /// Strings must be valid UTF-8 (RFC 3629); when false, their bytes are passed on as they are.
  bool require_utf8 = true;
  /// A `\uDC00`-`\uDFFF` escape without a high surrogate before it is passed on as its
  /// three-byte encoding (for a builder that replaces it) instead of being an error.
  bool pass_lone_low_surrogates = false;
};

/// Reads one JSON text (an optional UTF-8 byte order mark, then a value between whitespace).
///
/// A Builder provides:
///   using Value, Array, Object;             // movable; Array and Object are values being built
///   Value null(); Value boolean(bool);
///   std::optional<Value> number(std::string_view literal);   // nullopt: out of its range
///   Value string(std::string_view bytes, bool in_text);      // in_text: bytes lie in the text
///   Array beginArray(); void append(Array&, Value&&); Value endArray(Array&&);
///   Object beginObject();
///   void set(Object&, std::string_view key, bool key_in_text, Value&&);
///   std::optional<Value> endObject(Object&&);   // nullopt: refused (the reader reports a bad object)
template <typename Builder>
class Reader {
 public:
  using Value = typename Builder::Value;

  Reader(std::string_view text, Builder& builder, ReaderOptions options = {})
      : begin_(text.data()), at_(text.data()), end_(text.data() + text.size()), builder_(builder), options_(options) {}

  /// The value, or nullopt with error() saying why and where.
  std::optional<Value> read() {
    if (end_ - at_ >= 3 && std::string_view(at_, 3) == "\xEF\xBB\xBF") at_ += 3;
    skipSpace();
    auto result = value(0);
    if (!result) return std::nullopt;
    skipSpace();
    if (at_ != end_) return fail("unexpected text after the JSON value");
    return result;
  }

  /// What was wrong and where: "expected ':' after an object key at line 1, column 7".
  std::string error() const {
    int line = 1;
    const char* line_start = begin_;
    for (const char* p = begin_; p < error_at_; ++p) {
      if (*p == '\n') {
        ++line;
        line_start = p + 1;
      }
    }
    return error_ + " at line " + std::to_string(line) + ", column " + std::to_string(error_at_ - line_start + 1);
  }

 private:
  std::nullopt_t fail(std::string what) {
    if (error_.empty()) {
      error_ = std::move(what);
      error_at_ = at_;
    }
    return std::nullopt;
  }
  bool failed(std::string what) {
    fail(std::move(what));
    return false;
  }
  void skipSpace() {
    while (at_ != end_ && (*at_ == ' ' || *at_ == '\n' || *at_ == '\r' || *at_ == '\t')) ++at_;
  }
  std::optional<Value> literal(std::string_view word, Value value) {
    if (static_cast<std::size_t>(end_ - at_) < word.size() || std::string_view(at_, word.size()) != word) {
      return fail("expected a JSON value");
    }
    at_ += word.size();
    return value;
  }

  std::optional<Value> value(int depth) {
    if (at_ == end_) return fail("unexpected end of the text");
    switch (*at_) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': {
        bool in_text = false;
        const auto bytes = string(in_text);
        if (!bytes) return std::nullopt;
        return builder_.string(*bytes, in_text);
      }
      case 't': return literal("true", builder_.boolean(true));
      case 'f': return literal("false", builder_.boolean(false));
      case 'n': return literal("null", builder_.null());
      default: return number();
    }
  }

  std::optional<Value> object(int depth) {
    if (depth > options_.max_depth) return fail(depthError());
    ++at_;  // {
    auto result = builder_.beginObject();
    skipSpace();
    if (at_ != end_ && *at_ == '}') {
      ++at_;
      return finish(std::move(result));
    }
    for (;;) {
      if (at_ == end_ || *at_ != '"') return fail("expected a string key in an object");
      bool key_in_text = false;
      const auto key = string(key_in_text);
      if (!key) return std::nullopt;
      // A key decoded into scratch_ must be kept before the member's value reuses scratch_.
      std::string kept_key;
      if (!key_in_text) kept_key.assign(*key);
      skipSpace();
      if (at_ == end_ || *at_ != ':') return fail("expected ':' after an object key");
      ++at_;
      skipSpace();
      auto member = value(depth);
      if (!member) return std::nullopt;
      builder_.set(result, key_in_text ? *key : std::string_view(kept_key), key_in_text, std::move(*member));
      skipSpace();
      if (at_ != end_ && *at_ == '}') {
        ++at_;
        return finish(std::move(result));
      }
      if (at_ == end_ || *at_ != ',') return fail("expected ',' or '}' in an object");
      ++at_;
      skipSpace();
    }
  }
  std::optional<Value> finish(typename Builder::Object&& object) {
    const char* end = at_;
    auto result = builder_.endObject(std::move(object));
    if (!result) {
      at_ = end - 1;
      return fail("a key repeated in an object");
    }
    return result;
  }

  std::optional<Value> array(int depth) {
    if (depth > options_.max_depth) return fail(depthError());
    ++at_;  // [
    auto result = builder_.beginArray();
    skipSpace();
    if (at_ != end_ && *at_ == ']') {
      ++at_;
      return builder_.endArray(std::move(result));
    }
    for (;;) {
      auto item = value(depth);
      if (!item) return std::nullopt;
      builder_.append(result, std::move(*item));
      skipSpace();
      if (at_ != end_ && *at_ == ']') {
        ++at_;
        return builder_.endArray(std::move(result));
      }
      if (at_ == end_ || *at_ != ',') return fail("expected ',' or ']' in an array");
      ++at_;
      skipSpace();
    }
  }

  std::string depthError() const { return "nested deeper than " + std::to_string(options_.max_depth) + " levels"; }

  static int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  /// The four hex digits at at_, consumed; -1 when they are not four hex digits.
  long hex4() {
    if (end_ - at_ < 4) return -1;
    long value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = hexDigit(at_[i]);
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    at_ += 4;
    return value;
  }
  void appendUtf8(std::uint32_t codepoint) {
    if (codepoint < 0x80) {
      scratch_ += static_cast<char>(codepoint);
    } else if (codepoint < 0x800) {
      scratch_ += static_cast<char>(0xC0 | (codepoint >> 6));
      scratch_ += static_cast<char>(0x80 | (codepoint & 0x3F));
    } else if (codepoint < 0x10000) {
      scratch_ += static_cast<char>(0xE0 | (codepoint >> 12));
      scratch_ += static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F));
      scratch_ += static_cast<char>(0x80 | (codepoint & 0x3F));
    } else {
      scratch_ += static_cast<char>(0xF0 | (codepoint >> 18));
      scratch_ += static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F));
      scratch_ += static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F));
      scratch_ += static_cast<char>(0x80 | (codepoint & 0x3F));
    }
  }

  /// The string's bytes: in the text when it has no escapes (in_text), else decoded into
  /// scratch_, valid until the next string.
  std::optional<std::string_view> string(bool& in_text) {
    ++at_;  // "
    const char* start = at_;
    bool ascii = true;
    while (at_ != end_ && *at_ != '"' && *at_ != '\\' && static_cast<unsigned char>(*at_) >= 0x20) {
      ascii = ascii && static_cast<unsigned char>(*at_) < 0x80;
      ++at_;
    }
    std::string_view bytes;
    if (at_ != end_ && *at_ == '"') {
      bytes = std::string_view(start, static_cast<std::size_t>(at_ - start));
      ++at_;
      in_text = true;
    } else {
      scratch_.assign(start, at_);
      ascii = false;
      if (!unescape()) return std::nullopt;
      bytes = scratch_;
      in_text = false;
    }
    if (!ascii && options_.require_utf8 && !isValidUtf8(bytes)) {
      at_ = start;
      return fail("invalid UTF-8 in a string");
    }
    return bytes;
  }

  /// The rest of a string with escapes, from at_ to its closing quote, onto scratch_.
  bool unescape() {
    while (at_ != end_) {
      const char c = *at_;
      if (c == '"') {
        ++at_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return failed("control character in a string (write it as an escape)");
      ++at_;
      if (c != '\\') {
        scratch_ += c;
        continue;
      }
      if (at_ == end_) break;
      switch (*at_++) {
        case '"': scratch_ += '"'; break;
        case '\\': scratch_ += '\\'; break;
        case '/': scratch_ += '/'; break;
        case 'b': scratch_ += '\b'; break;
        case 'f': scratch_ += '\f'; break;
        case 'n': scratch_ += '\n'; break;
        case 'r': scratch_ += '\r'; break;
        case 't': scratch_ += '\t'; break;
        case 'u': {
          long codepoint = hex4();
          if (codepoint < 0) return failed("invalid \\uXXXX escape");
          if (codepoint >= 0xD800 && codepoint <= 0xDBFF) {
            if (end_ - at_ < 2 || at_[0] != '\\' || at_[1] != 'u')
              return failed("invalid \\uXXXX\\uXXXX surrogate pair");
            at_ += 2;
            const long low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) return failed("invalid \\uXXXX\\uXXXX surrogate pair");
            codepoint = 0x10000 + ((codepoint - 0xD800) << 10) + (low - 0xDC00);
          } else if (codepoint >= 0xDC00 && codepoint <= 0xDFFF && !options_.pass_lone_low_surrogates) {
            return failed("invalid \\uXXXX\\uXXXX surrogate pair");
          }
          appendUtf8(static_cast<std::uint32_t>(codepoint));
          break;
        }
        default: --at_; return failed("invalid escape in a string");
      }
    }
    return failed("unterminated string");
  }

  std::optional<Value> number() {
    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    const char* start = at_;
    auto digits = [&] {
      const char* from = at_;
      while (at_ != end_ && *at_ >= '0' && *at_ <= '9') ++at_;
      return at_ != from;
    };
    if (at_ != end_ && *at_ == '-') ++at_;
    if (at_ != end_ && *at_ == '0') {
      ++at_;
    } else if (!digits()) {
      return fail("expected a JSON value");
    }
    if (at_ != end_ && *at_ == '.') {
      ++at_;
      if (!digits()) return fail("expected digits after the decimal point");
    }
    if (at_ != end_ && (*at_ == 'e' || *at_ == 'E')) {
      ++at_;
      if (at_ != end_ && (*at_ == '+' || *at_ == '-')) ++at_;
      if (!digits()) return fail("expected digits in the exponent");
    }
    auto result = builder_.number(std::string_view(start, static_cast<std::size_t>(at_ - start)));
    if (!result) {
      at_ = start;
      return fail("number out of range");
    }
    return result;
  }

  const char* begin_;
  const char* at_;
  const char* end_;
  Builder& builder_;
  ReaderOptions options_;
  std::string error_;
  const char* error_at_ = nullptr;
  std::string scratch_;  // a string with escapes, decoded
};

}  // namespace switchboard::json
