#include <catch2/catch.hpp>

#include <filesystem>

#include "plugin/registry.hpp"

using namespace switchboard;
using namespace switchboard::core;

TEST_CASE("the built plugins register the built-in components", "[registry]") {
  Registry registry;
  registry.loadDirectories({SWITCHBOARD_TEST_PLUGIN_DIR});
  CHECK(registry.failures().empty());
  CHECK(registry.inbound("file"));
  CHECK(registry.inbound("timer"));
  CHECK(registry.outbound("file"));
  CHECK(registry.outbound("log"));
  for (const char* name : {"set-header", "remove-header", "set-body", "filter", "log"}) {
    CHECK(registry.transform(name));
  }
  CHECK_FALSE(registry.outbound("timer"));
}

TEST_CASE("broken plugin files are recorded with the reason, not thrown", "[registry]") {
  Registry registry;
  REQUIRE_NOTHROW(registry.loadDirectories({SWITCHBOARD_TEST_BAD_PLUGIN_DIR, SWITCHBOARD_TEST_PLUGIN_DIR}));
  CHECK(registry.failures().size() == 4);
  REQUIRE(registry.failureFor("wrongabi"));
  CHECK(registry.failureFor("wrongabi")->error.find("ABI 99.0") != std::string::npos);
  REQUIRE(registry.failureFor("nosymbol"));
  CHECK(registry.failureFor("nosymbol")->error.find("switchboard_plugin_v1") != std::string::npos);
  REQUIRE(registry.failureFor("notelf"));
  CHECK(registry.failureFor("notelf")->error.find("not a shared library") != std::string::npos);
  REQUIRE(registry.failureFor("badkey"));
  CHECK(registry.failureFor("badkey")->error.find("standard library") != std::string::npos);
  CHECK(registry.inbound("file"));  // the good ones load all the same
}

TEST_CASE("a plugin that duplicates a component is rejected whole", "[registry]") {
  Registry registry;
  registry.loadDirectories({SWITCHBOARD_TEST_PLUGIN_DIR, SWITCHBOARD_TEST_DUP_PLUGIN_DIR});
  REQUIRE(registry.failureFor("dupfile"));
  CHECK(registry.failureFor("dupfile")->error.find("duplicate outbound 'file'") != std::string::npos);
  CHECK(registry.outbound("file")->plugin_file.find("libswitchboard-file.so") != std::string::npos);
}

TEST_CASE("an earlier directory hides a plugin file of the same name", "[registry]") {
  Registry registry;
  registry.loadDirectories({SWITCHBOARD_TEST_PLUGIN_DIR, SWITCHBOARD_TEST_PLUGIN_DIR});
  CHECK(registry.failures().empty());
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SWITCHBOARD_TEST_PLUGIN_DIR)) {
    if (entry.path().filename().string().starts_with("libswitchboard-")) ++files;
  }
  CHECK(registry.plugins().size() == files);
}
