// Deliberately broken plugins for the loader's tests; which one is chosen by a macro.
#include "switchboard/plugin.hpp"

namespace {
void registerNothing(switchboard::Registrar&) {}
#if defined(BAD_DUPLICATE)
void registerDuplicate(switchboard::Registrar& registrar) {
  registrar.addOutbound(switchboard::ComponentSpec{"file", "a second 'file' outbound", {}},
                        [](const switchboard::Options&) { return std::unique_ptr<switchboard::OutboundAdapter>(); });
}
#endif
}  // namespace

#if defined(BAD_ABI)
extern "C" __attribute__((visibility("default"))) const switchboard_plugin_descriptor* switchboard_plugin_v1() {
  static const switchboard_plugin_descriptor descriptor{99,         0,     SWITCHBOARD_BUILD_KEY,
                                                        "wrongabi", "1.0", registerNothing};
  return &descriptor;
}
#elif defined(BAD_BUILD_KEY)
extern "C" __attribute__((visibility("default"))) const switchboard_plugin_descriptor* switchboard_plugin_v1() {
  static const switchboard_plugin_descriptor descriptor{
      SWITCHBOARD_ABI_MAJOR, SWITCHBOARD_ABI_MINOR, "libc++", "badkey", "1.0", registerNothing};
  return &descriptor;
}
#elif defined(BAD_DUPLICATE)
SWITCHBOARD_PLUGIN("dupfile", "1.0", registerDuplicate)
#else
// No entry point at all.
extern "C" __attribute__((visibility("default"))) int switchboard_plugin_v0() {
  return 0;
}
#endif
