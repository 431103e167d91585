#include <cstdlib>
#include <ctime>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "switchboard/message.hpp"
#include "switchboard/status.hpp"
#include "switchboard/template.hpp"

using switchboard::Message;
using switchboard::MessageError;
using switchboard::Scope;
using switchboard::SyntaxError;
using switchboard::Template;

namespace {

std::string render(std::string_view text, const Message& message, const Scope& scope = {}) {
  return Template::compile(text, scope).render(message);
}

Message jsonMessage(std::string body) {
  Message message("msg-1");
  message.setBody(std::move(body), "application/json");
  return message;
}

std::optional<SyntaxError> compileError(std::string_view text) {
  try {
    Template::compile(text, Scope{"r"});
  } catch (const SyntaxError& e) {
    return e;
  }
  return std::nullopt;
}

std::time_t utcNow() {
  return std::time(nullptr);
}

std::string formatUtc(std::time_t when, const char* format) {
  std::tm utc{};
  gmtime_r(&when, &utc);
  char buffer[64];
  return std::string(buffer, std::strftime(buffer, sizeof buffer, format, &utc));
}

}  // namespace

TEST_CASE("a template without references renders as written", "[template]") {
  const Message message("m");
  const auto plain = Template::compile("hello world", {});
  CHECK(plain.render(message) == "hello world");
  CHECK(plain.text() == "hello world");
  CHECK(plain.isConstant());
  CHECK_FALSE(plain.isSingleReference());

  const auto empty = Template::compile("", {});
  CHECK(empty.render(message).empty());
  CHECK(empty.isConstant());
  CHECK_FALSE(empty.isSingleReference());
}

TEST_CASE("${body} renders the raw body, whatever its format", "[template][body]") {
  Message message("m");
  message.setBody("not json <at all>", "text/plain");
  CHECK(render("[${body}]", message) == "[not json <at all>]");
}

TEST_CASE("${body.path} reads the JSON body", "[template][body]") {
  const auto message = jsonMessage(R"({
    "order": {"id": "A-1", "total": 12.5, "count": 3, "paid": true, "note": null,
              "lines": [{"sku": "x1", "qty": 2}, {"sku": "y2", "qty": 1}],
              "meta": {"tags": ["a", "b"], "n": 1}},
    "odd key": {"a.b": "dotted"},
    "list": [[10, 20], [30]]
  })");

  SECTION("nested fields") {
    CHECK(render("${body.order.id}", message) == "A-1");
  }
  SECTION("array indices, also at the end and chained") {
    CHECK(render("${body.order.lines[1].sku}", message) == "y2");
    CHECK(render("${body.list[0][1]}", message) == "20");
    CHECK(render("${body.list[1]}", message) == "[30]");
  }
  SECTION("quoted keys, with single or double quotes") {
    CHECK(render("${body['odd key']['a.b']}", message) == "dotted");
    CHECK(render(R"(${body["odd key"]["a.b"]})", message) == "dotted");
    CHECK(render("${body['order'].id}", message) == "A-1");
  }
  SECTION("non-string scalars as JSON text, null as empty") {
    CHECK(render("${body.order.total}", message) == "12.5");
    CHECK(render("${body.order.count}", message) == "3");
    CHECK(render("${body.order.paid}", message) == "true");
    CHECK(render("<${body.order.note}>", message) == "<>");
  }
  SECTION("objects and arrays as compact JSON") {
    CHECK(render("${body.order.meta}", message) == R"({"n":1,"tags":["a","b"]})");
    CHECK(render("${body.order.meta.tags}", message) == R"(["a","b"])");
  }
  SECTION("a top-level array body") {
    const auto array = jsonMessage(R"([{"v": "first"}, {"v": "second"}])");
    CHECK(render("${body[1].v}", array) == "second");
  }
}

TEST_CASE("missing values render as the empty string", "[template][missing]") {
  auto message = jsonMessage(R"({"a": {"b": [1, 2]}, "s": "text"})");

  CHECK(render("<${body.nope}>", message) == "<>");
  CHECK(render("<${body.a.nope.deeper}>", message) == "<>");
  CHECK(render("<${body.a.b[5]}>", message) == "<>");
  CHECK(render("<${body.a[0]}>", message) == "<>");      // index into an object
  CHECK(render("<${body.a.b.c}>", message) == "<>");     // field of an array
  CHECK(render("<${body.s.length}>", message) == "<>");  // field of a string
  CHECK(render("<${header.X-Missing}>", message) == "<>");
  CHECK(render("<${prop.missing}>", message) == "<>");
}

TEST_CASE("a body path on a body that is not JSON throws MessageError", "[template][body]") {
  Message message("m");
  message.setBody("<order><id>1</id></order>", "application/xml");
  const auto templ = Template::compile("${body.order.id}", {});
  CHECK_THROWS_AS(templ.render(message), MessageError);
}

