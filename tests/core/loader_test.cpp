// The route loader: route files, YAML parsing, the route schema and the components' option
// schemas, with every error at its file:line:column and YAML path.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "config/loader.hpp"
#include "runtime/route.hpp"
#include "temp_files.hpp"

using namespace switchboard;
using namespace switchboard::core;
using switchboard::testing::TempFiles;

namespace {

class NullInbound final : public InboundAdapter {
 public:
  void start(Intake&) override {}
  void stop() override {}
  std::string describe() const override { return "null"; }
};

class NullOutbound final : public OutboundAdapter {
 public:
  Status send(Message&) override { return Status::ok(); }
  std::string describe() const override { return "null"; }
};

class NullTransform final : public Transform {
 public:
  Status apply(Message&) override { return Status::ok(); }
};

/// Components declared here, registered directly: no plugin files involved.
struct TestRegistry {
  Registry registry;

  TestRegistry() {
    registry.addInbound(ComponentSpec{"source",
                                      "an inbound with one option of each type",
                                      {
                                          {"dir", OptionType::String, true, "", "a required string"},
                                          {"pattern", OptionType::String, false, "*", "a string default"},
                                          {"poll", OptionType::Duration, false, "1s", "a duration"},
                                          {"max_body", OptionType::Size, false, "10MiB", "a size"},
                                          {"deep", OptionType::Bool, false, "false", "a bool"},
                                          {"batch", OptionType::Int, false, "100", "an int"},
                                          {"ratio", OptionType::Number, false, "0.5", "a number"},
                                          {"mode", OptionType::Enum, false, "auto", "an enum", {"auto", "manual"}},
                                          {"methods", OptionType::StringList, false, "[POST]", "a list"},
                                          {"labels", OptionType::StringMap, false, "", "a map"},
                                          {"body", OptionType::Template, false, "", "a template"},
                                      }},
                        [](const Options&) { return std::make_unique<NullInbound>(); });
    registry.addOutbound(ComponentSpec{"sink",
                                       "an outbound that checks its template like a real one",
                                       {
                                           {"url", OptionType::Template, true, "", "where to"},
                                           {"headers", OptionType::TemplateMap, false, "", "headers"},
                                       }},
                         [](const Options& options) {
                           options.templ("url");
                           options.templateMap("headers");
                           return std::make_unique<NullOutbound>();
                         });
    registry.addOutbound(ComponentSpec{"picky",
                                       "an outbound refusing one value, at an offset inside it",
                                       {{"path", OptionType::String, false, "ok", "anything but a '..'"}}},
                         [](const Options& options) {
                           const auto path = options.string("path");
                           if (auto dots = path.find(".."); dots != std::string::npos) {
                             throw OptionError("path", "'..' is not allowed", static_cast<int>(dots));
                           }
                           return std::make_unique<NullOutbound>();
                         });
    registry.addTransform(
        ComponentSpec{"stamp", "a value-form transform", {{"", OptionType::TemplateMap, true, "", "headers to set"}}},
        [](const Options& options) {
          options.templateMap("");
          return std::make_unique<NullTransform>();
        });
    registry.addTransform(
        ComponentSpec{"keep", "a value-form expression", {{"", OptionType::Expression, true, "", "guard"}}},
        [](const Options& options) {
          options.expression("");
          return std::make_unique<NullTransform>();
        });
  }
};

struct Loaded {
  Diagnostics diagnostics;
  std::vector<RouteConfig> routes;
};

/// Loads route files as `validate` does, up to the schema check.
Loaded load(const std::vector<std::filesystem::path>& files, const Registry& registry) {
  Loaded loaded;
  const auto documents = parseRouteFiles(files, loaded.diagnostics);
  loaded.routes = buildRoutes(documents, registry, loaded.diagnostics);
  return loaded;
}

Loaded loadText(const TempFiles& tmp, const std::string& text, const Registry& registry) {
  return load({tmp.write("routes.yaml", text)}, registry);
}

std::string str(const Diagnostic& diagnostic) {
  std::ostringstream out;
  out << diagnostic;
  return out.str();
}

std::string all(const Diagnostics& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics.items()) out += str(d) + "\n";
  return out;
}

