#include <cctype>
#include <limits>
#include <stdexcept>

#include "switchboard/options.hpp"
#include "switchboard/status.hpp"

namespace switchboard {

std::string_view optionTypeName(OptionType type) noexcept {
  switch (type) {
    case OptionType::String: return "string";
    case OptionType::Template: return "template";
    case OptionType::Expression: return "expression";
    case OptionType::Bool: return "bool";
    case OptionType::Int: return "int";
    case OptionType::Number: return "number";
    case OptionType::Duration: return "duration";
    case OptionType::Size: return "size";
    case OptionType::Enum: return "enum";
    case OptionType::StringList: return "list of strings";
    case OptionType::StringMap: return "map of strings";
    case OptionType::TemplateMap: return "map of templates";
    case OptionType::Object: return "object";
  }
  return "?";
}

const OptionSpec* ComponentSpec::find(std::string_view option) const noexcept {
  for (const auto& spec : options) {
    if (spec.name == option) return &spec;
  }
  return nullptr;
}

namespace {
// Splits "10MiB" into 10 and "MiB"; the number must be a non-negative integer or decimal.
std::pair<double, std::string_view> splitUnit(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw std::invalid_argument("expected a number");
  const std::string number(text.substr(0, i));
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::out_of_range&) {
    throw std::invalid_argument("number too large");
  }
  if (used != number.size()) throw std::invalid_argument("malformed number");
  return {value, text.substr(i)};
}
}  // namespace

std::chrono::milliseconds parseDuration(std::string_view text) {
  const auto [value, unit] = splitUnit(text);
  double millis = 0;
  if (unit.empty() || unit == "ms") {
    millis = value;
  } else if (unit == "s") {
    millis = value * 1000;
  } else if (unit == "m") {
    millis = value * 60'000;
  } else if (unit == "h") {
    millis = value * 3'600'000;
  } else {
    throw std::invalid_argument("unknown unit '" + std::string(unit) + "' (use ms, s, m or h)");
  }
  if (millis >= static_cast<double>(std::numeric_limits<std::int64_t>::max())) {
    throw std::invalid_argument("duration too large");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(millis));
}

std::uint64_t parseSize(std::string_view text) {
  const auto [value, unit] = splitUnit(text);
  static const std::pair<std::string_view, double> kUnits[] = {
      {"", 1},     {"B", 1},    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6},     {"GB", 1e9}};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    if (value * factor >= static_cast<double>(std::numeric_limits<std::uint64_t>::max())) {
      throw std::invalid_argument("size too large");
    }
    return static_cast<std::uint64_t>(value * factor);
  }
  throw std::invalid_argument("unknown unit '" + std::string(unit) + "' (use B, KiB, MiB, GiB, KB, MB or GB)");
}

Options::Options(nlohmann::ordered_json values, Scope scope)
    : values_(std::make_shared<const nlohmann::ordered_json>(std::move(values))), scope_(std::move(scope)) {}

bool Options::has(std::string_view name) const {
  if (name.empty()) return !values_->is_null();
  return values_->is_object() && values_->contains(name);
}

const nlohmann::ordered_json& Options::value(std::string_view name) const {
  if (name.empty()) return *values_;
  if (values_->is_object()) {
    auto it = values_->find(name);
    if (it != values_->end()) return *it;
  }
  throw OptionError(std::string(name), "option '" + std::string(name) + "' is not set");
}

std::string Options::string(std::string_view name) const {
  return value(name).get<std::string>();
}
bool Options::boolean(std::string_view name) const {
  return value(name).get<bool>();
}
std::int64_t Options::integer(std::string_view name) const {
  return value(name).get<std::int64_t>();
}
double Options::number(std::string_view name) const {
  return value(name).get<double>();
}
std::chrono::milliseconds Options::duration(std::string_view name) const {
  return std::chrono::milliseconds(value(name).get<std::int64_t>());
}
std::uint64_t Options::size(std::string_view name) const {
  return value(name).get<std::uint64_t>();
}
std::vector<std::string> Options::list(std::string_view name) const {
  return value(name).get<std::vector<std::string>>();
}
std::vector<std::pair<std::string, std::string>> Options::map(std::string_view name) const {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& item : value(name).items()) entries.emplace_back(item.key(), item.value().get<std::string>());
  return entries;
}
const nlohmann::ordered_json& Options::json(std::string_view name) const {
  return value(name);
}

Template Options::templ(std::string_view name) const {
  try {
    return Template::compile(string(name), scope_);
  } catch (const SyntaxError& e) {
    throw OptionError(std::string(name), e.what(), static_cast<int>(e.offset()));
  }
}

std::vector<std::pair<std::string, Template>> Options::templateMap(std::string_view name) const {
  std::vector<std::pair<std::string, Template>> entries;
  for (const auto& [key, text] : map(name)) {
    try {
      entries.emplace_back(key, Template::compile(text, scope_));
    } catch (const SyntaxError& e) {
      const std::string path = name.empty() ? key : std::string(name) + "." + key;
      throw OptionError(path, e.what(), static_cast<int>(e.offset()));
    }
  }
  return entries;
}

Expression Options::expression(std::string_view name) const {
  try {
    return Expression::compile(string(name), scope_);
  } catch (const SyntaxError& e) {
    throw OptionError(std::string(name), e.what(), static_cast<int>(e.offset()));
  }
}

}  // namespace switchboard
