// jq: a libjq program run on the JSON body, compiled at load time.
extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <mutex>

#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

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
  Jq(std::shared_ptr<JqProgram> program, bool all) : program_(std::move(program)), all_(all) {}

  Status apply(Message& message) override {
    const auto& body = message.body();
    jv input = jv_parse_sized(body.data(), static_cast<int>(body.size()));
    if (!jv_is_valid(input)) {
      std::string reason = "body is not valid JSON";
      if (jv_invalid_has_msg(jv_copy(input))) {
        jv msg = jv_invalid_get_msg(input);
        reason += std::string(": ") + jv_string_value(msg);
        jv_free(msg);
      } else {
        jv_free(input);
      }
      return Status::badInput("jq: " + reason);
    }
    std::string error;
    jq_state* state = program_->acquire(error);
    if (!state) {
      jv_free(input);
      return Status::permanent(error);
    }
    jq_start(state, input, 0);
    jv outputs = jv_array();
    std::size_t count = 0;
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
      ++count;
      outputs = jv_array_append(outputs, result);
      if (!all_) break;  // the first output is the body
    }
    program_->release(state);
    if (!failure.empty()) {
      jv_free(outputs);
      return Status::badInput("jq: " + failure);
    }
    if (count == 0 && !all_) {
      jv_free(outputs);
      return Status::drop();  // no output, like `select(false)`: nothing to pass on
    }
    jv chosen = all_ ? outputs : jv_array_get(outputs, 0);
    jv dumped = jv_dump_string(chosen, 0);
    message.setBody(jv_string_value(dumped), "application/json");
    jv_free(dumped);
    return Status::ok();
  }

 private:
  std::shared_ptr<JqProgram> program_;
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
        return std::make_unique<Jq>(std::move(program), options.boolean("all"));
      });
}

}  // namespace switchboard::transforms