/// The one diagnostic expected, without the file name.
std::string only(const Loaded& loaded) {
  INFO(all(loaded.diagnostics));
  REQUIRE(loaded.diagnostics.size() == 1);
  const auto text = str(loaded.diagnostics.items()[0]);
  return text.substr(loaded.diagnostics.items()[0].where.file.size());
}

const std::string kHead =
    "routes:\n"
    "  - id: r\n"
    "    from:\n";

}  // namespace

TEST_CASE("route files: directories give their *.yaml and *.yml files sorted", "[loader]") {
  TempFiles tmp;
  tmp.write("routes/b.yml", "");
  tmp.write("routes/a.yaml", "");
  tmp.write("routes/notes.txt", "");
  tmp.write("single.yaml", "");
  Diagnostics diagnostics;
  const auto files = routeFiles(
      {(tmp.dir / "routes").string(), (tmp.dir / "single.yaml").string(), (tmp.dir / "missing.yaml").string()},
      diagnostics);
  REQUIRE(files.size() == 3);
  CHECK(files[0].filename() == "a.yaml");
  CHECK(files[1].filename() == "b.yml");
  CHECK(files[2].filename() == "single.yaml");
  REQUIRE(diagnostics.size() == 1);
  CHECK(diagnostics.items()[0].where.file == (tmp.dir / "missing.yaml").string());
  CHECK(diagnostics.items()[0].message == "no such file or directory");

  std::filesystem::create_directory(tmp.dir / "empty");

  Diagnostics again;
  CHECK(routeFiles({(tmp.dir / "empty").string()}, again).empty());
  REQUIRE(again.size() == 1);
  CHECK(again.items()[0].message == "no route files (*.yaml, *.yml) in this directory");
}

TEST_CASE("parse: a YAML syntax error names its line and column", "[loader]") {
  TempFiles tmp;
  const auto good = tmp.write("good.yaml", "routes: []\n");
  const auto bad = tmp.write("bad.yaml", "routes:\n  - id: [a, b\n  - id: c\n");
  Diagnostics diagnostics;
  const auto documents = parseRouteFiles({good, bad}, diagnostics);
  CHECK(documents.size() == 1);
  REQUIRE(diagnostics.size() == 1);
  const auto& d = diagnostics.items()[0];
  CHECK(d.where.file == bad.string());
  CHECK(d.where.line >= 2);
  CHECK(d.where.column >= 1);
  CHECK(d.message.rfind("invalid YAML: ", 0) == 0);
}

TEST_CASE("options are normalised: defaults filled in, durations in ms, sizes in bytes", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto loaded = loadText(tmp,
                               kHead +
                                   "      source: { dir: ./in, poll: 250ms, max_body: 512KiB, deep: true, batch: 7,\n"
                                   "                ratio: 1.5, mode: manual, methods: GET, labels: { a: b } }\n"
                                   "    to:\n"
                                   "      - sink: { url: http://x }\n",
                               r.registry);
  INFO(all(loaded.diagnostics));
  REQUIRE(loaded.diagnostics.empty());
  REQUIRE(loaded.routes.size() == 1);
  const auto& options = loaded.routes[0].from.options;
  CHECK(options["dir"] == "./in");
  CHECK(options["pattern"] == "*");
  CHECK(options["poll"] == 250);
  CHECK(options["max_body"] == 512 * 1024);
  CHECK(options["deep"] == true);
  CHECK(options["batch"] == 7);
  CHECK(options["ratio"] == 1.5);
  CHECK(options["mode"] == "manual");
  CHECK(options["methods"] == nlohmann::json::array({"GET"}));
  CHECK(options["labels"] == nlohmann::json{{"a", "b"}});
  CHECK_FALSE(options.contains("body"));  // no default: absent

  SECTION("and defaults of every type when nothing is written") {
    const auto defaults =
        loadText(tmp, kHead + "      source: { dir: ./in }\n    to:\n      - sink: { url: x }\n", r.registry);
    REQUIRE(defaults.diagnostics.empty());
    const auto& d = defaults.routes[0].from.options;
    CHECK(d["poll"] == 1000);
    CHECK(d["max_body"] == 10 * 1024 * 1024);
    CHECK(d["deep"] == false);
    CHECK(d["batch"] == 100);
    CHECK(d["ratio"] == 0.5);
    CHECK(d["mode"] == "auto");
    CHECK(d["methods"] == nlohmann::json::array({"POST"}));
  }
}

