#include <cctype>

#include "switchboard/template.hpp"

namespace switchboard {

JsonPath JsonPath::parse(std::string_view text) {
  JsonPath path;
  // "a.b" reads as ".a.b"; offsets in errors stay relative to the text as written.
  const bool implicit_dot = !text.empty() && text[0] != '.' && text[0] != '[';
  std::string owned;
  owned.reserve(text.size() + 1);
  if (implicit_dot) owned += '.';
  owned += text;
  const std::string_view t(owned);
  const std::size_t shift = implicit_dot ? 1 : 0;
  auto fail = [&](std::size_t at, const std::string& message) -> SyntaxError {
    return SyntaxError(at >= shift ? at - shift : 0, message);
  };
  std::size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '.') {
      const auto start = ++i;
      while (i < t.size() && t[i] != '.' && t[i] != '[') ++i;
      if (i == start) throw fail(start, "expected a field name after '.'");
      path.segments_.push_back(Segment{false, std::string(t.substr(start, i - start)), 0});
    } else if (t[i] == '[') {
      ++i;
      if (i < t.size() && (t[i] == '\'' || t[i] == '"')) {
        const char quote = t[i];
        const auto start = ++i;
        while (i < t.size() && t[i] != quote) ++i;
        if (i >= t.size()) throw fail(start - 1, "unterminated quoted field name");
        path.segments_.push_back(Segment{false, std::string(t.substr(start, i - start)), 0});
        ++i;
      } else {
        const auto start = i;
        std::size_t index = 0;
        while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) {
          if (index > 100'000'000) throw fail(start, "array index too large");
          index = index * 10 + static_cast<std::size_t>(t[i] - '0');
          ++i;
        }
        if (i == start) throw fail(start, "expected an array index or a quoted name after '['");
        path.segments_.push_back(Segment{true, {}, index});
      }
      if (i >= t.size() || t[i] != ']') throw fail(i, "expected ']'");
      ++i;
    } else {
      throw fail(i, "expected '.' or '[' in a path");
    }
  }
  return path;
}

const nlohmann::json* JsonPath::find(const nlohmann::json& root) const {
  const nlohmann::json* node = &root;
  for (const auto& segment : segments_) {
    if (segment.is_index) {
      if (!node->is_array() || segment.index >= node->size()) return nullptr;
      node = &(*node)[segment.index];
    } else {
      if (!node->is_object()) return nullptr;
      auto it = node->find(segment.key);
      if (it == node->end()) return nullptr;
      node = &*it;
    }
  }
  return node;
}

}  // namespace switchboard
