// split: children of JSON arrays and XPath node sets, their headers, and what cannot be split.
#include "plugin_fixture.hpp"

using namespace switchboard;
using namespace switchboard::testing;

namespace {

std::vector<Message> splitWith(nlohmann::ordered_json options, const std::string& body, const std::string& type) {
  auto step = makeTransform("split", std::move(options));
  auto* splitter = dynamic_cast<Splitter*>(step.get());
  REQUIRE(splitter != nullptr);  // the route finds splitters this way
  Message message("parent-1");
  message.setBody(body, type);
  message.headers().set("X-Batch", "b7");
  return splitter->split(message);
}

std::vector<std::string> bodies(const std::vector<Message>& children) {
  std::vector<std::string> out;
  for (const auto& child : children) out.push_back(child.body());
  return out;
}

}  // namespace

TEST_CASE("split cuts a JSON array into one message per element", "[transforms][split]") {
  const auto children =
      splitWith({{"path", "order.lines"}}, R"({"order": {"id": 7, "lines": [{"sku": "A"}, 2, "x", null, [1]]}})",
                "application/json");
  CHECK(bodies(children) == std::vector<std::string>{R"({"sku":"A"})", "2", R"("x")", "null", "[1]"});
  for (std::size_t i = 0; i < children.size(); ++i) {
    const auto& child = children[i];
    CHECK(child.contentType() == "application/json");
    CHECK(*child.headers().find("split.index") == std::to_string(i));
    CHECK(*child.headers().find("split.size") == "5");
    CHECK(*child.headers().find("split.parent") == "parent-1");
    CHECK(*child.headers().find("X-Batch") == "b7");  // the parent's headers travel along
    CHECK(child.id() != "parent-1");
  }
  CHECK(children[0].id() != children[1].id());
}

TEST_CASE("split with path '.' cuts a body that is an array, as csv-to-json gives", "[transforms][split]") {
  CHECK(bodies(splitWith({{"path", "."}}, R"([{"id":"1"},{"id":"2"}])", "application/json")) ==
        std::vector<std::string>{R"({"id":"1"})", R"({"id":"2"})"});
  CHECK(splitWith({{"path", "."}}, "[]", "application/json").empty());
}

TEST_CASE("split refuses what is not an array, and bodies that are not JSON", "[transforms][split]") {
  const auto failure = [](nlohmann::ordered_json options, const std::string& body) {
    try {
      splitWith(std::move(options), body, "application/json");
    } catch (const MessageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(failure({{"path", "items"}}, R"({"items": {"a": 1}})") == "split: 'items' is an object, not an array");
  CHECK(failure({{"path", "items"}}, R"({"items": "a,b"})") == "split: 'items' is a string, not an array");
  CHECK(failure({{"path", "items"}}, R"({"other": []})") == "split: the body has no 'items'");
  CHECK(failure({{"path", "."}}, R"({"items": []})") == "split: '.' is an object, not an array");
  CHECK(failure({{"path", "items"}}, R"({"items": [1, 2)").starts_with("body is not valid JSON: "));
}

TEST_CASE("split cuts XPath node sets into elements, attribute values and text", "[transforms][split]") {
  const std::string order =
      R"(<order id="7"><line sku="A"><qty>1</qty></line><line sku="B"><qty>2</qty></line><note>rush</note></order>)";
  const auto lines = splitWith({{"xpath", "/order/line"}}, order, "application/xml");
  CHECK(bodies(lines) ==
        std::vector<std::string>{R"(<line sku="A"><qty>1</qty></line>)", R"(<line sku="B"><qty>2</qty></line>)"});
  CHECK(lines[0].contentType() == "application/xml");
  CHECK(*lines[1].headers().find("split.index") == "1");
  CHECK(*lines[1].headers().find("split.size") == "2");

  const auto skus = splitWith({{"xpath", "/order/line/@sku"}}, order, "application/xml");
  CHECK(bodies(skus) == std::vector<std::string>{"A", "B"});
  CHECK(skus[0].contentType() == "text/plain");
  CHECK(bodies(splitWith({{"xpath", "/order/note/text()"}}, order, "application/xml")) ==
        std::vector<std::string>{"rush"});
  CHECK(splitWith({{"xpath", "/order/missing"}}, order, "application/xml").empty());
}

TEST_CASE("split by XPath with declared namespaces keeps each child's own namespaces", "[transforms][split]") {
  const std::string feed =
      R"(<f:feed xmlns:f="urn:feed" xmlns="urn:items"><item n="1"/><item n="2"><f:x/></item></f:feed>)";
  const auto items = splitWith({{"xpath", "/f:feed/i:item"}, {"namespaces", {{"f", "urn:feed"}, {"i", "urn:items"}}}},
                               feed, "application/xml");
  // Cut from the document as written, with the inherited declarations it uses: each child is a
  // well-formed document in the same namespaces.
  CHECK(bodies(items) == std::vector<std::string>{R"(<item n="1" xmlns="urn:items"/>)",
                                                  R"(<item n="2" xmlns:f="urn:feed" xmlns="urn:items"><f:x/></item>)"});
}

TEST_CASE("split refuses malformed XML and entity tricks", "[transforms][split]") {
  auto step = makeTransform("split", {{"xpath", "/a/b"}});
  auto* splitter = dynamic_cast<Splitter*>(step.get());
  Message message("m");
  message.setBody("<a><b></a>", "application/xml");
  CHECK_THROWS_AS(splitter->split(message), MessageError);
  message.setBody(R"(<!DOCTYPE a [<!ENTITY x "y">]><a><b>&x;</b></a>)", "application/xml");
  CHECK_THROWS_AS(splitter->split(message), MessageError);
}

TEST_CASE("split options are checked at load time", "[transforms][split]") {
  CHECK_THROWS_AS(makeTransform("split", nlohmann::ordered_json::object()), OptionError);
  CHECK_THROWS_AS(makeTransform("split", {{"path", "a"}, {"xpath", "/a"}}), OptionError);
  CHECK_THROWS_AS(makeTransform("split", {{"path", "a["}}), OptionError);
  CHECK_THROWS_AS(makeTransform("split", {{"xpath", "/a["}}), OptionError);
  CHECK_THROWS_AS(makeTransform("split", {{"xpath", "count(/a)"}}), OptionError);
}
