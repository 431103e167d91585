#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <system_error>

#include "switchboard/regex.hpp"
#include "switchboard/status.hpp"
#include "switchboard/template.hpp"

namespace switchboard {

struct Expression::Node {
  enum class Kind { Literal, Ref, Not, And, Or, Compare, Contains, Matches, Exists };
  enum class Op { Eq, Ne, Lt, Le, Gt, Ge };

  Kind kind = Kind::Literal;
  Op op = Op::Eq;
  nlohmann::json literal;
  Reference reference;
  std::shared_ptr<const Node> left, right;
  std::optional<Regex> pattern;
};

namespace {

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

struct Token {
  enum class Kind { End, String, Number, Word, Ref, Op } kind = Kind::End;
  std::string text;
  std::size_t offset = 0;
};

std::optional<double> asNumber(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const auto& text = value.get_ref<const std::string&>();
  // Decimal numbers only: strtod alone would also read "nan", "inf", hex and leading spaces.
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return number;
}

std::string asText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return {};
  return value.dump();
}

// false, null, 0, "", "false", [] and {} are false; every other value is true.
bool truthy(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_null()) return false;
  if (value.is_number()) return value.get<double>() != 0.0;
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return !text.empty() && text != "false";
  }
  return !value.empty();
}

// libstdc++ reads the number of a back-reference (\12) or of a repetition count ({2,5})
// without an overflow check: undefined behaviour, and a wrapped value can make the pattern
// mean another. No pattern needs such a number of ten digits or more, so those are refused.
class Parser {
 public:
  Parser(std::string_view text, const Scope& scope) : text_(text), scope_(scope) { advance(); }

  NodePtr parse() {
    auto node = parseOr();
    if (token_.kind != Token::Kind::End) fail(token_.offset, "unexpected '" + token_.text + "'");
    return node;
  }

 private:
  [[noreturn]] static void fail(std::size_t offset, const std::string& message) { throw SyntaxError(offset, message); }