TEST_CASE("route defaults and route-level keys", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto body = "      source: { dir: ./in }\n    to:\n      - sink: { url: a }\n      - sink: { url: b }\n";
  SECTION("defaults") {
    const auto loaded = loadText(tmp, kHead + body, r.registry);
    REQUIRE(loaded.routes.size() == 1);
    const auto& route = loaded.routes[0];
    CHECK(route.id == "r");
    CHECK(route.reply == kReplyLast);
    CHECK(route.queue == 1024);
    CHECK(route.timeout == std::chrono::seconds(30));
    CHECK(route.concurrency == static_cast<int>(std::max(1u, std::thread::hardware_concurrency()) * 2));
    CHECK(route.retry.attempts == 1);
    CHECK_FALSE(route.dead_letter);
  }
  SECTION("written") {
    const auto loaded = loadText(tmp,
                                 kHead + body +
                                     "    reply: 1\n    concurrency: 3\n    queue: 9\n    timeout: 2m\n"
                                     "    on_error:\n"
                                     "      retry: { delay: 1s, backoff: 1.5, max_delay: 1h, jitter: 0 }\n"
                                     "      dead_letter: { name: dead, sink: { url: dlq } }\n",
                                 r.registry);
    INFO(all(loaded.diagnostics));
    REQUIRE(loaded.routes.size() == 1);
    const auto& route = loaded.routes[0];
    CHECK(route.reply == 1);
    CHECK(route.concurrency == 3);
    CHECK(route.queue == 9);
    CHECK(route.timeout == std::chrono::minutes(2));
    CHECK(route.retry.attempts == 3);  // a retry map without attempts means three tries
    CHECK(route.retry.delay == std::chrono::seconds(1));
    CHECK(route.retry.backoff == 1.5);
    CHECK(route.retry.max_delay == std::chrono::hours(1));
    CHECK(route.retry.jitter == 0.0);
    REQUIRE(route.dead_letter);
    CHECK(route.dead_letter->label == "dead");
    CHECK(route.dead_letter->options["url"] == "dlq");
  }
  SECTION("reply none") {
    const auto loaded = loadText(tmp, kHead + body + "    reply: none\n", r.registry);
    REQUIRE(loaded.routes.size() == 1);
    CHECK(loaded.routes[0].reply == kReplyNone);
  }
}

TEST_CASE("endpoints: guards, labels, value-form components", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto loaded = loadText(tmp,
                               kHead +
                                   "      source: { dir: ./in }\n"
                                   "    steps:\n"
                                   "      - stamp: { X-A: \"${header.b}\" }\n"
                                   "      - when: \"${header.a} == 'x'\"\n"
                                   "        keep: \"${header.b} != 'y'\"\n"
                                   "    to:\n"
                                   "      - name: primary\n"
                                   "        sink: { url: a }\n",
                               r.registry);
  INFO(all(loaded.diagnostics));
  REQUIRE(loaded.routes.size() == 1);
  const auto& route = loaded.routes[0];
  REQUIRE(route.steps.size() == 2);
  CHECK(route.steps[0].component == "stamp");
  CHECK(route.steps[0].label == "stamp");
  CHECK(route.steps[0].options == nlohmann::json{{"X-A", "${header.b}"}});
  CHECK_FALSE(route.steps[0].guard);
  CHECK(route.steps[1].guard);
  CHECK(route.steps[1].options == "${header.b} != 'y'");
  CHECK(route.to[0].label == "primary");
  CHECK(route.to[0].role == EndpointRole::Outbound);
  CHECK(route.from.role == EndpointRole::Inbound);
}

