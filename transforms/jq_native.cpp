#include "jq_native.hpp"

#include "switchboard/json_parse.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory_resource>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace switchboard::transforms::jq_native {

// ---------------------------------------------------------------------------------------
// Printing, as jq 1.6 prints

void appendNumber(std::string& out, double d) {
  if (d != d) {
    out += "null";  // JSON has no NaN; jq writes null
    return;
  }
  d = std::clamp(d, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
  char buffer[64];
  const auto written = std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::scientific).ptr;
  // "-d.ddde+XX": the sign, the digits without the point, and the decimal exponent.
  std::string_view text(buffer, static_cast<std::size_t>(written - buffer));
  if (text.front() == '-') {
    out += '-';
    text.remove_prefix(1);
  }
  const auto e = text.find('e');
  char digits[32];
  int count = 0;
  digits[count++] = text[0];
  for (std::size_t i = 2; i < e; ++i) digits[count++] = text[i];
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(), exponent);
  const int decpt = exponent + 1;  // digits before the point
  if (decpt <= -4 || decpt > count + 15) {
    out += digits[0];
    if (count > 1) {
      out += '.';
      out.append(digits + 1, static_cast<std::size_t>(count - 1));
    }
    out += 'e';
    int shown = decpt - 1;
    out += shown < 0 ? '-' : '+';
    shown = std::abs(shown);
    if (shown < 10) out += '0';  // at least two digits, as "%+.2d"
    out += std::to_string(shown);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out.append(digits, static_cast<std::size_t>(count));
  } else if (decpt >= count) {
    out.append(digits, static_cast<std::size_t>(count));
    out.append(static_cast<std::size_t>(decpt - count), '0');
  } else {
    out.append(digits, static_cast<std::size_t>(decpt));
    out += '.';
    out.append(digits + decpt, static_cast<std::size_t>(count - decpt));
  }
}

void appendString(std::string& out, std::string_view utf8) {
  out += '"';
  const char* plain = utf8.data();  // the start of bytes written as they are
  const char* end = utf8.data() + utf8.size();
  for (const char* at = plain; at != end; ++at) {
    const auto byte = static_cast<unsigned char>(*at);
    if (byte >= 0x20 && byte != '"' && byte != '\\' && byte != 0x7F) continue;  // UTF-8 bytes included
    out.append(plain, at);
    plain = at + 1;
    switch (byte) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[byte >> 4];
        out += kHex[byte & 0x0F];
      }
    }
  }
  out.append(plain, end);
  out += '"';
}

namespace {

// ---------------------------------------------------------------------------------------
// Values: immutable nodes in per-run scratch memory, shared freely between results

// In jq's order of kinds: null < false < true < numbers < strings < arrays < objects.
enum class Kind : std::uint8_t { Null, False, True, Number, String, Array, Object };

struct Node;
struct Member {
  std::string_view key;
  const Node* value;
};
struct Node {
  Kind kind;
  std::uint32_t size = 0;  // bytes of a string, items of an array, members of an object
  union {
    double number;
    const char* chars;
    const Node* const* items;
    const Member* members;
  };
};

constexpr Node kNull{Kind::Null, 0, {0}};
constexpr Node kFalse{Kind::False, 0, {0}};
constexpr Node kTrue{Kind::True, 0, {0}};

/// Thrown where jq would fail or where the evaluator does not follow jq exactly.
struct Decline {};

const Node* boolean(bool value) {
  return value ? &kTrue : &kFalse;
}
bool truthy(const Node* node) {
  return node->kind != Kind::Null && node->kind != Kind::False;
}
std::string_view text(const Node* node) {
  return {node->chars, node->size};
}

/// The scratch memory of the run on this thread, released when the run ends.
class Arena {
 public:
  Arena() : resource_(initial_, sizeof initial_) {}
  void release() { resource_.release(); }
  std::pmr::memory_resource* resource() { return &resource_; }

  template <typename T>
  T* allocate(std::size_t count) {
    return static_cast<T*>(resource_.allocate(sizeof(T) * std::max<std::size_t>(count, 1), alignof(T)));
  }
  const Node* number(double value) {
    auto* node = allocate<Node>(1);
    node->kind = Kind::Number;
    node->size = 0;
    node->number = value;
    return node;
  }
  /// A string node over `bytes`, which must outlive the run.
  const Node* string(std::string_view bytes) {
    auto* node = allocate<Node>(1);
    node->kind = Kind::String;
    node->size = static_cast<std::uint32_t>(bytes.size());
    node->chars = bytes.data();
    return node;
  }
  const Node* copyString(std::string_view bytes) {
    char* chars = allocate<char>(bytes.size());
    std::memcpy(chars, bytes.data(), bytes.size());
    return string({chars, bytes.size()});
  }
  const Node* array(const Node* const* items, std::size_t count) {
    auto** copy = allocate<const Node*>(count);
    std::copy(items, items + count, copy);
    auto* node = allocate<Node>(1);
    node->kind = Kind::Array;
    node->size = static_cast<std::uint32_t>(count);
    node->items = copy;
    return node;
  }
  const Node* object(const Member* members, std::size_t count) {
    auto* copy = allocate<Member>(count);
    std::copy(members, members + count, copy);
    auto* node = allocate<Node>(1);
    node->kind = Kind::Object;
    node->size = static_cast<std::uint32_t>(count);
    node->members = copy;
    return node;
  }

