#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "switchboard/log.hpp"

namespace switchboard {

namespace {
constexpr std::string_view kLevelNames[] = {"trace", "debug", "info", "warn", "error"};

std::string timestampUtc() {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const auto length = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  return std::string(buffer, length) + '.' + std::to_string(1000 + millis).substr(1) + 'Z';
}
}  // namespace

std::optional<LogLevel> parseLogLevel(std::string_view text) noexcept {
  for (int i = 0; i < 5; ++i) {
    if (kLevelNames[i] == text) return static_cast<LogLevel>(i);
  }
  return std::nullopt;
}

std::string_view logLevelName(LogLevel level) noexcept {
  return kLevelNames[static_cast<int>(level)];
}

Logger& Logger::instance() noexcept {
  static Logger logger;
  return logger;
}

void Logger::configure(LogLevel level, bool json) noexcept {
  level_.store(static_cast<int>(level));
  json_.store(json);
}

void Logger::write(LogLevel level, std::string_view text, std::initializer_list<LogField> fields) {
  std::string line;
  if (json_.load(std::memory_order_relaxed)) {
    nlohmann::json object{{"ts", timestampUtc()}, {"level", logLevelName(level)}, {"msg", text}};
    for (const auto& field : fields) object[std::string(field.key)] = field.value;
    line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = timestampUtc();
    line += ' ';
    std::string name(logLevelName(level));
    name.resize(5, ' ');
    line += name;
    for (const auto& field : fields) {
      line += ' ';
      line += field.key;
      line += '=';
      line += field.value;
    }
    line += ' ';
    line += text;
  }
  line += '\n';
  // One write per line keeps lines whole when several threads log at once.
  std::size_t written = 0;
  while (written < line.size()) {
    const auto n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace switchboard
