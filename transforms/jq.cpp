// jq: a libjq program run on the JSON body, compiled at load time.
extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>

#include "jq_native.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

/// Reads a message body (strict JSON, RFC 8259) straight into jq values. jq 1.6's own parser
/// reads a byte at a time through a token buffer, which made parsing most of a jq step's
/// time, and it leaks memory on some malformed inputs, which a bus fed by strangers cannot
/// afford. The values are the ones jq builds: numbers are doubles rounded as strtod rounds,
/// strings go through jv_string_sized (which replaces invalid UTF-8 as jq does), keys are set
/// in document order, and a lone low surrogate escape becomes U+FFFD. jq's own extensions
/// (nan, 01, .5, raw control characters in strings) are refused, as every other step refuses
/// them; so is nesting deeper than jq's limit of 256.
class JvParser {
 public:
  explicit JvParser(std::string_view text) : begin_(text.data()), at_(text.data()), end_(text.data() + text.size()) {}

  /// The value; an invalid jv when the text is not JSON, with error() saying why.
  jv parse() {
    if (end_ - at_ >= 3 && std::string_view(at_, 3) == "\xEF\xBB\xBF") at_ += 3;  // a UTF-8 byte order mark
    skipSpace();
    jv result = value(0);
    if (!jv_is_valid(result)) return result;
    skipSpace();
    if (at_ != end_) {
      jv_free(result);
      return fail("unexpected text after the JSON value");
    }
    return result;
  }

  /// What was wrong and where: "expected ':' at line 1, column 7".
  std::string error() const {
    int line = 1;
    const char* line_start = begin_;
    for (const char* p = begin_; p < error_at_; ++p) {
      if (*p == '\n') {
        ++line;
        line_start = p + 1;
      }
    }
    return std::string(error_) + " at line " + std::to_string(line) + ", column " +
           std::to_string(error_at_ - line_start + 1);
  }

 private:
  static constexpr int kMaxDepth = 256;  // jq's own limit

  jv fail(const char* what) {
    if (!error_) {
      error_ = what;
      error_at_ = at_;
    }
    return jv_invalid();
  }
  void skipSpace() {
    while (at_ != end_ && (*at_ == ' ' || *at_ == '\n' || *at_ == '\r' || *at_ == '\t')) ++at_;
  }
  jv literal(std::string_view word, jv value) {
    if (static_cast<std::size_t>(end_ - at_) < word.size() || std::string_view(at_, word.size()) != word) {
      return fail("expected a JSON value");
    }
    at_ += word.size();
    return value;
  }

