// xpath: headers from queries, declared namespace prefixes, missing nodes, bad input.
#include "plugin_fixture.hpp"

using namespace switchboard;
using namespace switchboard::testing;

namespace {
Message xml(const std::string& body) {
  Message message("m");
  message.setBody(body, "application/xml");
  return message;
}
}  // namespace

TEST_CASE("xpath sets headers from queries", "[transforms][xpath]") {
  auto step = makeTransform("xpath", {{"headers",
                                       {{"X-Id", "/order/@id"},
                                        {"X-First", "/order/line[1]/sku"},
                                        {"X-Count", "count(/order/line)"},
                                        {"X-Total", "sum(/order/line/qty)"},
                                        {"X-Missing", "/order/nothing"}}}});
  auto message =
      xml(R"(<order id="7"><line><sku>A</sku><qty>2</qty></line><line><sku>B</sku><qty>3</qty></line></order>)");
  message.headers().set("X-Missing", "stale");
  REQUIRE(step->apply(message).isOk());
  CHECK(*message.headers().find("X-Id") == "7");
  CHECK(*message.headers().find("X-First") == "A");
  CHECK(*message.headers().find("X-Count") == "2");
  CHECK(*message.headers().find("X-Total") == "5");
  CHECK_FALSE(message.headers().contains("X-Missing"));
}

TEST_CASE("xpath prefixes mean the declared namespaces, whatever the document's prefixes", "[transforms][xpath]") {
  auto step = makeTransform("xpath", {{"headers", {{"X-Id", "/o:order/o:id"}, {"X-Code", "/o:order/@o:code"}}},
                                      {"namespaces", {{"o", "urn:orders"}}}});
  const char* documents[] = {
      R"(<order xmlns="urn:orders" xmlns:x="urn:orders" x:code="c1"><id>42</id></order>)",
      R"(<ns7:order xmlns:ns7="urn:orders" ns7:code="c1"><ns7:id>42</ns7:id></ns7:order>)",
      R"(<o:order xmlns:o="urn:orders" o:code="c1"><o:id>42</o:id></o:order>)",
  };
  for (const char* document : documents) {
    INFO(document);
    auto message = xml(document);
    REQUIRE(step->apply(message).isOk());
    CHECK(*message.headers().find("X-Id") == "42");
    CHECK(*message.headers().find("X-Code") == "c1");
  }
  // Another namespace with the same local names does not match.
  auto other = xml(R"(<order xmlns="urn:invoices"><id>1</id></order>)");
  REQUIRE(step->apply(other).isOk());
  CHECK_FALSE(other.headers().contains("X-Id"));
}

TEST_CASE("xpath bad input and bad queries", "[transforms][xpath]") {
  auto step = makeTransform("xpath", {{"headers", {{"X-Id", "/a"}}}});
  auto broken = xml("<a><b></a>");
  CHECK(step->apply(broken).code() == Status::Code::BadInput);
  auto dtd = xml(R"(<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>)");
  CHECK(step->apply(dtd).code() == Status::Code::BadInput);
  try {
    makeTransform("xpath", {{"headers", {{"X-Bad", "/a[["}}}});
    FAIL("expected an OptionError");
  } catch (const OptionError& e) {
    CHECK(e.option() == "headers.X-Bad");
  }
}
