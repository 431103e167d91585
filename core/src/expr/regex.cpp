#include "switchboard/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <new>

namespace switchboard {

namespace {

// Backtracking steps and memory one match may use: far above what a sensible pattern needs on
// a message, far below what would hold a worker for long (about 10 ms of steps).
constexpr std::uint32_t kMatchLimit = 1'000'000;
constexpr std::uint32_t kHeapLimitKiB = 16 * 1024;

std::string errorText(int code) {
  PCRE2_UCHAR buffer[256];
  const int length = pcre2_get_error_message(code, buffer, sizeof buffer);
  return length > 0 ? std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(length))
                    : "error " + std::to_string(code);
}

}  // namespace

struct Regex::Compiled {
  std::string pattern;
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Compiled() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

Regex::Regex(std::string_view pattern) {
  auto compiled = std::make_shared<Compiled>();
  compiled->pattern = std::string(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // JavaScript's rules where PCRE2's differ: \u hex escapes, [] and [^] classes, unset
  // back-references matching the empty string.
  const std::uint32_t options =
      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF;
  compiled->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset, nullptr);
  if (!compiled->code) throw RegexSyntaxError(errorText(error), offset);
  compiled->context = pcre2_match_context_create(nullptr);
  if (!compiled->context) throw std::bad_alloc();
  pcre2_set_match_limit(compiled->context, kMatchLimit);
  pcre2_set_heap_limit(compiled->context, kHeapLimitKiB);
  compiled_ = std::move(compiled);
}

bool Regex::search(std::string_view text) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  if (!match) throw std::bad_alloc();
  const int rc = pcre2_match(compiled_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, match.get(),
                             compiled_->context);
  if (rc >= 0) return true;
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  throw std::runtime_error("the regular expression '" + compiled_->pattern + "' gave up on this text (" +
                           errorText(rc) +
                           "): simplify the pattern (nested repetition such as (a+)+ backtracks "
                           "without end)");
}

const std::string& Regex::pattern() const noexcept {
  return compiled_->pattern;
}

}  // namespace switchboard
