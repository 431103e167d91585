#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "switchboard/message.hpp"
#include "switchboard/options.hpp"
#include "switchboard/status.hpp"

using namespace std::chrono_literals;
using switchboard::Message;
using switchboard::OptionError;
using switchboard::Options;
using switchboard::Scope;

namespace {

// Options as the loader hands them over: checked, defaults filled in, durations in
// milliseconds and sizes in bytes.
Options fileOutOptions() {
  return Options(
      nlohmann::json{
          {"dir", "./out"},
          {"name", "${route.id}-${message.id}.xml"},
          {"mkdirs", true},
          {"meta", false},
          {"batch", 100},
          {"backoff", 2.5},
          {"poll", 1500},
          {"max_body", 10485760},
          {"methods", {"POST", "PUT"}},
          {"users", {{"bob", "secret"}, {"alice", "pw"}}},
          {"headers", {{"X-Source", "crm"}, {"X-Id", "${message.id}"}}},
          {"when", "${header.X-Customer} == 'acme'"},
          {"tls", {{"verify", true}}},
      },
      Scope{"orders-in"});
}

OptionError optionError(const std::function<void()>& action) {
  try {
    action();
  } catch (const OptionError& e) {
    return e;
  }
  FAIL("no OptionError");
  return OptionError("", "");
}

}  // namespace

TEST_CASE("parseDuration reads ms, s, m and h", "[options][duration]") {
  CHECK(switchboard::parseDuration("250ms") == 250ms);
  CHECK(switchboard::parseDuration("10s") == 10s);
  CHECK(switchboard::parseDuration("5m") == 5min);
  CHECK(switchboard::parseDuration("1h") == 1h);
  CHECK(switchboard::parseDuration("0s") == 0ms);
  CHECK(switchboard::parseDuration("1.5s") == 1500ms);
  CHECK(switchboard::parseDuration("0.25h") == 15min);
}

TEST_CASE("parseDuration reads a plain number as milliseconds", "[options][duration]") {
  CHECK(switchboard::parseDuration("1500") == 1500ms);
  CHECK(switchboard::parseDuration("0") == 0ms);
}

TEST_CASE("parseDuration rejects malformed durations", "[options][duration]") {
  const char* invalid[] = {"",      "s",      "ms",    "-1s",  "10 s", " 10s", "10sec", "10S", "1d",
                           "1..5s", "1.2.3s", "1e3ms", "10s ", ".",    "abc",  "10ms5", "+5s"};
  for (const char* text : invalid) {
    INFO("'" << text << "'");
    CHECK_THROWS_AS(switchboard::parseDuration(text), std::invalid_argument);
  }
  CHECK_THROWS_WITH(switchboard::parseDuration("10d"), Catch::Contains("unknown unit 'd'"));
}