  void advance() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    token_ = Token{};
    token_.offset = pos_;
    if (pos_ >= text_.size()) return;
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      ++pos_;
      std::string value;
      while (pos_ < text_.size() && text_[pos_] != c) {
        // A backslash escapes the quote and itself; before any other character it is kept, so
        // regular expressions such as '\d+' or '\.xml$' mean what they say.
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size() && (text_[pos_ + 1] == c || text_[pos_ + 1] == '\\')) {
          ++pos_;
        }
        value += text_[pos_++];
      }
      if (pos_ >= text_.size()) fail(token_.offset, "unterminated string literal");
      ++pos_;
      token_ = Token{Token::Kind::String, std::move(value), token_.offset};
    } else if (text_.compare(pos_, 2, "${") == 0) {
      const auto close = text_.find('}', pos_);
      if (close == std::string_view::npos) fail(pos_, "unterminated '${': expected '}'");
      token_ = Token{Token::Kind::Ref, std::string(text_.substr(pos_ + 2, close - pos_ - 2)), pos_};
      pos_ = close + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && pos_ + 1 < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])))) {
      const auto start = pos_++;
      while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
                                     text_[pos_] == 'e' || text_[pos_] == 'E')) {
        ++pos_;
      }
      token_ = Token{Token::Kind::Number, std::string(text_.substr(start, pos_ - start)), start};
    } else if (std::isalpha(static_cast<unsigned char>(c))) {
      const auto start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
        ++pos_;
      token_ = Token{Token::Kind::Word, std::string(text_.substr(start, pos_ - start)), start};
    } else {
      static const char* kOps[] = {"==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")"};
      for (const char* op : kOps) {
        if (text_.compare(pos_, std::char_traits<char>::length(op), op) == 0) {
          pos_ += std::char_traits<char>::length(op);
          token_ = Token{Token::Kind::Op, op, token_.offset};
          return;
        }
      }
      fail(pos_, std::string("unexpected character '") + c + "'");
    }
  }

  // Each '(' and '!' recurses, in parsing and in evaluation: a bound keeps a long run of
  // them from exhausting the stack.
  void enter(std::size_t at) {
    if (++depth_ > kMaxDepth) fail(at, "expression nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }

  bool acceptOp(std::string_view op) {
    if (token_.kind == Token::Kind::Op && token_.text == op) {
      advance();
      return true;
    }
    return false;
  }

  static NodePtr binary(Node::Kind kind, NodePtr left, NodePtr right) {
    auto node = std::make_shared<Node>();
    node->kind = kind;
    node->left = std::move(left);
    node->right = std::move(right);
    return node;
  }

  NodePtr parseOr() {
    auto left = parseAnd();
    while (acceptOp("||")) left = binary(Node::Kind::Or, left, parseAnd());
    return left;
  }

  NodePtr parseAnd() {
    auto left = parseNot();
    while (acceptOp("&&")) left = binary(Node::Kind::And, left, parseNot());
    return left;
  }

  NodePtr parseNot() {
    const auto at = token_.offset;
    if (acceptOp("!")) {
      enter(at);
      auto inner = parseNot();
      --depth_;
      return binary(Node::Kind::Not, std::move(inner), nullptr);
    }
    return parseComparison();
  }

  NodePtr parseComparison() {
    auto left = parsePrimary();
    static const std::pair<const char*, Node::Op> kCompare[] = {{"==", Node::Op::Eq}, {"!=", Node::Op::Ne},
                                                                {"<", Node::Op::Lt},  {"<=", Node::Op::Le},
                                                                {">", Node::Op::Gt},  {">=", Node::Op::Ge}};
    if (token_.kind == Token::Kind::Op) {
      for (const auto& [text, op] : kCompare) {
        if (token_.text != text) continue;
        const auto at = token_.offset;
        advance();
        auto node = std::make_shared<Node>();
        node->kind = Node::Kind::Compare;
        node->op = op;
        node->left = left;
        node->right = parsePrimary();
        if (op != Node::Op::Eq && op != Node::Op::Ne) {
          for (const auto& side : {node->left, node->right}) {
            if (side->kind == Node::Kind::Literal && (side->literal.is_boolean() || side->literal.is_null())) {
              fail(at, "'" + std::string(text) + "' compares numbers or text, not " + side->literal.dump());
            }
          }
        }
        return node;
      }
    }
    if (token_.kind == Token::Kind::Word && token_.text == "contains") {
      advance();
      return binary(Node::Kind::Contains, left, parsePrimary());
    }
    if (token_.kind == Token::Kind::Word && token_.text == "matches") {
      advance();
      if (token_.kind != Token::Kind::String) fail(token_.offset, "'matches' needs a quoted regular expression");
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::Matches;
      node->left = left;
      try {
        node->pattern.emplace(token_.text);
      } catch (const RegexSyntaxError& e) {
        fail(token_.offset, std::string("invalid regular expression: ") + e.what() + " (at offset " +
                                std::to_string(e.offset()) + " in the pattern)");
      }
      advance();
      return node;
    }
    return left;
  }

  NodePtr parseReference() {
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::Ref;
    try {
      node->reference = Reference::parse(token_.text, scope_);
    } catch (const SyntaxError& e) {
      fail(token_.offset + 2 + e.offset(), e.what());
    }
    advance();
    return node;
  }

  NodePtr parsePrimary() {
    auto node = std::make_shared<Node>();
    switch (token_.kind) {
      case Token::Kind::String:
        node->literal = token_.text;
        advance();
        return node;
      case Token::Kind::Number: {
        char* end = nullptr;
        const double value = std::strtod(token_.text.c_str(), &end);
        if (end != token_.text.c_str() + token_.text.size())
          fail(token_.offset, "malformed number '" + token_.text + "'");
        std::int64_t integer = 0;
        const char* last = token_.text.data() + token_.text.size();
        if (token_.text.find_first_of(".eE") == std::string::npos &&
            std::from_chars(token_.text.data(), last, integer).ec == std::errc{}) {
          node->literal = integer;
        } else {
          node->literal = value;  // a fraction, an exponent, or an integer beyond 64 bits
        }
        advance();
        return node;
      }
      case Token::Kind::Ref: return parseReference();
      case Token::Kind::Word:
        if (token_.text == "true" || token_.text == "false") {
          node->literal = token_.text == "true";
        } else if (token_.text == "null") {
          node->literal = nullptr;
        } else if (token_.text == "exists") {
          advance();
          if (!acceptOp("(")) fail(token_.offset, "expected '(' after exists");
          if (token_.kind != Token::Kind::Ref) fail(token_.offset, "exists(...) takes a ${...} reference");
          auto inner = parseReference();
          if (!acceptOp(")")) fail(token_.offset, "expected ')'");
          return binary(Node::Kind::Exists, inner, nullptr);
        } else {
          fail(token_.offset, "unknown word '" + token_.text +
                                  "': expected a quoted string, a number, true, false, null, exists(...) or ${...}");
        }
        advance();
        return node;
      case Token::Kind::Op:
        if (const auto at = token_.offset; acceptOp("(")) {
          enter(at);
          auto inner = parseOr();
          if (!acceptOp(")")) fail(token_.offset, "expected ')'");
          --depth_;
          return inner;
        }
        fail(token_.offset, "unexpected '" + token_.text + "'");
      case Token::Kind::End: break;
    }
    fail(token_.offset, "unexpected end of expression");
  }

  std::string_view text_;
  const Scope& scope_;
  std::size_t pos_ = 0;
  static constexpr std::size_t kMaxDepth = 256;
  std::size_t depth_ = 0;
  Token token_;
};

nlohmann::json evaluate(const Node& node, const Message& message);

bool compare(const Node& node, const Message& message) {
  const auto left = evaluate(*node.left, message);
  const auto right = evaluate(*node.right, message);
  const auto lnum = asNumber(left);
  const auto rnum = asNumber(right);
  int order = 0;
  if (lnum && rnum) {
    order = *lnum < *rnum ? -1 : (*lnum > *rnum ? 1 : 0);
  } else if (node.op == Node::Op::Eq || node.op == Node::Op::Ne) {
    bool equal = false;
    if (left.is_null() || right.is_null()) {
      equal = left.is_null() && right.is_null();
    } else if (left.is_boolean() || right.is_boolean()) {
      equal = truthy(left) == truthy(right);  // a comparison with true/false compares truthiness
    } else {
      equal = asText(left) == asText(right);
    }
    return (node.op == Node::Op::Eq) == equal;
  } else {
    if (left.is_null() || right.is_null()) return false;
    if (lnum || rnum) {
      // A header can hold any bytes; a plain dump() throws on invalid UTF-8.
      const auto shown = [](const nlohmann::json& value) {
        return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      };
      throw MessageError("cannot order " + shown(left) + " and " + shown(right) +
                         ": one is a number, the other is not");
    }
    const auto l = asText(left);
    const auto r = asText(right);
    order = l < r ? -1 : (l > r ? 1 : 0);
  }
  switch (node.op) {
    case Node::Op::Eq: return order == 0;
    case Node::Op::Ne: return order != 0;
    case Node::Op::Lt: return order < 0;
    case Node::Op::Le: return order <= 0;
    case Node::Op::Gt: return order > 0;
    case Node::Op::Ge: return order >= 0;
  }
  return false;
}

nlohmann::json evaluate(const Node& node, const Message& message) {
  switch (node.kind) {
    case Node::Kind::Literal: return node.literal;
    case Node::Kind::Ref: return node.reference.evaluate(message);
    case Node::Kind::Not: return !truthy(evaluate(*node.left, message));
    case Node::Kind::And: return truthy(evaluate(*node.left, message)) && truthy(evaluate(*node.right, message));
    case Node::Kind::Or: return truthy(evaluate(*node.left, message)) || truthy(evaluate(*node.right, message));
    case Node::Kind::Compare: return compare(node, message);
    case Node::Kind::Contains: {
      const auto haystack = evaluate(*node.left, message);
      const auto needle = evaluate(*node.right, message);
      if (haystack.is_array()) {
        for (const auto& item : haystack) {
          if (item == needle || asText(item) == asText(needle)) return true;
        }
        return false;
      }
      return asText(haystack).find(asText(needle)) != std::string::npos;
    }
    case Node::Kind::Matches: try { return node.pattern->search(asText(evaluate(*node.left, message)));
      } catch (const MessageError&) {
        throw;
      } catch (const std::runtime_error& e) {
        throw MessageError(e.what());
      }
    case Node::Kind::Exists: try { return !evaluate(*node.left, message).is_null();
      } catch (const MessageError&) {
        return false;  // a body that is not JSON/XML has no such value
      }
  }
  return nullptr;
}

}  // namespace

Expression Expression::compile(std::string_view text, const Scope& scope) {
  Expression expression;
  expression.text_ = std::string(text);
  expression.root_ = Parser(text, scope).parse();
  return expression;
}

bool Expression::test(const Message& message) const {
  return truthy(evaluate(*root_, message));
}

}  // namespace switchboard
