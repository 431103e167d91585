#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "switchboard/template.hpp"

namespace switchboard {

enum class OptionType {
  String,      ///< plain text
  Template,    ///< text with ${...} references, rendered per message
  Expression,  ///< a guard expression
  Bool,
  Int,
  Number,
  Duration,     ///< 250ms, 10s, 5m, 1h
  Size,         ///< 512, 512KiB, 10MiB, 1GiB
  Enum,         ///< one of `choices`
  StringList,   ///< a list of strings (a single string is a list of one)
  StringMap,    ///< a map of string to string
  TemplateMap,  ///< a map of string to template
  Object,       ///< any YAML value, checked by the component itself
};

std::string_view optionTypeName(OptionType type) noexcept;

/// One declared option of an adapter or transform.
struct OptionSpec {
  std::string name;  ///< empty: the component's value is this option itself
  OptionType type = OptionType::String;
  bool required = false;
  std::string default_value;              ///< as written in YAML; empty: no default
  std::string doc;                        ///< one line
  std::vector<std::string> choices = {};  ///< for Enum
};

/// What an adapter or transform declares about itself; the loader checks every endpoint
/// against it before anything is constructed.
struct ComponentSpec {
  std::string name;
  std::string summary;
  std::vector<OptionSpec> options;

  /// True when the component takes its value directly (`set-body: "text"`).
  bool valueForm() const noexcept { return options.size() == 1 && options[0].name.empty(); }
  const OptionSpec* find(std::string_view option) const noexcept;
};

/// An endpoint's options after the loader checked them against the component's schema and
/// filled in defaults. Durations are milliseconds and sizes bytes. Accessors throw
/// OptionError for an option that is absent and has no default.
class Options {
 public:
  Options(nlohmann::ordered_json values, Scope scope);

  bool has(std::string_view name) const;
  std::string string(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  double number(std::string_view name) const;
  std::chrono::milliseconds duration(std::string_view name) const;
  std::uint64_t size(std::string_view name) const;
  std::vector<std::string> list(std::string_view name) const;
  std::vector<std::pair<std::string, std::string>> map(std::string_view name) const;
  /// Compiles a template option; a syntax error becomes an OptionError at its place.
  Template templ(std::string_view name) const;
  std::vector<std::pair<std::string, Template>> templateMap(std::string_view name) const;
  Expression expression(std::string_view name) const;
  const nlohmann::ordered_json& json(std::string_view name) const;

  const Scope& scope() const noexcept { return scope_; }

 private:
  const nlohmann::ordered_json& value(std::string_view name) const;
  std::shared_ptr<const nlohmann::ordered_json> values_;
  Scope scope_;
};

/// Parses `250ms`, `10s`, `5m`, `1h` (a plain number is milliseconds). Throws std::invalid_argument.
std::chrono::milliseconds parseDuration(std::string_view text);
/// Parses `512`, `64KiB`, `10MiB`, `1GiB`, `10MB`. Throws std::invalid_argument.
std::uint64_t parseSize(std::string_view text);

}  // namespace switchboard
