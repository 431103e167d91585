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
/// Text lines stay one line each: line breaks inside a value (a database's multi-line
/// error, an endpoint name) are written as \n and \r.
void appendOneLine(std::string& line, std::string_view value) {
  for (const char c : value) {
    if (c == '\n') {
      line += "\\n";
    } else if (c == '\r') {
      line += "\\r";
    } else {
      line += c;
    }
  }
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
      appendOneLine(line, field.value);
    }
    line += ' ';
    appendOneLine(line, text);
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

std::string redactUrl(std::string text) {
  const auto scheme_end = text.find("://");
  if (scheme_end != std::string::npos) {
    const auto authority = scheme_end + 3;
    const auto at = text.find('@', authority);
    const auto end = text.find_first_of("/?", authority);
    const auto colon = text.find(':', authority);
    if (at != std::string::npos && (end == std::string::npos || at < end) && colon < at) {
      text = text.substr(0, colon + 1) + "***" + text.substr(at);
    }
  }
  for (auto query = text.find('?'); query != std::string::npos;) {
    const auto key = text.find("password=", query);
    if (key == std::string::npos) break;
    const auto value = key + 9;
    if (text[key - 1] != '?' && text[key - 1] != '&') {
      query = value;
      continue;
    }
    const auto value_end = text.find('&', value);
    text = text.substr(0, value) + "***" + (value_end == std::string::npos ? "" : text.substr(value_end));
    query = value + 3;
  }
  return text;
}

}  // namespace switchboard
