#include "plugin_fixture.hpp"

using namespace switchboard;
using namespace switchboard::testing;

namespace {
Message jsonMessage(const std::string& body) {
  Message message("m-1");
  message.setBody(body, "application/json");
  return message;
}
}  // namespace

TEST_CASE("set-header renders templates in order", "[transforms]") {
  auto transform = makeTransform("set-header", {{"X-Id", "${body.id}"}, {"X-Copy", "${header.X-Id}!"}});
  auto message = jsonMessage(R"({"id": 42})");
  message.headers().set("x-id", "old");
  REQUIRE(transform->apply(message).isOk());
  CHECK(*message.headers().find("X-Id") == "42");
  CHECK(*message.headers().find("X-Copy") == "42!");
  CHECK(message.headers().size() == 2);  // replaced case-insensitively, not added
}

TEST_CASE("set-header on a body that is not JSON throws a message error", "[transforms]") {
  auto transform = makeTransform("set-header", {{"X-Id", "${body.id}"}});
  auto message = jsonMessage("not json");
  CHECK_THROWS_AS(transform->apply(message), MessageError);
}

TEST_CASE("remove-header removes every header of each name", "[transforms]") {
  auto transform = makeTransform("remove-header", nlohmann::json::array({"authorization", "X-Debug"}));
  auto message = jsonMessage("{}");
  message.headers().add("Authorization", "secret");
  message.headers().add("AUTHORIZATION", "secret2");
  message.headers().add("X-Keep", "1");
  REQUIRE(transform->apply(message).isOk());
  CHECK(message.headers().size() == 1);
  CHECK(message.headers().contains("x-keep"));
}

TEST_CASE("set-body replaces the body and keeps the content type", "[transforms]") {
  auto transform = makeTransform("set-body", "{\"wrapped\": ${body}}");
  auto message = jsonMessage(R"({"a": 1})");
  REQUIRE(transform->apply(message).isOk());
  CHECK(message.body() == R"({"wrapped": {"a": 1}})");
  CHECK(message.contentType() == "application/json");
  CHECK(message.jsonBody()["wrapped"]["a"] == 1);  // the cached parse was reset
}

TEST_CASE("filter passes or drops", "[transforms]") {
  auto transform = makeTransform("filter", "${body.amount} > 100 && ${header.X-Region} != 'test'");
  auto big = jsonMessage(R"({"amount": 250})");
  CHECK(transform->apply(big).isOk());
  auto small = jsonMessage(R"({"amount": 5})");
  CHECK(transform->apply(small).code() == Status::Code::Drop);
  big.headers().set("X-Region", "test");
  CHECK(transform->apply(big).code() == Status::Code::Drop);
}

TEST_CASE("a bad template is an option error with its offset", "[transforms]") {
  try {
    makeTransform("set-body", "ok ${heder.x}");
    FAIL("expected an OptionError");
  } catch (const OptionError& e) {
    CHECK(e.option().empty());
    CHECK(e.columnOffset() == 5);
    CHECK(std::string(e.what()).find("did you mean '${header.") != std::string::npos);
  }
}
