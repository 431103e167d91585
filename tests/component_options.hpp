#pragma once
// Builds components from option JSON the way the loader hands them over. Free of any test
// framework, so the unit tests, the fuzz targets and the benchmarks share it.
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "plugin/registry.hpp"

namespace switchboard::testing {

/// Options as the loader produces them: the given values plus the declared defaults.
inline Options optionsFor(const ComponentSpec& spec, nlohmann::ordered_json values) {
  if (spec.valueForm()) return Options(std::move(values), Scope{"test-route"});
  for (const auto& option : spec.options) {
    if (values.contains(option.name) || option.default_value.empty()) continue;
    switch (option.type) {
      case OptionType::Bool: values[option.name] = option.default_value == "true"; break;
      case OptionType::Int: values[option.name] = std::stoll(option.default_value); break;
      case OptionType::Duration: values[option.name] = parseDuration(option.default_value).count(); break;
      case OptionType::Size: values[option.name] = parseSize(option.default_value); break;
      case OptionType::StringList: {  // "[a, b]", the flow form the schemas use
        auto list = nlohmann::ordered_json::array();
        std::string inner = option.default_value.substr(1, option.default_value.size() - 2);
        std::stringstream items(inner);
        for (std::string item; std::getline(items, item, ',');) {
          item.erase(0, item.find_first_not_of(' '));
          if (!item.empty()) list.push_back(item);
        }
        values[option.name] = list;
        break;
      }
      default: values[option.name] = option.default_value;
    }
  }
  return Options(std::move(values), Scope{"test-route"});
}

/// The transform `name` of `registry`, built with `values` plus the defaults. Throws
/// std::runtime_error when no loaded plugin provides it.
inline std::unique_ptr<Transform> buildTransform(const core::Registry& registry, const std::string& name,
                                                 nlohmann::ordered_json values) {
  const auto* component = registry.transform(name);
  if (!component) throw std::runtime_error("no plugin provides the transform '" + name + "'");
  return component->factory(optionsFor(component->spec, std::move(values)));
}

}  // namespace switchboard::testing
