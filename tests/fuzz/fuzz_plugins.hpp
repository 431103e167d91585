#pragma once
// The built transforms plugin, loaded through the real registry as the bus loads it, and
// running a transform on a body. Loaded from LLVMFuzzerInitialize, before fuzzing starts,
// so libFuzzer sees the plugin's coverage counters from the first input.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "component_options.hpp"

namespace switchboard::fuzz {

inline core::Registry& plugins() {
  static core::Registry* registry = [] {
    auto* r = new core::Registry();  // never destroyed: the transforms outlive every input
    r->loadDirectories({SWITCHBOARD_FUZZ_PLUGIN_DIR});
    if (!r->transform("json-to-xml")) {
      std::fprintf(stderr, "the transforms plugin is not in %s\n", SWITCHBOARD_FUZZ_PLUGIN_DIR);
      std::abort();
    }
    return r;
  }();
  return *registry;
}

inline std::unique_ptr<Transform> transform(const std::string& name, nlohmann::ordered_json options) {
  return testing::buildTransform(plugins(), name, std::move(options));
}

/// Runs `step` on a message with `body`; true when it succeeded, with the result in `out`.
/// A refused input is a Status, never an exception: any exception escapes as a finding.
/// `body` is a copy, so it may be `out`'s own body.
inline bool run(Transform& step, std::string body, const std::string& content_type, Message& out) {
  out = Message("fuzz");
  out.setBody(std::move(body), content_type);
  return step.apply(out).isOk();
}

}  // namespace switchboard::fuzz