  jv value(int depth) {
    if (at_ == end_) return fail("unexpected end of the text");
    switch (*at_) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string();
      case 't': return literal("true", jv_true());
      case 'f': return literal("false", jv_false());
      case 'n': return literal("null", jv_null());
      default: return number();
    }
  }

  jv object(int depth) {
    if (depth > kMaxDepth) return fail("nested deeper than 256 levels");
    ++at_;  // {
    jv result = jv_object();
    skipSpace();
    if (at_ != end_ && *at_ == '}') {
      ++at_;
      return result;
    }
    for (;;) {
      if (at_ == end_ || *at_ != '"') break;
      jv key = string();
      if (!jv_is_valid(key)) break;
      skipSpace();
      if (at_ == end_ || *at_ != ':') {
        jv_free(key);
        fail("expected ':' after an object key");
        break;
      }
      ++at_;
      skipSpace();
      jv member = value(depth);
      if (!jv_is_valid(member)) {
        jv_free(key);
        break;
      }
      result = jv_object_set(result, key, member);
      skipSpace();
      if (at_ != end_ && *at_ == '}') {
        ++at_;
        return result;
      }
      if (at_ == end_ || *at_ != ',') {
        fail("expected ',' or '}' in an object");
        break;
      }
      ++at_;
      skipSpace();
    }
    fail("expected a string key in an object");
    jv_free(result);
    return jv_invalid();
  }

  jv array(int depth) {
    if (depth > kMaxDepth) return fail("nested deeper than 256 levels");
    ++at_;  // [
    jv result = jv_array();
    skipSpace();
    if (at_ != end_ && *at_ == ']') {
      ++at_;
      return result;
    }
    for (;;) {
      jv element = value(depth);
      if (!jv_is_valid(element)) break;
      result = jv_array_append(result, element);
      skipSpace();
      if (at_ != end_ && *at_ == ']') {
        ++at_;
        return result;
      }
      if (at_ == end_ || *at_ != ',') {
        fail("expected ',' or ']' in an array");
        break;
      }
      ++at_;
      skipSpace();
    }
    jv_free(result);
    return jv_invalid();
  }

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
  void appendUtf8(unsigned long codepoint) {
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

  jv string() {
    ++at_;  // "
    const char* start = at_;
    // Plain text up to the closing quote: no copy before jv_string_sized.
    while (at_ != end_ && *at_ != '"' && *at_ != '\\' && static_cast<unsigned char>(*at_) >= 0x20) ++at_;
    if (at_ != end_ && *at_ == '"') {
      ++at_;
      return jv_string_sized(start, static_cast<int>(at_ - 1 - start));
    }
    scratch_.assign(start, at_);
    while (at_ != end_) {
      const char c = *at_;
      if (c == '"') {
        ++at_;
        return jv_string_sized(scratch_.data(), static_cast<int>(scratch_.size()));
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string (write it as an escape)");
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
          if (codepoint < 0) return fail("invalid \\uXXXX escape");
          if (codepoint >= 0xD800 && codepoint <= 0xDBFF) {
            if (end_ - at_ < 2 || at_[0] != '\\' || at_[1] != 'u') return fail("invalid \\uXXXX\\uXXXX surrogate pair");
            at_ += 2;
            const long low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) return fail("invalid \\uXXXX\\uXXXX surrogate pair");
            codepoint = 0x10000 + ((codepoint - 0xD800) << 10) + (low - 0xDC00);
          }
          // A lone low surrogate is encoded as it is; jv_string_sized turns it into U+FFFD.
          appendUtf8(static_cast<unsigned long>(codepoint));
          break;
        }
        default: --at_; return fail("invalid escape in a string");
      }
    }
    return fail("unterminated string");
  }

  jv number() {
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
    double number = 0;
    const auto [end, error] = std::from_chars(start, at_, number);
    if (error == std::errc::result_out_of_range) {
      // Beyond a double: infinite or zero, as strtod (and so jq) makes it.
      number = std::strtod(std::string(start, at_).c_str(), nullptr);
    } else if (error != std::errc() || end != at_) {
      return fail("invalid number");
    }
    return jv_number(number);
  }

  const char* begin_;
  const char* at_;
  const char* end_;
  const char* error_ = nullptr;
  const char* error_at_ = nullptr;
  std::string scratch_;  // a string with escapes, decoded
};

/// Writes a jq value as compact JSON into a std::string, byte for byte what jq 1.6's
/// jv_dump_string(value, 0) writes: jq's printer appends to a jq string piece by piece and was
/// a fifth of a small program's time.
class JsonWriter {
 public:
  /// Appends `value` (borrowed, not freed).
  void write(jv value) {
    switch (jv_get_kind(value)) {
      case JV_KIND_NULL: out_ += "null"; break;
      case JV_KIND_FALSE: out_ += "false"; break;
      case JV_KIND_TRUE: out_ += "true"; break;
      case JV_KIND_NUMBER: number(jv_number_value(value)); break;
      case JV_KIND_STRING: string(value); break;
      case JV_KIND_ARRAY: {
        out_ += '[';
        const int length = jv_array_length(jv_copy(value));
        for (int i = 0; i < length; ++i) {
          if (i > 0) out_ += ',';
          jv element = jv_array_get(jv_copy(value), i);
          write(element);
          jv_free(element);
        }
        out_ += ']';
        break;
      }
      case JV_KIND_OBJECT: {
        out_ += '{';
        bool first = true;
        for (int i = jv_object_iter(value); jv_object_iter_valid(value, i); i = jv_object_iter_next(value, i)) {
          if (!first) out_ += ',';
          first = false;
          jv key = jv_object_iter_key(value, i);
          string(key);
          jv_free(key);
          out_ += ':';
          jv member = jv_object_iter_value(value, i);
          write(member);
          jv_free(member);
        }
        out_ += '}';
        break;
      }
      default: out_ += "null"; break;  // an invalid value is never an output
    }
  }

  std::string take() { return std::move(out_); }

 private:
  void number(double d) { jq_native::appendNumber(out_, d); }
  void string(jv value) {
    jq_native::appendString(out_,
                            {jv_string_value(value), static_cast<std::size_t>(jv_string_length_bytes(jv_copy(value)))});
  }

  std::string out_;
};

void collectError(void* data, jv message) {
  auto* text = static_cast<std::string*>(data);
  jv shown = jv_get_kind(message) == JV_KIND_STRING ? jv_copy(message) : jv_dump_string(jv_copy(message), 0);
  if (!text->empty()) *text += "; ";
  *text += jv_string_value(shown);
  jv_free(shown);
  jv_free(message);
}

