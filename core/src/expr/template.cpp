#include <algorithm>

#include "switchboard/template.hpp"

namespace switchboard {

Template Template::compile(std::string_view text, const Scope& scope) {
  Template result;
  result.text_ = std::string(text);
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      literal += "${";
      i += 3;
    } else if (text.compare(i, 2, "${") == 0) {
      const auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) throw SyntaxError(i, "unterminated '${': expected '}'");
      Reference reference;
      try {
        reference = Reference::parse(text.substr(i + 2, close - i - 2), scope);
      } catch (const SyntaxError& e) {
        throw SyntaxError(i + 2 + e.offset(), e.what());
      }
      if (!literal.empty()) result.parts_.push_back(Part{true, std::move(literal), {}});
      literal.clear();
      result.parts_.push_back(Part{false, {}, std::move(reference)});
      i = close + 1;
    } else {
      literal += text[i++];
    }
  }
  if (!literal.empty()) result.parts_.push_back(Part{true, std::move(literal), {}});
  return result;
}

std::string Template::render(const Message& message) const {
  std::string out;
  for (const auto& part : parts_) out += part.is_literal ? part.literal : part.reference.render(message);
  return out;
}

std::string Template::render(const Message& message, std::string (*escape)(std::string_view)) const {
  std::string out;
  for (const auto& part : parts_) out += part.is_literal ? part.literal : escape(part.reference.render(message));
  return out;
}

bool Template::isConstant() const noexcept {
  return std::all_of(parts_.begin(), parts_.end(), [](const Part& p) { return p.is_literal; });
}

}  // namespace switchboard