TEST_CASE("${env.*} is resolved at load time", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  ::setenv("SWITCHBOARD_LOADER_TEST_SET", "/data/${x}", 1);
  ::unsetenv("SWITCHBOARD_LOADER_TEST_UNSET");
  const auto loaded = loadText(tmp,
                               kHead +
                                   "      source:\n"
                                   "        dir: \"${env.SWITCHBOARD_LOADER_TEST_SET}/in\"\n"
                                   "        pattern: \"$${literal}\"\n"
                                   "        labels: { a: \"${env.SWITCHBOARD_LOADER_TEST_UNSET:-*.json}\" }\n"
                                   "        body: \"${env.SWITCHBOARD_LOADER_TEST_SET} $${kept}\"\n"
                                   "    to:\n"
                                   "      - sink: { url: \"${env.SWITCHBOARD_LOADER_TEST_UNSET:-}\" }\n",
                               r.registry);
  INFO(all(loaded.diagnostics));
  REQUIRE(loaded.routes.size() == 1);
  const auto& options = loaded.routes[0].from.options;
  CHECK(options["dir"] == "/data/${x}/in");  // plain text: taken as it is
  CHECK(options["pattern"] == "${literal}");
  CHECK(options["labels"]["a"] == "*.json");
  CHECK(options["body"] == "/data/$${x} $${kept}");  // template: an inserted '${' stays literal
  CHECK(loaded.routes[0].to[0].options["url"] == "");

  SECTION("an unset variable without a default is an error at its value, reported once") {
    const auto bad = loadText(tmp,
                              kHead + "      source: { dir: \"${env.SWITCHBOARD_LOADER_TEST_UNSET}\" }\n" +
                                  "    to:\n      - sink: { url: a }\n",
                              r.registry);
    CHECK(only(bad) ==
          ":4:23: routes[0].from.source.dir: environment variable 'SWITCHBOARD_LOADER_TEST_UNSET' is not set; set it, "
          "or write ${env.SWITCHBOARD_LOADER_TEST_UNSET:-default} to give a default");
    CHECK(bad.routes.empty());
  }
  ::unsetenv("SWITCHBOARD_LOADER_TEST_SET");
}

