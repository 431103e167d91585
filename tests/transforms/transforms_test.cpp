#include "plugin_fixture.hpp"

#include <filesystem>
#include <fstream>

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

namespace {
nlohmann::json mapped(nlohmann::ordered_json spec, const std::string& body,
                      std::initializer_list<std::pair<const char*, const char*>> headers = {}) {
  auto transform = makeTransform("map", std::move(spec));
  auto message = jsonMessage(body);
  for (const auto& [name, value] : headers) message.headers().set(name, value);
  REQUIRE(transform->apply(message).isOk());
  CHECK(message.contentType() == "application/json");
  return nlohmann::json::parse(message.body());
}
}  // namespace

TEST_CASE("map builds a new body from paths and values", "[transforms][map]") {
  const std::string order = R"({"order": {"id": 7, "total": 12.5, "lines": [{"sku": "A"}, {"sku": "B"}],
                                 "paid": true, "note": null, "customer": {"name": "Ada"}}})";
  SECTION("a lone reference keeps its JSON type") {
    const auto out = mapped({{"id", "${body.order.id}"},
                             {"total", "${body.order.total}"},
                             {"paid", "${body.order.paid}"},
                             {"note", "${body.order.note}"},
                             {"lines", "${body.order.lines}"},
                             {"who", "${body.order.customer}"}},
                            order);
    CHECK(out["id"] == 7);
    CHECK(out["total"] == 12.5);
    CHECK(out["paid"] == true);
    CHECK(out["note"].is_null());
    CHECK(out["lines"].size() == 2);
    CHECK(out["who"]["name"] == "Ada");
  }
  SECTION("other strings are templates giving text") {
    const auto out = mapped({{"ref", "order-${body.order.id}"}, {"fixed", "plain text"}}, order);
    CHECK(out["ref"] == "order-7");
    CHECK(out["fixed"] == "plain text");
  }
  SECTION("dotted and indexed target paths build nested objects and arrays") {
    const auto out = mapped({{"erp.header.id", "${body.order.id}"},
                             {"erp.items[1].code", "${body.order.lines[1].sku}"},
                             {"erp.items[0].code", "${body.order.lines[0].sku}"}},
                            order);
    CHECK(out == nlohmann::json::parse(R"({"erp": {"header": {"id": 7}, "items": [{"code": "A"}, {"code": "B"}]}})"));
  }
  SECTION("numbers, booleans and null stay as written") {
    const auto out = mapped({{"n", 42}, {"neg", -1.5}, {"yes", false}, {"nothing", nullptr}}, order);
    CHECK(out == nlohmann::json::parse(R"({"n": 42, "neg": -1.5, "yes": false, "nothing": null})"));
  }
  SECTION("nested maps and lists") {
    nlohmann::ordered_json spec = {{"customer", {{"name", "${body.order.customer.name}"}, {"source", "crm"}}},
                                   {"tags", nlohmann::ordered_json::array({"a", "${body.order.id}"})},
                                   {"empty", nlohmann::ordered_json::array()}};
    const auto out = mapped(spec, order);
    CHECK(out["customer"] == nlohmann::json::parse(R"({"name": "Ada", "source": "crm"})"));
    CHECK(out["tags"] == nlohmann::json::parse(R"(["a", 7])"));
    CHECK(out["empty"] == nlohmann::json::array());
  }
  SECTION("headers, ids and missing values") {
    const auto out = mapped({{"h", "${header.X-Region}"}, {"missing", "${body.order.nope}"}, {"id", "${message.id}"}},
                            order, {{"X-Region", "eu"}});
    CHECK(out["h"] == "eu");
    CHECK(out["missing"].is_null());
    CHECK(out["id"] == "m-1");
  }
  SECTION("unicode passes through") {
    const auto out = mapped({{"name", "${body.n}"}}, R"({"n": "Zoë 東京 🚀"})");
    CHECK(out["name"] == "Zoë 東京 🚀");
  }
  SECTION("\".\" first merges into the body: other fields stay, targets add or replace") {
    const auto out = mapped({{".", "${body}"}, {"order.id", 8}, {"order.lines[1].qty", 2}, {"status", "ok"}}, order);
    CHECK(out == nlohmann::json::parse(R"({"order": {"id": 8, "total": 12.5, "paid": true, "note": null,
                                           "lines": [{"sku": "A"}, {"sku": "B", "qty": 2}],
                                           "customer": {"name": "Ada"}}, "status": "ok"})"));
  }
  SECTION("\".\" may be any value: a part of the body, or built") {
    CHECK(mapped({{".", "${body.order.customer}"}, {"vip", true}}, order) ==
          nlohmann::json::parse(R"({"name": "Ada", "vip": true})"));
    // A target into a value of another kind replaces it, as with any path.
    CHECK(mapped({{".", "${body.order.lines}"}, {"[0].sku", "Z"}}, order) ==
          nlohmann::json::parse(R"([{"sku": "Z"}, {"sku": "B"}])"));
  }
}

