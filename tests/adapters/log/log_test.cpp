#include "plugin_fixture.hpp"

using namespace switchboard;
using namespace switchboard::testing;

TEST_CASE("log passes the message on unchanged, as step and as endpoint", "[log]") {
  Message message("m-1");
  message.setBody(R"({"a": 1})", "application/json");
  message.headers().set("X", "y");
  auto step = makeTransform("log", {{"message", "a is ${body.a}"}, {"level", "debug"}});
  auto endpoint = makeOutbound("log", nlohmann::json::object());
  REQUIRE(step->apply(message).isOk());
  REQUIRE(endpoint->send(message).isOk());
  CHECK(message.body() == R"({"a": 1})");
  CHECK(message.headers().size() == 1);
  CHECK(endpoint->describe() == "log info");
}

TEST_CASE("log renders its template only when the level is enabled", "[log]") {
  // At error level an info line is not rendered, so a body it cannot read does not fail.
  Logger::instance().configure(LogLevel::Error, false);
  auto endpoint = makeOutbound("log", {{"message", "${body.a}"}});
  Message message("m-2");
  message.setBody("not json");
  CHECK(endpoint->send(message).isOk());
  Logger::instance().configure(LogLevel::Info, false);
  CHECK_THROWS_AS(endpoint->send(message), MessageError);
}
