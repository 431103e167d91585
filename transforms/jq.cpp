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
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "jq_native.hpp"
#include "switchboard/json_reader.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

/// A jq value owned: freed unless released.
class Jv {
 public:
  explicit Jv(jv value) : value_(value) {}
  Jv(Jv&& other) noexcept : value_(std::exchange(other.value_, jv_invalid())) {}
  Jv& operator=(Jv&& other) noexcept {
    std::swap(value_, other.value_);
    return *this;
  }
  Jv(const Jv&) = delete;
  Jv& operator=(const Jv&) = delete;
  ~Jv() { jv_free(value_); }
  jv release() { return std::exchange(value_, jv_invalid()); }

 private:
  jv value_;
};

/// Builds jq values from switchboard::json::Reader (strict JSON, RFC 8259). jq 1.6's own
/// parser reads a byte at a time through a token buffer, which made parsing most of a jq
/// step's time, and it leaks memory on some malformed inputs, which a bus fed by strangers
/// cannot afford. The values are the ones jq builds: numbers are doubles rounded as strtod
/// rounds (beyond a double: infinite or zero, as strtod makes them), strings go through
/// jv_string_sized (which replaces invalid UTF-8 and lone low surrogates as jq does), keys
/// are set in document order. jq's own extensions (nan, 01, .5, raw control characters in
/// strings) are refused, as every other step refuses them; so is nesting deeper than jq's
/// limit of 256.
struct JvBuilder {
  using Value = Jv;
  using Array = Jv;
  using Object = Jv;
  static constexpr json::ReaderOptions kOptions{256, false, true};

  Value null() { return Jv(jv_null()); }
  Value boolean(bool value) { return Jv(value ? jv_true() : jv_false()); }
  std::optional<Value> number(std::string_view literal) {
    double number = 0;
    const auto [end, error] = std::from_chars(literal.data(), literal.data() + literal.size(), number);
    if (error == std::errc::result_out_of_range) number = std::strtod(std::string(literal).c_str(), nullptr);
    return Jv(jv_number(number));
  }
  Value string(std::string_view bytes, bool) {
    return Jv(jv_string_sized(bytes.data(), static_cast<int>(bytes.size())));
  }
  Array beginArray() { return Jv(jv_array()); }
  void append(Array& array, Value&& item) { array = Jv(jv_array_append(array.release(), item.release())); }
  Value endArray(Array&& array) { return std::move(array); }
  Object beginObject() { return Jv(jv_object()); }
  void set(Object& object, std::string_view key, bool, Value&& value) {
    object =
        Jv(jv_object_set(object.release(), jv_string_sized(key.data(), static_cast<int>(key.size())), value.release()));
  }
  std::optional<Value> endObject(Object&& object) { return std::move(object); }
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
    JvBuilder builder;
    json::Reader reader(body, builder, JvBuilder::kOptions);
    auto read = reader.read();
    if (!read) return Status::badInput("jq: body is not valid JSON: " + reader.error());
    jv input = read->release();
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