TEST_CASE("map fails the message when a value needs a JSON body it does not have", "[transforms][map]") {
  auto transform = makeTransform("map", {{"id", "${body.id}"}});
  auto message = jsonMessage("{truncated");
  CHECK_THROWS_AS(transform->apply(message), MessageError);
}

TEST_CASE("map rejects what cannot work at load time", "[transforms][map]") {
  CHECK_THROWS_AS(makeTransform("map", {{"a[", "x"}}), OptionError);
  CHECK_THROWS_AS(makeTransform("map", {{"a", "${nope}"}}), OptionError);
  CHECK_THROWS_AS(makeTransform("map", "not a map"), OptionError);
  CHECK_THROWS_AS(makeTransform("map", {{"a", {{".", "${body}"}}}}), OptionError);  // "." only at the top
}

TEST_CASE("template renders text and sets the content type", "[transforms][template]") {
  auto transform = makeTransform(
      "template", {{"text", "<order id=\"${body.id}\">${header.X-Note}</order>"}, {"content_type", "application/xml"}});
  auto message = jsonMessage(R"({"id": 3})");
  message.headers().set("X-Note", "rush");
  REQUIRE(transform->apply(message).isOk());
  CHECK(message.body() == "<order id=\"3\">rush</order>");
  CHECK(message.contentType() == "application/xml");
}

TEST_CASE("template from a file, and its errors", "[transforms][template]") {
  const auto path = std::filesystem::temp_directory_path() / ("sb-template-" + newUuid() + ".txt");
  { std::ofstream(path) << "id=${body.id};escaped=$${body}\n"; }
  auto transform = makeTransform("template", {{"file", path.string()}});
  auto message = jsonMessage(R"({"id": 9})");
  REQUIRE(transform->apply(message).isOk());
  CHECK(message.body() == "id=9;escaped=${body}\n");
  CHECK(message.contentType() == "application/json");  // kept without content_type
  std::filesystem::remove(path);
  CHECK_THROWS_AS(makeTransform("template", {{"file", path.string()}}), OptionError);
  CHECK_THROWS_AS(makeTransform("template", nlohmann::ordered_json::object()), OptionError);
  CHECK_THROWS_AS(makeTransform("template", {{"text", "x"}, {"file", "y"}}), OptionError);
}

TEST_CASE("template cases", "[transforms][template]") {
  struct Case {
    const char* text;
    const char* body;
    const char* output;
  };
  const Case cases[] = {
      {"${body}", R"({"a": 1})", R"({"a": 1})"},  // the body's text as it is
      {"<id>${body.a.b[1]}</id>", R"({"a": {"b": [5, 6]}})", "<id>6</id>"},
      {"${body.o}", R"({"o": {"y": [1, 2], "x": null}})", R"({"x":null,"y":[1,2]})"},
      {"[${body.missing}]", "{}", "[]"},
      {"$${body} is ${body.n}", R"({"n": "x"})", "${body} is x"},
      {"${header.x-note}/${header.X-NOTE}", "{}", "rush/rush"},
      {"${body.name} 🚀", R"({"name": "Zoë 東京"})", "Zoë 東京 🚀"},
      {"line 1\n  ${body.n}\n", R"({"n": -1.5})", "line 1\n  -1.5\n"},
      {"${body.big}", R"({"big": 12345678901234567890})", "12345678901234567890"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto transform = makeTransform("template", {{"text", c.text}});
    auto message = jsonMessage(c.body);
    message.headers().set("X-Note", "rush");
    REQUIRE(transform->apply(message).isOk());
    CHECK(message.body() == c.output);
  }
}