TEST_CASE("parseDuration rejects durations too large to represent", "[options][duration]") {
  CHECK_THROWS_AS(switchboard::parseDuration("99999999999999999999h"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::parseDuration("9999999999999999999"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::parseDuration(std::string(400, '9') + "s"), std::invalid_argument);
  CHECK(switchboard::parseDuration("1000000h") == 1000000h);
}

TEST_CASE("parseSize reads bytes and binary and decimal units", "[options][size]") {
  CHECK(switchboard::parseSize("512") == 512);
  CHECK(switchboard::parseSize("512B") == 512);
  CHECK(switchboard::parseSize("0") == 0);
  CHECK(switchboard::parseSize("64KiB") == 64 * 1024);
  CHECK(switchboard::parseSize("10MiB") == 10 * 1024 * 1024);
  CHECK(switchboard::parseSize("1GiB") == 1024ULL * 1024 * 1024);
  CHECK(switchboard::parseSize("1.5KiB") == 1536);
  CHECK(switchboard::parseSize("1KB") == 1000);
  CHECK(switchboard::parseSize("1kB") == 1000);
  CHECK(switchboard::parseSize("10MB") == 10'000'000);
  CHECK(switchboard::parseSize("2GB") == 2'000'000'000ULL);
  CHECK(switchboard::parseSize("16GiB") == 16ULL * 1024 * 1024 * 1024);
}

TEST_CASE("parseSize rejects malformed sizes", "[options][size]") {
  const char* invalid[] = {"",         "KiB",    "10 MiB", "10mib", "10kib", "10TiB", "-1",
                           "1.2.3KiB", "10MiB ", " 10",    "10b",   "1e3",   "ten"};
  for (const char* text : invalid) {
    INFO("'" << text << "'");
    CHECK_THROWS_AS(switchboard::parseSize(text), std::invalid_argument);
  }
  CHECK_THROWS_WITH(switchboard::parseSize("10TiB"), Catch::Contains("unknown unit 'TiB'"));
}

TEST_CASE("parseSize rejects sizes too large to represent", "[options][size]") {
  CHECK_THROWS_AS(switchboard::parseSize("99999999999GiB"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::parseSize("18446744073709551616"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::parseSize(std::string(400, '9')), std::invalid_argument);
  CHECK(switchboard::parseSize("1000000GiB") == 1000000ULL * 1024 * 1024 * 1024);
}

TEST_CASE("Options::has", "[options]") {
  const auto options = fileOutOptions();
  CHECK(options.has("dir"));
  CHECK(options.has("meta"));  // present, even though false
  CHECK_FALSE(options.has("missing"));
  CHECK(options.has(""));  // the value as a whole

  CHECK_FALSE(Options(nullptr, {}).has(""));
  CHECK_FALSE(Options(nullptr, {}).has("dir"));
  CHECK(Options("text", {}).has(""));
  CHECK_FALSE(Options("text", {}).has("dir"));
}

TEST_CASE("Options accessors read scalar values", "[options]") {
  const auto options = fileOutOptions();
  CHECK(options.string("dir") == "./out");
  CHECK(options.boolean("mkdirs"));
  CHECK_FALSE(options.boolean("meta"));
  CHECK(options.integer("batch") == 100);
  CHECK(options.number("backoff") == Approx(2.5));
  CHECK(options.number("batch") == Approx(100.0));
  CHECK(options.duration("poll") == 1500ms);
  CHECK(options.size("max_body") == 10485760U);
  CHECK(options.scope().route_id == "orders-in");
}

TEST_CASE("Options accessors read lists, maps and raw JSON", "[options]") {
  const auto options = fileOutOptions();
  CHECK(options.list("methods") == std::vector<std::string>{"POST", "PUT"});
  // JSON objects keep their keys sorted.
  CHECK(options.map("users") == std::vector<std::pair<std::string, std::string>>{{"alice", "pw"}, {"bob", "secret"}});
  CHECK(options.json("tls") == nlohmann::json{{"verify", true}});
  CHECK(options.json("batch") == 100);
}

TEST_CASE("Options in value form use the empty name", "[options]") {
  const Options options("${header.X-Source}!", Scope{"r"});
  CHECK(options.string("") == "${header.X-Source}!");

  Message message("m");
  message.headers().set("x-source", "crm");
  CHECK(options.templ("").render(message) == "crm!");
  CHECK(options.json("") == "${header.X-Source}!");
}

TEST_CASE("an absent option throws OptionError naming it", "[options]") {
  const auto options = fileOutOptions();
  const auto error = optionError([&] { options.string("url"); });
  CHECK(error.option() == "url");
  CHECK(error.columnOffset() == -1);
  CHECK_THAT(error.what(), Catch::Contains("'url' is not set"));

  CHECK_THROWS_AS(options.integer("nope"), OptionError);
  CHECK_THROWS_AS(options.duration("nope"), OptionError);
  CHECK_THROWS_AS(options.templ("nope"), OptionError);
  CHECK_THROWS_AS(options.expression("nope"), OptionError);
  CHECK_THROWS_AS(options.templateMap("nope"), OptionError);
  CHECK_THROWS_AS(Options("text", {}).string("dir"), OptionError);
}

TEST_CASE("Options::templ compiles a template in the options' scope", "[options][template]") {
  const auto options = fileOutOptions();
  const auto name = options.templ("name");
  CHECK(name.render(Message("m-7")) == "orders-in-m-7.xml");
  CHECK(options.templ("dir").isConstant());
}

TEST_CASE("Options::templateMap compiles every value", "[options][template]") {
  const auto options = fileOutOptions();
  const auto headers = options.templateMap("headers");
  REQUIRE(headers.size() == 2);
  CHECK(headers[0].first == "X-Id");
  CHECK(headers[0].second.render(Message("m-9")) == "m-9");
  CHECK(headers[1].first == "X-Source");
  CHECK(headers[1].second.isConstant());
}

TEST_CASE("Options::expression compiles a guard in the options' scope", "[options][expression]") {
  const Options options({{"when", "${header.X-Customer} == 'acme' && ${route.id} == 'orders-in'"}}, Scope{"orders-in"});
  const auto guard = options.expression("when");
  Message message("m");
  CHECK_FALSE(guard.test(message));
  message.headers().set("X-Customer", "acme");
  CHECK(guard.test(message));
}

TEST_CASE("a template syntax error becomes an OptionError with option and column", "[options][template]") {
  SECTION("unterminated reference") {
    const Options options({{"name", "out/${message.id"}}, {});
    const auto error = optionError([&] { options.templ("name"); });
    CHECK(error.option() == "name");
    CHECK(error.columnOffset() == 4);
    CHECK_THAT(error.what(), Catch::Contains("unterminated"));
  }
  SECTION("unknown reference") {
    const Options options({{"name", "x-${heder.id}"}}, {});
    const auto error = optionError([&] { options.templ("name"); });
    CHECK(error.option() == "name");
    CHECK(error.columnOffset() == 4);
    CHECK_THAT(error.what(), Catch::Contains("unknown reference"));
  }
  SECTION("value form") {
    const Options options("a ${nope}", {});
    const auto error = optionError([&] { options.templ(""); });
    CHECK(error.option().empty());
    CHECK(error.columnOffset() == 4);
  }
}

TEST_CASE("a template map syntax error names the entry", "[options][template]") {
  SECTION("named option") {
    const Options options({{"headers", {{"X-Good", "ok"}, {"X-Bad", "v=${body"}}}}, {});
    const auto error = optionError([&] { options.templateMap("headers"); });
    CHECK(error.option() == "headers.X-Bad");
    CHECK(error.columnOffset() == 2);
  }
  SECTION("value form") {
    const Options options(nlohmann::json{{"X-Bad", "${what}"}}, {});
    const auto error = optionError([&] { options.templateMap(""); });
    CHECK(error.option() == "X-Bad");
    CHECK(error.columnOffset() == 2);
  }
}

TEST_CASE("an expression syntax error becomes an OptionError with option and column", "[options][expression]") {
  SECTION("unterminated string") {
    const Options options({{"when", "${header.a} == 'x"}}, {});
    const auto error = optionError([&] { options.expression("when"); });
    CHECK(error.option() == "when");
    CHECK(error.columnOffset() == 15);
    CHECK_THAT(error.what(), Catch::Contains("unterminated string"));
  }
  SECTION("ordering against a boolean") {
    const Options options("${body.n} >= true", {});
    const auto error = optionError([&] { options.expression(""); });
    CHECK(error.option().empty());
    CHECK(error.columnOffset() == 10);
  }
  SECTION("unknown reference inside the expression") {
    const Options options({{"filter", "1 == ${bdy.x}"}}, {});
    const auto error = optionError([&] { options.expression("filter"); });
    CHECK(error.option() == "filter");
    CHECK(error.columnOffset() == 7);
    CHECK_THAT(error.what(), Catch::Contains("did you mean '${body"));
  }
}