TEST_CASE("schema errors name file:line:column and the YAML path", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  auto error = [&](const std::string& from, const std::string& rest = "    to:\n      - sink: { url: a }\n") {
    return only(loadText(tmp, kHead + from + rest, r.registry));
  };
  CHECK(error("      source: { dir: ./in, max_body: 10 parsecs }\n") ==
        ":4:38: routes[0].from.source.max_body: expected a size like 512KiB or 10MiB, got '10 parsecs' (unknown unit "
        "' parsecs' (use B, KiB, MiB, GiB, KB, MB or GB))");
  CHECK_THAT(error("      source: { dir: ./in, poll: \"soon\" }\n"),
             Catch::StartsWith(":4:35: routes[0].from.source.poll: expected a duration like 250ms, 10s, 5m or 1h, "
                               "got 'soon'"));
  CHECK(error("      source: { dir: ./in, mode: manaul }\n") ==
        ":4:34: routes[0].from.source.mode: expected one of auto, manual, got 'manaul'; did you mean 'manual'?");
  CHECK(error("      source: { dir: ./in, batch: 1.5 }\n") ==
        ":4:35: routes[0].from.source.batch: expected an integer, got '1.5'");
  CHECK(error("      source: { dir: ./in, methods: { a: b } }\n") ==
        ":4:37: routes[0].from.source.methods: expected a list of strings, got a map");
  CHECK(error("      source: { dir: ./in, labels: [a] }\n") ==
        ":4:36: routes[0].from.source.labels: expected a map of names to strings, got a list");
  CHECK(error("      source: { dri: ./in, dir: ./in }\n") ==
        ":4:17: routes[0].from.source.dri: unknown option 'dri' for 'source'; did you mean 'dir'? (options: dir, "
        "pattern, poll, max_body, "
        "deep, batch, ratio, mode, methods, labels, body)");
  CHECK(error("      source: ./in\n") ==
        ":4:7: routes[0].from.source: expected a map of options for 'source', got './in'");
  CHECK(error("      sink: { url: a }\n") ==
        ":4:7: routes[0].from.sink: unknown inbound adapter 'sink': 'sink' is an outbound adapter, it can only be "
        "used in 'to'");
  CHECK(error("      source: { dir: ./in }\n", "    steps:\n      - stamp:\n    to:\n      - sink: { url: a }\n") ==
        ":6:9: routes[0].steps[0].stamp: 'stamp' needs a value: headers to set");
  CHECK_THAT(error("      source: { dir: ./in }\n",
                   "    steps:\n      - sink: { url: a }\n    to:\n      - sink: { url: a }\n"),
             Catch::StartsWith(":6:9: routes[0].steps[0].sink: unknown transform 'sink': 'sink' is an adapter"));
  CHECK(error("      source: { dir: ./in }\n", "    to:\n      - sink: { url: a }\n    reply: -1\n") ==
        ":7:12: routes[0].reply: expected last, none or an index into 'to' (0..0), got '-1'");
  CHECK(error("      source: { dir: ./in }\n", "    to: { sink: { url: a } }\n") ==
        ":5:9: routes[0].to: expected a non-empty list of outbound endpoints, got a map");
  CHECK(error("      source: { dir: ./in }\n", "    to:\n      - sink: { url: a }\n    on_error: { retry: 3 }\n") ==
        ":7:24: routes[0].on_error.retry: expected a map (attempts, delay, backoff, max_delay, jitter), got '3'");
  CHECK(error("      source: { dir: ./in }\n",
              "    to:\n      - sink: { url: a }\n    on_error: { retry: { jitter: 1.5 } }\n") ==
        ":7:34: routes[0].on_error.retry.jitter: expected a fraction from 0 to 1, got '1.5'");
  CHECK(error("      source: { dir: ./in }\n",
              "    to:\n      - sink: { url: a }\n        circuit_breaker: { failures: 0 }\n") ==
        ":7:38: routes[0].to[0].circuit_breaker.failures: expected an integer of at least 1, got '0'");
  CHECK(error("      source: { dir: ./in }\n",
              "    to:\n      - sink: { url: a }\n        circuit_breaker: { pasue: 1s }\n") ==
        ":7:28: routes[0].to[0].circuit_breaker.pasue: unknown circuit_breaker key 'pasue'; did you mean 'pause'? "
        "(circuit_breaker keys: failures, pause)");
  CHECK(error("      source: { dir: ./in }\n      circuit_breaker: { failures: 2 }\n",
              "    to:\n      - sink: { url: a }\n") ==
        ":5:7: routes[0].from.circuit_breaker: 'circuit_breaker' guards outbound endpoints, not steps or the inbound "
        "'from'");
}

