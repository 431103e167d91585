#pragma once
// Regular expressions matched against message data in bounded time and memory.

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace switchboard {

/// A pattern that does not compile; offset() is where in the pattern it went wrong.
class RegexSyntaxError : public std::runtime_error {
 public:
  RegexSyntaxError(const std::string& what, std::size_t offset) : std::runtime_error(what), offset_(offset) {}
  std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

/// A regular expression in JavaScript (ECMAScript) syntax, on UTF-8 text, for patterns
/// written in routes and schemas and matched against what messages carry. PCRE2 underneath,
/// with its backtracking bounded: a pattern that would run away on some text (nested
/// repetition such as `^(a+)+$`) fails that match with an error instead of stalling a worker
/// or overflowing its stack. Text that is not valid UTF-8 is matched as far as it is valid.
/// Compiled once; search() may be called from several threads at once.
class Regex {
 public:
  /// Throws RegexSyntaxError.
  explicit Regex(std::string_view pattern);

  /// Whether the pattern matches somewhere in `text`. Throws std::runtime_error when the
  /// match needed more than its bounded work on this text.
  bool search(std::string_view text) const;

  const std::string& pattern() const noexcept;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace switchboard