TEST_CASE("${header.NAME} looks headers up case-insensitively", "[template][header]") {
  Message message("m");
  message.headers().set("X-Customer", "acme");
  message.headers().add("x-customer", "second");
  message.headers().set("path.customer", "c-42");

  CHECK(render("${header.x-customer}", message) == "acme");
  CHECK(render("${header.X-CUSTOMER}", message) == "acme");
  CHECK(render("${header.path.customer}", message) == "c-42");
}

TEST_CASE("${prop.NAME}, ${message.id} and ${route.id}", "[template]") {
  Message message("6f1c-id");
  message.properties().emplace("stage", "two");

  CHECK(render("${prop.stage}", message) == "two");
  CHECK(render("${message.id}.xml", message) == "6f1c-id.xml");
  CHECK(render("out/${route.id}/${message.id}", message, Scope{"orders-in"}) == "out/orders-in/6f1c-id");
  CHECK(render("<${route.id}>", message, Scope{}) == "<>");
}

TEST_CASE("${now} is the current UTC time in RFC 3339 with milliseconds", "[template][time]") {
  const Message message("m");
  const auto before = utcNow();
  const auto text = render("${now}", message);
  const auto after = utcNow();

  static const std::regex kFormat(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
  REQUIRE(std::regex_match(text, kFormat));
  const auto seconds = text.substr(0, 19);
  CHECK((seconds == formatUtc(before, "%Y-%m-%dT%H:%M:%S") || seconds == formatUtc(after, "%Y-%m-%dT%H:%M:%S")));
}

TEST_CASE("${now:FORMAT} formats the current UTC time with strftime", "[template][time]") {
  const Message message("m");
  const auto before = utcNow();
  const auto text = render("day-${now:%Y%m%d}.log", message);
  const auto after = utcNow();
  CHECK(
      (text == "day-" + formatUtc(before, "%Y%m%d") + ".log" || text == "day-" + formatUtc(after, "%Y%m%d") + ".log"));

  const auto year = render("${now:%Y}", message);
  CHECK((year == formatUtc(before, "%Y") || year == formatUtc(after, "%Y")));
}

TEST_CASE("${uuid} is a fresh UUID on every render", "[template]") {
  const Message message("m");
  const auto templ = Template::compile("${uuid}", {});
  const auto first = templ.render(message);
  const auto second = templ.render(message);
  static const std::regex kFormat("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  CHECK(std::regex_match(first, kFormat));
  CHECK(std::regex_match(second, kFormat));
  CHECK(first != second);
  CHECK_FALSE(templ.isConstant());
}

TEST_CASE("${xpath:...} reads the XML body", "[template][xpath]") {
  Message message("m");
  message.setBody(R"(<order type="rush"><id>42</id><item>a</item><item>b</item><empty/></order>)", "application/xml");

  CHECK(render("${xpath:/order/id}", message) == "42");
  CHECK(render("${xpath:/order/@type}", message) == "rush");
  CHECK(render("${xpath:/order/item}", message) == "a");  // the first node of a node set
  CHECK(render("${xpath:count(/order/item)}", message) == "2");
  CHECK(render("<${xpath:/order/missing}>", message) == "<>");
  CHECK(render("<${xpath:/order/empty}>", message) == "<>");

  SECTION("a missing node is null, an empty element is an empty string") {
    CHECK(Template::compile("${xpath:/order/missing}", {}).reference().evaluate(message).is_null());
    CHECK(Template::compile("${xpath:/order/empty}", {}).reference().evaluate(message) == "");
  }
}

TEST_CASE("${xpath:...} on a body that is not XML throws MessageError", "[template][xpath]") {
  Message message("m");
  const auto templ = Template::compile("${xpath:/order/id}", {});

  message.setBody(R"({"order": {"id": 1}})", "application/json");
  CHECK_THROWS_AS(templ.render(message), MessageError);
  message.setBody("<order><id>1</order>");
  CHECK_THROWS_WITH(templ.render(message), Catch::Contains("not valid XML"));
  message.setBody("");
  CHECK_THROWS_AS(templ.render(message), MessageError);
  // The same hardened parse as the xml transforms: no DTD, so no entity can be expanded.
  message.setBody(R"(<!DOCTYPE order [<!ENTITY x SYSTEM "file:///etc/passwd">]><order><id>&x;</id></order>)");
  CHECK_THROWS_WITH(templ.render(message), Catch::Contains("DOCTYPE is not accepted"));
}

TEST_CASE("a reference keeps the JSON type of the value", "[template][reference]") {
  const auto message = jsonMessage(R"({"n": 5, "b": false, "a": [1], "s": "x"})");
  CHECK(Template::compile("${body.n}", {}).reference().evaluate(message) == 5);
  CHECK(Template::compile("${body.b}", {}).reference().evaluate(message) == false);
  CHECK(Template::compile("${body.a}", {}).reference().evaluate(message) == nlohmann::json::array({1}));
  CHECK(Template::compile("${body.s}", {}).reference().evaluate(message) == "x");
  CHECK(Template::compile("${body.zz}", {}).reference().evaluate(message).is_null());
  CHECK(Template::compile("${header.none}", {}).reference().evaluate(message).is_null());
}

TEST_CASE("$${ writes a literal ${", "[template][escape]") {
  const auto message = jsonMessage(R"({"a": 1})");

  const auto escaped = Template::compile("cost: $${body.a}", {});
  CHECK(escaped.render(message) == "cost: ${body.a}");
  CHECK(escaped.isConstant());

  CHECK(render("$${body.a} is ${body.a}", message) == "${body.a} is 1");
  CHECK(render("$$ and $ stay", message) == "$$ and $ stay");
  CHECK(render("${body.a}$${", message) == "1${");
}

TEST_CASE("isSingleReference and isConstant", "[template]") {
  CHECK(Template::compile("${body.a}", {}).isSingleReference());
  CHECK(Template::compile("${body.a}", {}).reference().text() == "body.a");
  CHECK(Template::compile("${uuid}", {}).isSingleReference());

  CHECK_FALSE(Template::compile(" ${body.a}", {}).isSingleReference());
  CHECK_FALSE(Template::compile("${body.a}.xml", {}).isSingleReference());
  CHECK_FALSE(Template::compile("${body}${uuid}", {}).isSingleReference());
  CHECK_FALSE(Template::compile("$${body}", {}).isSingleReference());

  CHECK(Template::compile("text", {}).isConstant());
  CHECK(Template::compile("$${not.a.reference}", {}).isConstant());
  CHECK_FALSE(Template::compile("a ${header.x} b", {}).isConstant());
  CHECK_FALSE(Template::compile("${route.id}", Scope{"r"}).isConstant());
}

TEST_CASE("an unterminated ${ is a SyntaxError at the ${", "[template][syntax]") {
  auto error = compileError("id=${message.id");
  REQUIRE(error);
  CHECK(error->offset() == 3);
  CHECK_THAT(error->what(), Catch::Contains("unterminated"));

  error = compileError("${body} and ${header.x");
  REQUIRE(error);
  CHECK(error->offset() == 12);
}

TEST_CASE("an unknown reference is a SyntaxError at its name", "[template][syntax]") {
  auto error = compileError("abc ${foo.bar} def");
  REQUIRE(error);
  CHECK(error->offset() == 6);
  CHECK_THAT(error->what(), Catch::Contains("unknown reference '${foo.bar}'"));

  error = compileError("${message.id}-${bogus}");
  REQUIRE(error);
  CHECK(error->offset() == 16);

  error = compileError("${}");
  REQUIRE(error);
  CHECK(error->offset() == 2);
}

TEST_CASE("malformed references are SyntaxErrors at the problem", "[template][syntax]") {
  struct Case {
    const char* text;
    std::size_t offset;
  };
  const Case cases[] = {
      {"${body.}", 7},     // no field name after '.'
      {"${body..a}", 7},   // empty field name
      {"${body[x]}", 7},   // neither index nor quoted name
      {"${body[1}", 8},    // missing ']'
      {"${body['a]}", 7},  // unterminated quoted name, at its quote
      {"${header.}", 9},   // no header name
      {"${prop.}", 7},     // no property name
      {"${now:}", 6},      // no format
      {"x ${bodyx}", 4},   // not body: an unknown reference
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto error = compileError(c.text);
    REQUIRE(error);
    CHECK(error->offset() == c.offset);
  }
}

TEST_CASE("an invalid XPath is a SyntaxError inside the reference", "[template][syntax][xpath]") {
  const auto error = compileError("id: ${xpath:/order/[}");
  REQUIRE(error);
  CHECK_THAT(error->what(), Catch::Contains("invalid XPath"));
  CHECK(error->offset() == 19);  // the '[' inside the XPath

  const auto empty = compileError("${xpath:}");
  REQUIRE(empty);
  CHECK(empty->offset() == 8);
}

TEST_CASE("an unknown reference close to a known one suggests it", "[template][syntax]") {
  struct Case {
    const char* text;
    const char* suggestion;
  };
  const Case cases[] = {
      {"${heder.x}", "did you mean '${header.NAME}'?"}, {"${hedr.x}", "did you mean '${header.NAME}'?"},
      {"${prp.x}", "did you mean '${prop.NAME}'?"},     {"${bdy.a}", "did you mean '${body.path}'?"},
      {"${xpth:/a}", "did you mean '${xpath:/path}'?"}, {"${mesage.id}", "did you mean '${message.id}'?"},
      {"${route}", "did you mean '${route.id}'?"},      {"${uid}", "did you mean '${uuid}'?"},
      {"${header}", "did you mean '${header.NAME}'?"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto error = compileError(c.text);
    REQUIRE(error);
    CHECK_THAT(error->what(), Catch::Contains(c.suggestion));
  }

  const auto far = compileError("${completely.different}");
  REQUIRE(far);
  CHECK_THAT(far->what(), !Catch::Contains("did you mean"));
  CHECK_THAT(far->what(), Catch::Contains("${header.NAME}"));  // the list of known references
}
