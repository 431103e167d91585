#pragma once

#include <atomic>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace switchboard {

enum class LogLevel { Trace, Debug, Info, Warn, Error };

std::optional<LogLevel> parseLogLevel(std::string_view text) noexcept;
std::string_view logLevelName(LogLevel level) noexcept;

/// A key/value pair attached to a log line (route, message, endpoint, file, ...).
struct LogField {
  std::string_view key;
  std::string_view value;
};

/// The process-wide log: one line per event on stderr, as text or as JSON lines.
/// Thread-safe; a line is written with one write call so lines never interleave.
class Logger {
 public:
  static Logger& instance() noexcept;

  void configure(LogLevel level, bool json) noexcept;
  bool enabled(LogLevel level) const noexcept {
    return static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
  }
  void write(LogLevel level, std::string_view text, std::initializer_list<LogField> fields = {});

 private:
  std::atomic<int> level_{static_cast<int>(LogLevel::Info)};
  std::atomic<bool> json_{false};
};

/// `url` with its secrets masked, for log lines, banners and error texts: the password of
/// `user:password@` and the value of a `password=` query parameter become `***`.
std::string redactUrl(std::string url);

inline void log(LogLevel level, std::string_view text, std::initializer_list<LogField> fields = {}) {
  Logger& logger = Logger::instance();
  if (logger.enabled(level)) logger.write(level, text, fields);
}

}  // namespace switchboard