TEST_CASE("an idempotent route names each item by a key", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto head = kHead + "      source: { dir: ./in }\n    to:\n      - sink: { url: a }\n";
  const auto loaded =
      loadText(tmp, head + "    idempotent: { key: \"${header.file.name}\", store: ./s.db, expire: 1h }\n", r.registry);
  INFO(all(loaded.diagnostics));
  REQUIRE(loaded.routes.size() == 1);
  REQUIRE(loaded.routes[0].idempotent);
  CHECK(loaded.routes[0].idempotent->key.text() == "${header.file.name}");
  CHECK(loaded.routes[0].idempotent->store == "./s.db");
  CHECK(loaded.routes[0].idempotent->expire == std::chrono::hours(1));
  const auto missing = loadText(tmp, head + "    idempotent: { store: ./s.db }\n", r.registry);
  CHECK_THAT(all(missing.diagnostics), Catch::Contains("routes[0].idempotent: idempotent needs a 'key' template"));
  const auto constant = loadText(tmp, head + "    idempotent: { key: same }\n", r.registry);
  CHECK_THAT(all(constant.diagnostics), Catch::Contains("must reference the message"));
  const auto broken = loadText(tmp, head + "    idempotent: { key: \"${header.x\" }\n", r.registry);
  CHECK_THAT(all(broken.diagnostics), Catch::Contains(":7:25: routes[0].idempotent.key: invalid template"));
}

TEST_CASE("an outbound endpoint's circuit breaker", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto loaded = loadText(tmp,
                               kHead +
                                   "      source: { dir: ./in }\n    to:\n      - sink: { url: a }\n"
                                   "        circuit_breaker: { failures: 4, pause: 2s }\n      - sink: { url: b }\n",
                               r.registry);
  INFO(all(loaded.diagnostics));
  REQUIRE(loaded.routes.size() == 1);
  const auto& to = loaded.routes[0].to;
  REQUIRE(to[0].circuit_breaker);
  CHECK(to[0].circuit_breaker->failures == 4);
  CHECK(to[0].circuit_breaker->pause == std::chrono::seconds(2));
  CHECK_FALSE(to[1].circuit_breaker);
}

TEST_CASE("a required option written with a bad value is not also reported missing", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto loaded =
      loadText(tmp, kHead + "      source: { dir: [a, b] }\n    to:\n      - sink: { url: a }\n", r.registry);
  CHECK(only(loaded) == ":4:22: routes[0].from.source.dir: expected a string, got a list");
}

TEST_CASE("every error is reported, and only routes without errors are kept", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto loaded = loadText(tmp,
                               "routes:\n"
                               "  - id: good\n"
                               "    from: { source: { dir: ./in } }\n"
                               "    to: [ { sink: { url: a } } ]\n"
                               "  - id: bad\n"
                               "    from: { source: { dir: ./in, deep: perhaps } }\n"
                               "    to: [ { snk: { url: a } } ]\n"
                               "    queue: none\n"
                               "  - id: good\n"
                               "    from: { source: {} }\n"
                               "    to: [ { sink: {} } ]\n",
                               r.registry);
  REQUIRE(loaded.diagnostics.size() == 6);
  std::vector<std::string> paths;
  for (const auto& d : loaded.diagnostics.items()) paths.push_back(d.where.path);
  CHECK(paths == std::vector<std::string>{"routes[1].from.source.deep", "routes[1].to[0].snk", "routes[1].queue",
                                          "routes[2].id", "routes[2].from.source", "routes[2].to[0].sink"});
  CHECK(loaded.diagnostics.items()[1].message ==
        "unknown outbound adapter 'snk'; did you mean 'sink'? (known: picky, sink)");
  CHECK(loaded.diagnostics.items()[3].message.find("duplicate route id 'good' (first defined at ") == 0);
  REQUIRE(loaded.routes.size() == 1);
  CHECK(loaded.routes[0].id == "good");
}

TEST_CASE("a duplicate route id across files names the first definition", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  const auto route = "routes:\n  - id: same\n    from: { source: { dir: x } }\n    to: [ { sink: { url: a } } ]\n";
  const auto a = tmp.write("a.yaml", route);
  const auto b = tmp.write("b.yaml", std::string("# second\n") + route);
  const auto loaded = load({a, b}, r.registry);
  REQUIRE(loaded.diagnostics.size() == 1);
  const auto& d = loaded.diagnostics.items()[0];
  CHECK(d.where.file == b.string());
  CHECK(d.where.line == 3);
  CHECK(d.where.column == 9);
  CHECK(d.message == "duplicate route id 'same' (first defined at " + a.string() + ":2:9)");
  CHECK(loaded.routes.size() == 1);
}

