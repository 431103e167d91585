#pragma once
// Loads the built plugins through the real registry, as the bus does, and builds components
// from option JSON the way the loader hands them over.
#include <catch2/catch.hpp>

#include "component_options.hpp"

namespace switchboard::testing {

inline core::Registry& builtPlugins() {
  static core::Registry* registry = [] {
    auto* r = new core::Registry();
    r->loadDirectories({SWITCHBOARD_TEST_PLUGIN_DIR});
    return r;
  }();
  return *registry;
}

inline std::unique_ptr<Transform> makeTransform(const std::string& name, nlohmann::ordered_json values) {
  const auto* component = builtPlugins().transform(name);
  REQUIRE(component != nullptr);
  return component->factory(optionsFor(component->spec, std::move(values)));
}

inline std::unique_ptr<OutboundAdapter> makeOutbound(const std::string& name, nlohmann::ordered_json values) {
  const auto* component = builtPlugins().outbound(name);
  REQUIRE(component != nullptr);
  return component->factory(optionsFor(component->spec, std::move(values)));
}

inline std::unique_ptr<InboundAdapter> makeInbound(const std::string& name, nlohmann::ordered_json values) {
  const auto* component = builtPlugins().inbound(name);
  REQUIRE(component != nullptr);
  return component->factory(optionsFor(component->spec, std::move(values)));
}

}  // namespace switchboard::testing