/// A compiled program. A jq_state runs one program at a time, so each concurrent caller
/// takes one from a pool, compiled once and reused.
class JqProgram {
 public:
  explicit JqProgram(std::string program) : program_(std::move(program)) {}
  ~JqProgram() {
    for (auto* state : idle_) jq_teardown(&state);
  }

  /// A compiled state, or nullptr with `error` set.
  jq_state* acquire(std::string& error) {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto* state = idle_.back();
        idle_.pop_back();
        return state;
      }
    }
    jq_state* state = jq_init();
    if (!state) {
      error = "jq: cannot initialise";
      return nullptr;
    }
    jq_set_error_cb(state, collectError, &error);
    if (!jq_compile(state, program_.c_str())) {
      if (error.empty()) error = "jq: the program does not compile";
      jq_teardown(&state);
      return nullptr;
    }
    // Runtime errors come back from jq_next; nothing should go to the bus's stderr.
    jq_set_error_cb(
        state, [](void*, jv message) { jv_free(message); }, nullptr);
    return state;
  }
  void release(jq_state* state) {
    std::lock_guard lock(mutex_);
    idle_.push_back(state);
  }

 private:
  std::string program_;
  std::mutex mutex_;
  std::vector<jq_state*> idle_;
};

class Jq final : public Transform {
 public:
  Jq(std::shared_ptr<JqProgram> program, jq_native::ProgramPtr native, bool all)
      : program_(std::move(program)), native_(std::move(native)), all_(all) {}

  Status apply(Message& message) override {
    const auto& body = message.body();
    if (native_) {
      std::string out;
      switch (jq_native::run(*native_, body, all_, out)) {
        case jq_native::Outcome::Output: message.setBody(std::move(out), "application/json"); return Status::ok();
        case jq_native::Outcome::NoOutput: return Status::drop();
        case jq_native::Outcome::Declined: break;  // libjq runs it, and reports any error
      }
    }
    JvParser parser(body);
    jv input = parser.parse();
    if (!jv_is_valid(input)) return Status::badInput("jq: body is not valid JSON: " + parser.error());
    std::string error;
    jq_state* state = program_->acquire(error);
    if (!state) {
      jv_free(input);
      return Status::permanent(error);
    }
    jq_start(state, input, 0);
    // The first output, or with `all` an array of every output.
    jv chosen = all_ ? jv_array() : jv_invalid();
    std::string failure;
    for (;;) {
      jv result = jq_next(state);
      if (!jv_is_valid(result)) {
        if (jv_invalid_has_msg(jv_copy(result))) {
          jv msg = jv_invalid_get_msg(result);
          jv text = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);
          failure = jv_string_value(text);
          jv_free(text);
        } else {
          jv_free(result);
        }
        break;
      }
      if (!all_) {
        chosen = result;
        break;
      }
      chosen = jv_array_append(chosen, result);
    }
    // Unwind the run now, while its values are in the cache (jq_start resets the state), and
    // not at the next message's start: a third faster for a program stopped at its first output.
    jq_start(state, jv_null(), 0);
    program_->release(state);
    if (!failure.empty()) {
      jv_free(chosen);
      return Status::badInput("jq: " + failure);
    }
    if (!jv_is_valid(chosen)) return Status::drop();  // no output, like `select(false)`: nothing to pass on
    JsonWriter writer;
    writer.write(chosen);
    jv_free(chosen);
    message.setBody(writer.take(), "application/json");
    return Status::ok();
  }

 private:
  std::shared_ptr<JqProgram> program_;
  jq_native::ProgramPtr native_;  // null when the program is outside the native evaluator
  bool all_;
};

}  // namespace

void registerJq(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"jq",
                    "Runs a jq program on the JSON body: the first output becomes the body (none: the message is "
                    "dropped), or with all: true an array of every output.",
                    {
                        {"program", OptionType::String, true, "", "the jq program, compiled at load time"},
                        {"all", OptionType::Bool, false, "false", "the body becomes an array of all outputs"},
                    }},
      [](const Options& options) {
        auto program = std::make_shared<JqProgram>(options.string("program"));
        std::string error;
        jq_state* state = program->acquire(error);
        if (!state) throw OptionError("program", error);
        program->release(state);
        return std::make_unique<Jq>(std::move(program), jq_native::compile(options.string("program")),
                                    options.boolean("all"));
      });
}

}  // namespace switchboard::transforms