TEST_CASE("the column of an error inside a value's text counts from its first character", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  auto guard = [&](const std::string& endpoint) {
    return only(loadText(tmp, kHead + "      source: { dir: x }\n    to:\n" + endpoint, r.registry));
  };
  // The '=' is the 13th character of the expression.
  CHECK_THAT(guard("      - when: ${header.a} = 'x'\n        sink: { url: a }\n"),
             Catch::StartsWith(":6:27: routes[0].to[0].when: invalid expression"));
  CHECK_THAT(guard("      - when: \"${header.a} = 'x'\"\n        sink: { url: a }\n"),
             Catch::StartsWith(":6:28: routes[0].to[0].when: invalid expression"));
  CHECK_THAT(guard("      - when: '${header.a} = ''x'''\n        sink: { url: a }\n"),
             Catch::StartsWith(":6:28: routes[0].to[0].when: invalid expression"));
  CHECK_THAT(guard("      - when: |\n          ${header.a} = 'x'\n        sink: { url: a }\n"),
             Catch::StartsWith(":7:23: routes[0].to[0].when: invalid expression"));
  CHECK_THAT(guard("      - when: >-\n          ${header.a} = 'x'\n        sink: { url: a }\n"),
             Catch::StartsWith(":7:23: routes[0].to[0].when: invalid expression"));
}

TEST_CASE("component errors land on the option, at the offset the component gives", "[loader]") {
  TestRegistry r;
  TempFiles tmp;
  auto create = [&](const std::string& text) {
    Loaded loaded = loadText(tmp, text, r.registry);
    INFO(all(loaded.diagnostics));
    REQUIRE(loaded.diagnostics.empty());
    REQUIRE(loaded.routes.size() == 1);
    Scheduler scheduler;
    auto route = Route::create(loaded.routes[0], r.registry, scheduler, loaded.diagnostics);
    CHECK_FALSE(route);
    return all(loaded.diagnostics);
  };
  const auto head = kHead + "      source: { dir: x }\n";
  SECTION("a plain string option") {
    CHECK(create(head + "    to:\n      - picky: { path: a/../b }\n")
              .find(":6:26: routes[0].to[0].picky.path: '..' is not "
                    "allowed\n") != std::string::npos);
  }
  SECTION("a quoted string option") {
    CHECK(create(head + "    to:\n      - picky: { path: \"a/../b\" }\n").find(":6:27: routes[0].to[0].picky.path:") !=
          std::string::npos);
  }
  SECTION("a template option") {
    CHECK(create(head + "    to:\n      - sink: { url: \"http://${hedaer.x}\" }\n")
              .find(":6:32: routes[0].to[0].sink.url: unknown reference '${hedaer.x}'") != std::string::npos);
  }
  SECTION("an entry of a template map") {
    CHECK(create(head + "    to:\n      - sink: { url: a, headers: { X-A: \"v ${bdy}\" } }\n")
              .find(":6:46: routes[0].to[0].sink.headers.X-A: unknown reference '${bdy}'") != std::string::npos);
  }
  SECTION("an entry of a value-form template map") {
    CHECK(create(head + "    steps:\n      - stamp: { X-A: 'v ${bdy}' }\n    to:\n      - sink: { url: a }\n")
              .find(":6:28: routes[0].steps[0].stamp.X-A: unknown reference '${bdy}'") != std::string::npos);
  }
  SECTION("a value-form expression") {
    CHECK(create(head + "    steps:\n      - keep: \"${body} =\"\n    to:\n      - sink: { url: a }\n")
              .find(":6:24: routes[0].steps[0].keep: unexpected character '='") != std::string::npos);
  }
}