 private:
  alignas(std::max_align_t) std::byte initial_[32 * 1024];
  std::pmr::monotonic_buffer_resource resource_;
};

template <typename T>
using ScratchVector = std::pmr::vector<T>;

const Node* find(const Node* object, std::string_view key) {
  for (std::uint32_t i = 0; i < object->size; ++i) {
    if (object->members[i].key == key) return object->members[i].value;
  }
  return nullptr;
}

/// Sets `key` as jq's jv_object_set does: a key already there keeps its place.
void setMember(ScratchVector<Member>& members, std::string_view key, const Node* value) {
  for (auto& member : members) {
    if (member.key == key) {
      member.value = value;
      return;
    }
  }
  members.push_back({key, value});
}

// ---------------------------------------------------------------------------------------
// Reading a body

/// Builds nodes from switchboard::json::Reader. It refuses what it does not read exactly as
/// jq's step does (invalid UTF-8, lone surrogates, duplicate keys, numbers beyond a double,
/// nesting deeper than 256), which the libjq path then reads and reports.
class NodeBuilder {
 public:
  using Value = const Node*;
  using Array = std::size_t;   // where its items start in items_
  using Object = std::size_t;  // where its members start in members_
  static constexpr json::ReaderOptions kOptions{256, true, false};

  explicit NodeBuilder(Arena& arena) : arena_(arena), items_(arena.resource()), members_(arena.resource()) {}

  Value null() { return &kNull; }
  Value boolean(bool value) { return value ? &kTrue : &kFalse; }
  std::optional<Value> number(std::string_view literal) {
    double number = 0;
    const auto [end, error] = std::from_chars(literal.data(), literal.data() + literal.size(), number);
    if (error != std::errc()) return std::nullopt;  // beyond a double
    return arena_.number(number);
  }
  Value string(std::string_view bytes, bool in_text) {
    return in_text ? arena_.string(bytes) : arena_.copyString(bytes);
  }
  Array beginArray() { return items_.size(); }
  void append(Array&, Value&& item) { items_.push_back(item); }
  Value endArray(Array&& start) {
    const Node* array = arena_.array(items_.data() + start, items_.size() - start);
    items_.resize(start);
    return array;
  }
  Object beginObject() { return members_.size(); }
  void set(Object&, std::string_view key, bool key_in_text, Value&& value) {
    members_.push_back({key_in_text ? key : text(arena_.copyString(key)), value});
  }
  std::optional<Value> endObject(Object&& start) {
    const Member* first = members_.data() + start;
    const std::size_t count = members_.size() - start;
    if (hasDuplicateKey(first, count)) return std::nullopt;
    const Node* object = arena_.object(first, count);
    members_.resize(start);
    return object;
  }

 private:
  static bool hasDuplicateKey(const Member* members, std::size_t count) {
    if (count <= 16) {
      for (std::size_t i = 1; i < count; ++i) {
        for (std::size_t j = 0; j < i; ++j) {
          if (members[i].key == members[j].key) return true;
        }
      }
      return false;
    }
    std::vector<std::string_view> keys;
    keys.reserve(count);
    for (std::size_t i = 0; i < count; ++i) keys.push_back(members[i].key);
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }

  Arena& arena_;
  ScratchVector<const Node*> items_;  // items of the arrays being read, innermost last
  ScratchVector<Member> members_;     // members of the objects being read, innermost last
};

// ---------------------------------------------------------------------------------------
// Writing

void write(std::string& out, const Node* node) {
  switch (node->kind) {
    case Kind::Null: out += "null"; break;
    case Kind::False: out += "false"; break;
    case Kind::True: out += "true"; break;
    case Kind::Number: appendNumber(out, node->number); break;
    case Kind::String: appendString(out, text(node)); break;
    case Kind::Array:
      out += '[';
      for (std::uint32_t i = 0; i < node->size; ++i) {
        if (i > 0) out += ',';
        write(out, node->items[i]);
      }
      out += ']';
      break;
    case Kind::Object:
      out += '{';
      for (std::uint32_t i = 0; i < node->size; ++i) {
        if (i > 0) out += ',';
        appendString(out, node->members[i].key);
        out += ':';
        write(out, node->members[i].value);
      }
      out += '}';
      break;
  }
}

// ---------------------------------------------------------------------------------------
// jq's order and equality (jv_cmp, jv_equal)

int compareKeys(std::string_view a, std::string_view b) {
  return a.compare(b) < 0 ? -1 : a == b ? 0 : 1;
}

std::vector<std::string_view> sortedKeys(const Node* object) {
  std::vector<std::string_view> keys;
  keys.reserve(object->size);
  for (std::uint32_t i = 0; i < object->size; ++i) keys.push_back(object->members[i].key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

int compare(const Node* a, const Node* b) {
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  switch (a->kind) {
    case Kind::Number: return a->number < b->number ? -1 : a->number == b->number ? 0 : 1;
    case Kind::String: return compareKeys(text(a), text(b));
    case Kind::Array:
      for (std::uint32_t i = 0;; ++i) {
        const bool a_done = i >= a->size;
        const bool b_done = i >= b->size;
        if (a_done || b_done) return static_cast<int>(b_done) - static_cast<int>(a_done);
        if (const int r = compare(a->items[i], b->items[i])) return r;
      }
    case Kind::Object: {
      const auto keys_a = sortedKeys(a);
      const auto keys_b = sortedKeys(b);
      for (std::size_t i = 0;; ++i) {
        const bool a_done = i >= keys_a.size();
        const bool b_done = i >= keys_b.size();
        if (a_done || b_done) {
          if (a_done != b_done) return static_cast<int>(b_done) - static_cast<int>(a_done);
          break;
        }
        if (const int r = compareKeys(keys_a[i], keys_b[i])) return r;
      }
      for (const auto key : keys_a) {
        if (const int r = compare(find(a, key), find(b, key))) return r;
      }
      return 0;
    }
    default: return 0;
  }
}

bool equal(const Node* a, const Node* b) {
  if (a->kind != b->kind) return false;
  if (a->kind == Kind::Number) return a->number == b->number;
  return a == b || compare(a, b) == 0;
}

// ---------------------------------------------------------------------------------------
// Programs

enum class Op : std::uint8_t {
  Identity,
  Field,    // .key
  Index,    // .[n]
  Iterate,  // .[]
  Literal,
  Pipe,         // kids: left, right
  Comma,        // kids: left, right
  Collect,      // [f]; no kids: []
  Object,       // kids: key, value, key, value, ...
  Alternative,  // a // b
  And,
  Or,
  Compare,  // symbol: '=' == , '!' != , '<', 'l' <=, '>', 'g' >=
  Arith,    // symbol: + - * / %
  Negate,
  Length,
  Add,
  Keys,
  KeysUnsorted,
  Not,
  Type,
  Empty,
  ToString,
  If,  // kids: condition, then, else
};

struct Ast {
  Op op = Op::Identity;
  char symbol = 0;
  std::int64_t index = 0;
  std::string_view key;
  const Node* literal = nullptr;
  std::vector<Ast> kids;
};

}  // namespace

class Program {
 public:
  Ast root;
  std::deque<std::string> strings;  // the program's string literals, decoded
  std::deque<Node> literals;
};

void ProgramDeleter::operator()(const Program* program) const {
  delete program;
}

namespace {

struct CompileFailure {};

/// Reads the subset of jq's grammar (jq 1.6 parser.y precedences) into an Ast; anything
/// else throws CompileFailure.
class Compiler {
 public:
  Compiler(std::string_view source, Program& program) : source_(source), program_(program) { next(); }

  Ast program() {
    Ast root = pipe();
    if (token_.kind != Token::End) throw CompileFailure{};
    return root;
  }

 private:
  struct Token {
    enum Kind { End, Punct, Field, Ident, String, Number } kind = End;
    std::string_view text;  // punctuation, field or identifier name
    std::string string;     // a string literal, decoded
    double number = 0;
  };

  // -- lexer --------------------------------------------------------------------------------
  static bool identStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
  static bool identPart(char c) { return identStart(c) || (c >= '0' && c <= '9'); }

  void next() {
    token_ = Token{};
    for (;;) {
      while (at_ < source_.size() && std::isspace(static_cast<unsigned char>(source_[at_]))) ++at_;
      if (at_ < source_.size() && source_[at_] == '#') {
        while (at_ < source_.size() && source_[at_] != '\n') ++at_;
        continue;
      }
      break;
    }
    if (at_ >= source_.size()) return;
    const char c = source_[at_];
    const auto rest = source_.substr(at_);
    if (c == '"') return lexString();
    if ((c >= '0' && c <= '9') || (c == '.' && rest.size() > 1 && rest[1] >= '0' && rest[1] <= '9')) return lexNumber();
    if (c == '.' && rest.size() > 1 && identStart(rest[1])) {
      std::size_t end = 2;
      while (end < rest.size() && identPart(rest[end])) ++end;
      token_.kind = Token::Field;
      token_.text = rest.substr(1, end - 1);
      at_ += end;
      return;
    }
    if (identStart(c)) {
      std::size_t end = 1;
      while (end < rest.size() && identPart(rest[end])) ++end;
      if (end < rest.size() && rest[end] == ':' && end + 1 < rest.size() && rest[end + 1] == ':')
        throw CompileFailure{};
      token_.kind = Token::Ident;
      token_.text = rest.substr(0, end);
      at_ += end;
      return;
    }
    // Longest punctuation first; assignments, `?//`, `..`, `$` and `@` are outside the subset.
    static constexpr std::string_view kPunct[] = {"==", "!=", "<=", ">=", "//", "|", ",", ".", "[", "]", "{", "}",
                                                  "(",  ")",  ":",  ";",  "+",  "-", "*", "/", "%", "<", ">"};
    for (const auto punct : kPunct) {
      if (rest.starts_with(punct)) {
        const auto after = rest.substr(punct.size());
        if (!after.empty() && after[0] == '=' &&
            (punct == "|" || punct == "//" || punct == "+" || punct == "-" || punct == "*" || punct == "/" ||
             punct == "%")) {
          throw CompileFailure{};  // an update-assignment
        }
        if (punct == "." && !after.empty() && after[0] == '.') throw CompileFailure{};  // recurse
        token_.kind = Token::Punct;
        token_.text = punct;
        at_ += punct.size();
        return;
      }
    }
    throw CompileFailure{};
  }

  void lexNumber() {
    const auto rest = source_.substr(at_);
    std::size_t end = 0;
    while (end < rest.size() && rest[end] >= '0' && rest[end] <= '9') ++end;
    if (end < rest.size() && rest[end] == '.') {
      ++end;
      while (end < rest.size() && rest[end] >= '0' && rest[end] <= '9') ++end;
    }
    if (end < rest.size() && (rest[end] == 'e' || rest[end] == 'E')) {
      std::size_t exponent = end + 1;
      if (exponent < rest.size() && (rest[exponent] == '+' || rest[exponent] == '-')) ++exponent;
      if (exponent < rest.size() && rest[exponent] >= '0' && rest[exponent] <= '9') {
        end = exponent;
        while (end < rest.size() && rest[end] >= '0' && rest[end] <= '9') ++end;
      }
    }
    token_.kind = Token::Number;
    token_.number = std::strtod(std::string(rest.substr(0, end)).c_str(), nullptr);
    at_ += end;
  }

  /// A string literal: jq's escapes are JSON's, so the JSON reader decodes it once the
  /// literal is known to hold neither interpolation nor surrogate escapes (which jq 1.6
  /// decodes its own way); a literal it refuses (raw control characters, invalid UTF-8) is
  /// left to libjq.
  void lexString() {
    std::size_t end = at_ + 1;
    for (; end < source_.size() && source_[end] != '"'; ++end) {
      if (source_[end] != '\\') continue;
      const auto escape = source_.substr(end + 1, 3);
      if (escape.starts_with('(')) throw CompileFailure{};
      if (escape.size() == 3 && escape[0] == 'u' && (escape[1] == 'd' || escape[1] == 'D') &&
          std::string_view("89abcdefABCDEF").find(escape[2]) != std::string_view::npos) {
        throw CompileFailure{};
      }
      ++end;  // the escaped character
    }
    if (end >= source_.size()) throw CompileFailure{};
    nlohmann::json decoded;
    try {
      decoded = json::parse<nlohmann::json>(source_.substr(at_, end + 1 - at_));
    } catch (const nlohmann::json::exception&) {
      throw CompileFailure{};
    }
    token_.kind = Token::String;
    token_.string = decoded.get<std::string>();
    at_ = end + 1;
  }

  bool isPunct(std::string_view punct) const { return token_.kind == Token::Punct && token_.text == punct; }
  bool accept(std::string_view punct) {
    if (!isPunct(punct)) return false;
    next();
    return true;
  }
  void expect(std::string_view punct) {
    if (!accept(punct)) throw CompileFailure{};
  }
  bool isWord(std::string_view word) const { return token_.kind == Token::Ident && token_.text == word; }

  // -- values held by the program -----------------------------------------------------------
  std::string_view keep(std::string text) { return program_.strings.emplace_back(std::move(text)); }
  const Node* literalNumber(double value) {
    auto& node = program_.literals.emplace_back(kNull);
    node.kind = Kind::Number;
    node.number = value;
    return &node;
  }
  const Node* literalString(std::string_view bytes) {
    auto& node = program_.literals.emplace_back(kNull);
    node.kind = Kind::String;
    node.size = static_cast<std::uint32_t>(bytes.size());
    node.chars = bytes.data();
    return &node;
  }

  static Ast make(Op op, std::vector<Ast> kids = {}, char symbol = 0) {
    Ast ast;
    ast.op = op;
    ast.kids = std::move(kids);
    ast.symbol = symbol;
    return ast;
  }
  static Ast literal(const Node* node) {
    Ast ast;
    ast.op = Op::Literal;
    ast.literal = node;
    return ast;
  }
  static Ast field(std::string_view key) {
    Ast ast;
    ast.op = Op::Field;
    ast.key = key;
    return ast;
  }
  static Ast then(Ast left, Ast right) {
    if (left.op == Op::Identity) return right;
    std::vector<Ast> kids;
    kids.push_back(std::move(left));
    kids.push_back(std::move(right));
    return make(Op::Pipe, std::move(kids));
  }
  static Ast binary(Op op, Ast left, Ast right, char symbol = 0) {
    std::vector<Ast> kids;
    kids.push_back(std::move(left));
    kids.push_back(std::move(right));
    return make(op, std::move(kids), symbol);
  }

  // -- grammar (lowest precedence first) ----------------------------------------------------
  Ast pipe() {  // right-associative
    Ast left = comma();
    if (accept("|")) return then(std::move(left), pipe());
    return left;
  }
  Ast comma() {
    Ast left = alternative();
    while (accept(",")) left = binary(Op::Comma, std::move(left), alternative());
    return left;
  }
  Ast alternative() {  // right-associative
    Ast left = disjunction();
    if (accept("//")) return binary(Op::Alternative, std::move(left), alternative());
    return left;
  }
  Ast disjunction() {
    Ast left = conjunction();
    while (isWord("or")) {
      next();
      left = binary(Op::Or, std::move(left), conjunction());
    }
    return left;
  }
  Ast conjunction() {
    Ast left = comparison();
    while (isWord("and")) {
      next();
      left = binary(Op::And, std::move(left), comparison());
    }
    return left;
  }
  Ast comparison() {  // non-associative
    Ast left = additive();
    static constexpr std::pair<std::string_view, char> kOps[] = {{"==", '='}, {"!=", '!'}, {"<=", 'l'},
                                                                 {">=", 'g'}, {"<", '<'},  {">", '>'}};
    for (const auto& [punct, symbol] : kOps) {
      if (accept(punct)) return binary(Op::Compare, std::move(left), additive(), symbol);
    }
    return left;
  }
  Ast additive() {
    Ast left = multiplicative();
    for (;;) {
      if (accept("+")) {
        left = binary(Op::Arith, std::move(left), multiplicative(), '+');
      } else if (accept("-")) {
        left = binary(Op::Arith, std::move(left), multiplicative(), '-');
      } else {
        return left;
      }
    }
  }
  Ast multiplicative() {
    Ast left = unary();
    for (;;) {
      char symbol = 0;
      if (isPunct("*")) symbol = '*';
      if (isPunct("/")) symbol = '/';
      if (isPunct("%")) symbol = '%';
      if (!symbol) return left;
      next();
      left = binary(Op::Arith, std::move(left), unary(), symbol);
    }
  }
  /// jq's `'-' Exp` binds as tightly as binary minus: it negates the product that follows,
  /// so `-a * b` is -(a * b) and `-a + b` is (-a) + b.
  Ast unary() {
    if (accept("-")) return make(Op::Negate, vec(multiplicative()));
    return postfix();
  }
  static std::vector<Ast> vec(Ast ast) {
    std::vector<Ast> kids;
    kids.push_back(std::move(ast));
    return kids;
  }

  /// A term and its suffixes: .key, ."key", [], [n], ["key"].
  Ast postfix() {
    Ast term = primary();
    for (;;) {
      if (token_.kind == Token::Field) {
        const auto key = keep(std::string(token_.text));
        next();
        term = then(std::move(term), field(key));
      } else if (isPunct(".")) {
        next();
        if (token_.kind != Token::String) throw CompileFailure{};
        const auto key = keep(std::move(token_.string));
        next();
        term = then(std::move(term), field(key));
      } else if (accept("[")) {
        term = then(std::move(term), subscript());
      } else if (isPunct("?")) {
        throw CompileFailure{};
      } else {
        return term;
      }
    }
  }

  /// After `[`: `]`, a string or an integer, then `]`. Other keys (computed, slices) are jq's.
  Ast subscript() {
    if (accept("]")) return make(Op::Iterate);
    Ast ast;
    if (token_.kind == Token::String) {
      ast = field(keep(std::move(token_.string)));
      next();
    } else {
      const bool negative = accept("-");
      if (token_.kind != Token::Number) throw CompileFailure{};
      const double number = negative ? -token_.number : token_.number;
      if (number != std::floor(number) || std::fabs(number) > 1e9) throw CompileFailure{};
      ast.op = Op::Index;
      ast.index = static_cast<std::int64_t>(number);
      next();
    }
    expect("]");
    return ast;
  }

  Ast primary() {
    if (token_.kind == Token::Field) {
      const auto key = keep(std::string(token_.text));
      next();
      return field(key);
    }
    if (token_.kind == Token::Number) {
      const Node* node = literalNumber(token_.number);
      next();
      return literal(node);
    }
    if (token_.kind == Token::String) {
      const Node* node = literalString(keep(std::move(token_.string)));
      next();
      return literal(node);
    }
    if (accept(".")) {
      if (token_.kind == Token::String) {  // ."key"
        const auto key = keep(std::move(token_.string));
        next();
        return field(key);
      }
      return make(Op::Identity);
    }
    if (accept("(")) {
      Ast inner = pipe();
      expect(")");
      return inner;
    }
    if (accept("[")) {
      if (accept("]")) return make(Op::Collect);
      Ast inner = pipe();
      expect("]");
      return make(Op::Collect, vec(std::move(inner)));
    }
    if (accept("{")) return object();
    if (token_.kind == Token::Ident) return call();
    throw CompileFailure{};
  }

  Ast object() {
    std::vector<Ast> kids;
    if (accept("}")) return make(Op::Object);
    for (;;) {
      if (token_.kind == Token::Ident) {
        const auto name = keep(std::string(token_.text));
        next();
        kids.push_back(literal(literalString(name)));
        if (accept(":")) {
          kids.push_back(objectValue());
        } else if (!isKeyword(name)) {
          kids.push_back(field(name));  // {a} is {a: .a}
        } else {
          throw CompileFailure{};
        }
      } else if (token_.kind == Token::String) {
        const auto name = keep(std::move(token_.string));
        next();
        expect(":");
        kids.push_back(literal(literalString(name)));
        kids.push_back(objectValue());
      } else if (accept("(")) {
        kids.push_back(pipe());
        expect(")");
        expect(":");
        kids.push_back(objectValue());
      } else {
        throw CompileFailure{};
      }
      if (accept("}")) return make(Op::Object, std::move(kids));
      expect(",");
    }
  }

  /// jq's ExpD: terms joined by `|`, or a negated term.
  Ast objectValue() {
    Ast value = accept("-") ? make(Op::Negate, vec(postfix())) : postfix();
    if (accept("|")) return then(std::move(value), objectValue());
    if (!isPunct(",") && !isPunct("}")) throw CompileFailure{};
    return value;
  }

  static bool isKeyword(std::string_view word) {
    static constexpr std::string_view kKeywords[] = {"and",  "or",    "not",   "if",     "then",    "elif",
                                                     "else", "end",   "as",    "def",    "reduce",  "foreach",
                                                     "try",  "catch", "label", "import", "include", "__loc__"};
    return std::find(std::begin(kKeywords), std::end(kKeywords), word) != std::end(kKeywords);
  }

  Ast call() {
    const auto name = token_.text;
    next();
    if (name == "if") return conditional();
    if (name == "true") return literal(&kTrue);
    if (name == "false") return literal(&kFalse);
    if (name == "null") return literal(&kNull);
    std::vector<Ast> args;
    if (accept("(")) {
      args.push_back(pipe());
      while (accept(";")) args.push_back(pipe());
      expect(")");
    }
    if (args.size() == 1) {
      // As jq defines them: def select(f): if f then . else empty end; def map(f): [.[] | f];
      if (name == "select") {
        std::vector<Ast> kids;
        kids.push_back(std::move(args[0]));
        kids.push_back(make(Op::Identity));
        kids.push_back(make(Op::Empty));
        return make(Op::If, std::move(kids));
      }
      if (name == "map") return make(Op::Collect, vec(then(make(Op::Iterate), std::move(args[0]))));
      throw CompileFailure{};
    }
    static constexpr std::pair<std::string_view, Op> kBuiltins[] = {
        {"length", Op::Length}, {"add", Op::Add},   {"keys", Op::Keys},   {"keys_unsorted", Op::KeysUnsorted},
        {"not", Op::Not},       {"type", Op::Type}, {"empty", Op::Empty}, {"tostring", Op::ToString}};
    for (const auto& [builtin, op] : kBuiltins) {
      if (builtin == name && args.empty()) return make(op);
    }
    throw CompileFailure{};
  }

  /// After `if`: cond then a (elif cond then b)* else c end.
  Ast conditional() {
    std::vector<Ast> kids;
    kids.push_back(pipe());
    if (!isWord("then")) throw CompileFailure{};
    next();
    kids.push_back(pipe());
    if (isWord("elif")) {
      next();
      kids.push_back(conditional());
      return make(Op::If, std::move(kids));
    }
    if (!isWord("else")) throw CompileFailure{};
    next();
    kids.push_back(pipe());
    if (!isWord("end")) throw CompileFailure{};
    next();
    return make(Op::If, std::move(kids));
  }

  std::string_view source_;
  std::size_t at_ = 0;
  Program& program_;
  Token token_;
};

// ---------------------------------------------------------------------------------------
// Evaluation: each expression calls `emit` per output, in jq's order, until it returns false

/// A non-owning callable reference, cheaper than std::function on every output.
class Emit {
 public:
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Emit>) Emit(F& f)
      : object_(&f), call_([](void* object, const Node* node) { return (*static_cast<F*>(object))(node); }) {}
  bool operator()(const Node* node) const { return call_(object_, node); }

 private:
  void* object_;
  bool (*call_)(void*, const Node*);
};

class Evaluator {
 public:
  explicit Evaluator(Arena& arena) : arena_(arena) {}

  bool eval(const Ast& ast, const Node* in, Emit emit) {
    switch (ast.op) {
      case Op::Identity: return emit(in);
      case Op::Literal: return emit(ast.literal);
      case Op::Field:
        if (in->kind == Kind::Object) {
          const Node* value = find(in, ast.key);
          return emit(value ? value : &kNull);
        }
        if (in->kind == Kind::Null) return emit(&kNull);
        throw Decline{};
      case Op::Index: {
        if (in->kind == Kind::Null) return emit(&kNull);
        if (in->kind != Kind::Array) throw Decline{};
        const std::int64_t at = ast.index < 0 ? ast.index + in->size : ast.index;
        return emit(at >= 0 && at < in->size ? in->items[at] : &kNull);
      }
      case Op::Iterate:
        if (in->kind == Kind::Array) {
          for (std::uint32_t i = 0; i < in->size; ++i) {
            if (!emit(in->items[i])) return false;
          }
          return true;
        }
        if (in->kind == Kind::Object) {
          for (std::uint32_t i = 0; i < in->size; ++i) {
            if (!emit(in->members[i].value)) return false;
          }
          return true;
        }
        throw Decline{};
      case Op::Pipe: {
        auto right = [&](const Node* node) { return eval(ast.kids[1], node, emit); };
        return eval(ast.kids[0], in, right);
      }
      case Op::Comma: return eval(ast.kids[0], in, emit) && eval(ast.kids[1], in, emit);
      case Op::Collect: {
        if (ast.kids.empty()) return emit(arena_.array(nullptr, 0));
        ScratchVector<const Node*> items(arena_.resource());
        auto collect = [&](const Node* node) {
          items.push_back(node);
          return true;
        };
        eval(ast.kids[0], in, collect);
        return emit(arena_.array(items.data(), items.size()));
      }
      case Op::Object: {
        ScratchVector<Member> members(arena_.resource());
        return object(ast, 0, in, members, emit);
      }
      case Op::Alternative: {
        bool any = false;
        auto truthyOnly = [&](const Node* node) {
          if (!truthy(node)) return true;
          any = true;
          return emit(node);
        };
        if (!eval(ast.kids[0], in, truthyOnly)) return false;
        return any || eval(ast.kids[1], in, emit);
      }
      case Op::And:
      case Op::Or: {
        const bool is_and = ast.op == Op::And;
        auto right = [&](const Node* node) { return emit(boolean(truthy(node))); };
        auto left = [&](const Node* node) {
          // and: a false left side is false; or: a true left side is true.
          if (truthy(node) != is_and) return emit(boolean(!is_and));
          return eval(ast.kids[1], in, right);
        };
        return eval(ast.kids[0], in, left);
      }
      case Op::Compare:
      case Op::Arith: {
        // jq runs the right operand's outputs in the outer loop.
        auto outer = [&](const Node* right) {
          auto inner = [&](const Node* left) { return emit(binaryOp(ast, left, right)); };
          return eval(ast.kids[0], in, inner);
        };
        return eval(ast.kids[1], in, outer);
      }
      case Op::Negate: {
        auto negate = [&](const Node* node) {
          if (node->kind != Kind::Number) throw Decline{};
          return emit(arena_.number(-node->number));
        };
        return eval(ast.kids[0], in, negate);
      }
      case Op::Length: return emit(length(in));
      case Op::Add: return emit(add(in));
      case Op::Keys:
      case Op::KeysUnsorted: return emit(keys(in, ast.op == Op::Keys));
      case Op::Not: return emit(boolean(!truthy(in)));
      case Op::Type: return emit(arena_.string(typeName(in)));
      case Op::Empty: return true;
      case Op::ToString: {
        if (in->kind == Kind::String) return emit(in);
        std::string dumped;
        write(dumped, in);
        return emit(arena_.copyString(dumped));
      }
      case Op::If: {
        auto branch = [&](const Node* condition) { return eval(ast.kids[truthy(condition) ? 1 : 2], in, emit); };
        return eval(ast.kids[0], in, branch);
      }
    }
    throw Decline{};
  }

 private:
  /// Object construction: for each output of a key (outer), each output of its value.
  bool object(const Ast& ast, std::size_t entry, const Node* in, ScratchVector<Member>& members, Emit emit) {
    if (entry * 2 == ast.kids.size()) return emit(makeObject(members));
    auto perKey = [&](const Node* key) {
      if (key->kind != Kind::String) throw Decline{};
      auto perValue = [&](const Node* value) {
        members.push_back({text(key), value});
        const bool more = object(ast, entry + 1, in, members, emit);
        members.pop_back();
        return more;
      };
      return eval(ast.kids[entry * 2 + 1], in, perValue);
    };
    return eval(ast.kids[entry * 2], in, perKey);
  }

  /// An object of `members` in order, a repeated key set as jq sets it (see setMember).
  const Node* makeObject(const ScratchVector<Member>& members) {
    bool repeated = false;
    for (std::size_t i = 1; i < members.size() && !repeated; ++i) {
      for (std::size_t j = 0; j < i && !repeated; ++j) repeated = members[i].key == members[j].key;
    }
    if (!repeated) return arena_.object(members.data(), members.size());
    ScratchVector<Member> unique(arena_.resource());
    for (const auto& member : members) setMember(unique, member.key, member.value);
    return arena_.object(unique.data(), unique.size());
  }

  const Node* binaryOp(const Ast& ast, const Node* a, const Node* b) {
    if (ast.op == Op::Compare) {
      switch (ast.symbol) {
        case '=': return boolean(equal(a, b));
        case '!': return boolean(!equal(a, b));
        case '<': return boolean(compare(a, b) < 0);
        case 'l': return boolean(compare(a, b) <= 0);
        case '>': return boolean(compare(a, b) > 0);
        default: return boolean(compare(a, b) >= 0);
      }
    }
    if (ast.symbol == '+') return plus(a, b);
    if (a->kind != Kind::Number || b->kind != Kind::Number) throw Decline{};
    const double x = a->number;
    const double y = b->number;
    switch (ast.symbol) {
      case '-': return arena_.number(x - y);
      case '*': return arena_.number(x * y);
      case '/':
        if (y == 0) throw Decline{};
        return arena_.number(x / y);
      default: {
        // jq 1.6: both sides truncated to intmax_t; kept where that is exact and defined.
        constexpr double kExact = 9007199254740992.0;  // 2^53
        if (!(std::fabs(x) < kExact) || !(std::fabs(y) < kExact)) throw Decline{};
        const auto divisor = static_cast<std::int64_t>(y);
        if (divisor == 0) throw Decline{};
        return arena_.number(static_cast<double>(static_cast<std::int64_t>(x) % divisor));
      }
    }
  }

  const Node* plus(const Node* a, const Node* b) {
    if (a->kind == Kind::Null) return b;
    if (b->kind == Kind::Null) return a;
    if (a->kind != b->kind) throw Decline{};
    switch (a->kind) {
      case Kind::Number: return arena_.number(a->number + b->number);
      case Kind::String: {
        char* chars = arena_.allocate<char>(a->size + b->size);
        std::memcpy(chars, a->chars, a->size);
        std::memcpy(chars + a->size, b->chars, b->size);
        return arena_.string({chars, static_cast<std::size_t>(a->size) + b->size});
      }
      case Kind::Array: {
        ScratchVector<const Node*> items(a->items, a->items + a->size, arena_.resource());
        items.insert(items.end(), b->items, b->items + b->size);
        return arena_.array(items.data(), items.size());
      }
      case Kind::Object: {
        ScratchVector<Member> members(a->members, a->members + a->size, arena_.resource());
        for (std::uint32_t i = 0; i < b->size; ++i) setMember(members, b->members[i].key, b->members[i].value);
        return arena_.object(members.data(), members.size());
      }
      default: throw Decline{};  // booleans
    }
  }

  const Node* length(const Node* in) {
    switch (in->kind) {
      case Kind::Null: return arena_.number(0);
      case Kind::Number: return arena_.number(std::fabs(in->number));
      case Kind::String: {
        std::size_t codepoints = 0;
        for (std::uint32_t i = 0; i < in->size; ++i)
          codepoints += (static_cast<unsigned char>(in->chars[i]) & 0xC0) != 0x80;
        return arena_.number(static_cast<double>(codepoints));
      }
      case Kind::Array:
      case Kind::Object: return arena_.number(in->size);
      default: throw Decline{};  // booleans have no length
    }
  }

  const Node* add(const Node* in) {
    // jq: reduce .[] as $x (null; . + $x)
    if (in->kind != Kind::Array && in->kind != Kind::Object) throw Decline{};
    const Node* sum = &kNull;
    for (std::uint32_t i = 0; i < in->size; ++i) {
      sum = plus(sum, in->kind == Kind::Array ? in->items[i] : in->members[i].value);
    }
    return sum;
  }

  const Node* keys(const Node* in, bool sorted) {
    ScratchVector<const Node*> items(arena_.resource());
    if (in->kind == Kind::Array) {
      for (std::uint32_t i = 0; i < in->size; ++i) items.push_back(arena_.number(i));
    } else if (in->kind == Kind::Object) {
      std::vector<std::string_view> names;
      for (std::uint32_t i = 0; i < in->size; ++i) names.push_back(in->members[i].key);
      if (sorted) std::sort(names.begin(), names.end());
      for (const auto name : names) items.push_back(arena_.string(name));
    } else {
      throw Decline{};
    }
    return arena_.array(items.data(), items.size());
  }

  static std::string_view typeName(const Node* in) {
    switch (in->kind) {
      case Kind::Null: return "null";
      case Kind::False:
      case Kind::True: return "boolean";
      case Kind::Number: return "number";
      case Kind::String: return "string";
      case Kind::Array: return "array";
      default: return "object";
    }
  }

  Arena& arena_;
};

}  // namespace

ProgramPtr compile(std::string_view source) {
  auto program = std::make_unique<Program>();
  if (!json::isValidUtf8(source)) return nullptr;
  try {
    program->root = Compiler(source, *program).program();
  } catch (const CompileFailure&) {
    return nullptr;
  }
  return ProgramPtr(program.release());
}

Outcome run(const Program& program, std::string_view body, bool all, std::string& out) {
  thread_local Arena arena;
  struct Release {
    Arena& arena;
    ~Release() { arena.release(); }
  } release{arena};
  try {
    NodeBuilder builder(arena);
    const auto input = json::Reader(body, builder, NodeBuilder::kOptions).read();
    if (!input) return Outcome::Declined;
    Evaluator evaluator(arena);
    if (all) {
      ScratchVector<const Node*> outputs(arena.resource());
      auto collect = [&](const Node* node) {
        outputs.push_back(node);
        return true;
      };
      evaluator.eval(program.root, *input, collect);
      write(out, arena.array(outputs.data(), outputs.size()));
      return Outcome::Output;
    }
    const Node* first = nullptr;
    auto stop = [&](const Node* node) {
      first = node;
      return false;
    };
    evaluator.eval(program.root, *input, stop);
    if (!first) return Outcome::NoOutput;
    write(out, first);
    return Outcome::Output;
  } catch (const Decline&) {
    out.clear();
    return Outcome::Declined;
  }
}

}  // namespace switchboard::transforms::jq_native
