// json-to-xml and xml-to-json: table-driven cases both ways, round trips, and bad input.
#include "plugin_fixture.hpp"

using namespace switchboard;
using namespace switchboard::testing;

namespace {

struct Case {
  const char* name;
  const char* json;
  const char* xml;
};

// JSON documents without ambiguity, and the XML they become with root "r": each converts
// one way and back unchanged.
const Case kRoundTrips[] = {
    {"flat object", R"({"a":"x","b":"y"})", "<r><a>x</a><b>y</b></r>"},
    {"integer", R"({"n":42})", "<r><n>42</n></r>"},
    {"negative", R"({"n":-17})", "<r><n>-17</n></r>"},
    {"large integer", R"({"n":9007199254740993})", "<r><n>9007199254740993</n></r>"},
    {"real", R"({"n":12.5})", "<r><n>12.5</n></r>"},
    {"booleans", R"({"t":true,"f":false})", "<r><t>true</t><f>false</f></r>"},
    {"null", R"({"n":null})", "<r><n/></r>"},
    {"nested", R"({"a":{"b":{"c":"deep"}}})", "<r><a><b><c>deep</c></b></a></r>"},
    {"array of scalars", R"({"tag":["x","y","z"]})", "<r><tag>x</tag><tag>y</tag><tag>z</tag></r>"},
    {"array of objects", R"({"line":[{"sku":"A"},{"sku":"B"}]})",
     "<r><line><sku>A</sku></line><line><sku>B</sku></line></r>"},
    {"attribute", R"({"@id":"x7","name":"x"})", R"(<r id="x7"><name>x</name></r>)"},
    {"attribute with text", R"({"price":{"@currency":"EUR","#text":"nine"}})",
     R"(<r><price currency="EUR">nine</price></r>)"},
    {"unicode", R"({"name":"Zoë 東京 🚀"})", "<r><name>Zoë 東京 🚀</name></r>"},
    {"escaped characters", R"({"s":"a < b & c > d"})", "<r><s>a &lt; b &amp; c &gt; d</s></r>"},
    {"quotes in attribute", R"({"@q":"say \"hi\""})", R"(<r q="say &quot;hi&quot;"/>)"},
    {"empty object", R"({})", "<r/>"},
    {"mixed order kept", R"({"z":"1a","a":"2b","m":"3c"})", "<r><z>1a</z><a>2b</a><m>3c</m></r>"},
    {"deep nesting", R"({"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":"bottom"}}}}}}}})",
     "<r><a><b><c><d><e><f><g><h>bottom</h></g></f></e></d></c></b></a></r>"},
    {"numbers in arrays", R"({"v":[1,2.5,-3]})", "<r><v>1</v><v>2.5</v><v>-3</v></r>"},
    {"object beside array", R"({"head":{"id":1},"item":[{"x":1},{"x":2}]})",
     "<r><head><id>1</id></head><item><x>1</x></item><item><x>2</x></item></r>"},
    {"hyphen and dot names", R"({"first-name":"a","v1.2":"b"})", "<r><first-name>a</first-name><v1.2>b</v1.2></r>"},
    {"namespace prefix kept", R"({"@xmlns:p":"urn:x","p:id":"1a"})", R"(<r xmlns:p="urn:x"><p:id>1a</p:id></r>)"},
    {"whitespace text", R"({"s":"  padded  "})", "<r><s>  padded  </s></r>"},
    {"text with attributes only", R"({"e":{"@k":"v"}})", R"(<r><e k="v"/></r>)"},
    {"several attributes", R"({"@a":"1x","@b":"2y","c":"3z"})", R"(<r a="1x" b="2y"><c>3z</c></r>)"},
};

std::string convert(const std::string& transform, nlohmann::ordered_json options, const std::string& body,
                    const std::string& type, Message* out = nullptr) {
  auto step = makeTransform(transform, std::move(options));
  Message message("m-1");
  message.setBody(body, type);
  const auto status = step->apply(message);
  INFO(status.message());
  REQUIRE(status.isOk());
  if (out) *out = message;
  return message.body();
}

}  // namespace

TEST_CASE("json-to-xml and xml-to-json are inverse on unambiguous documents", "[transforms][xml]") {
  for (const auto& c : kRoundTrips) {
    INFO(c.name);
    const auto xml = convert("json-to-xml", {{"root", "r"}}, c.json, "application/json");
    CHECK(xml == c.xml);
    Message back;
    const auto json = convert("xml-to-json", nlohmann::ordered_json::object(), xml, "application/xml", &back);
    CHECK(nlohmann::ordered_json::parse(json) == nlohmann::ordered_json::parse(c.json));
    CHECK(*back.headers().find("xml.root") == "r");
    CHECK(back.contentType() == "application/json");
  }
}

TEST_CASE("json-to-xml: root, array items, declaration", "[transforms][xml]") {
  CHECK(convert("json-to-xml", nlohmann::ordered_json::object(), R"({"order":{"id":1}})", "application/json") ==
        "<order><id>1</id></order>");
  CHECK(convert("json-to-xml", {{"root", "list"}}, R"([1,"a",{"b":2}])", "application/json") ==
        "<list><item>1</item><item>a</item><item><b>2</b></item></list>");
  CHECK(convert("json-to-xml", {{"root", "m"}, {"array_item", "row"}}, R"({"grid":[[1,2],[3]]})", "application/json") ==
        "<m><grid><row>1</row><row>2</row></grid><grid><row>3</row></grid></m>");
  CHECK(convert("json-to-xml", {{"root", "r"}, {"declaration", true}}, R"({"a":1})", "application/json") ==
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r><a>1</a></r>");
}

TEST_CASE("xml-to-json: types, arrays, namespaces, root, CDATA, mixed content", "[transforms][xml]") {
  const std::string xml =
      R"(<ns:order xmlns:ns="urn:o" id="007"><ns:line>1</ns:line><note><![CDATA[<b>bold</b>]]></note>)"
      R"(<flag>true</flag><ratio>1.50</ratio><mixed>text<b>x</b></mixed></ns:order>)";
  SECTION("keep prefixes, auto types") {
    const auto out = nlohmann::json::parse(convert("xml-to-json", nlohmann::ordered_json::object(), xml, "text/xml"));
    CHECK(out["@xmlns:ns"] == "urn:o");
    CHECK(out["@id"] == "007");  // not 7: "007" is not how JSON writes a number
    CHECK(out["ns:line"] == 1);
    CHECK(out["note"] == "<b>bold</b>");
    CHECK(out["flag"] == true);
    CHECK(out["ratio"] == "1.50");  // JSON would write 1.5: the text is kept
    CHECK(out["mixed"]["#text"] == "text");
    CHECK(out["mixed"]["b"] == "x");
  }
  SECTION("strip namespaces, string types, forced arrays, keep root") {
    nlohmann::ordered_json options = {{"namespaces", "strip"},
                                      {"types", "string"},
                                      {"arrays", nlohmann::ordered_json::array({"line"})},
                                      {"keep_root", true}};
    const auto out = nlohmann::json::parse(convert("xml-to-json", options, xml, "text/xml"));
    REQUIRE(out.contains("order"));
    CHECK_FALSE(out["order"].contains("@xmlns:ns"));
    CHECK(out["order"]["line"] == nlohmann::json::array({"1"}));
    CHECK(out["order"]["flag"] == "true");
  }
}

TEST_CASE("bad input is a message error, never a crash", "[transforms][xml]") {
  auto to_json = makeTransform("xml-to-json", nlohmann::ordered_json::object());
  auto to_xml = makeTransform("json-to-xml", {{"root", "r"}});
  const char* bad_xml[] = {"<a><b></a>",     "<a>",
                           "not xml",        "",
                           "<a></a><b></b>", "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>"};
  for (const char* body : bad_xml) {
    INFO(body);
    Message message("m");
    message.setBody(body, "application/xml");
    CHECK(to_json->apply(message).code() == Status::Code::BadInput);
  }
  Message truncated("m");
  truncated.setBody(R"({"a": [1, 2)", "application/json");
  CHECK(to_xml->apply(truncated).code() == Status::Code::BadInput);
  Message bad_name("m");
  bad_name.setBody(R"({"a b": 1})", "application/json");
  const auto status = to_xml->apply(bad_name);
  CHECK(status.code() == Status::Code::BadInput);
  CHECK(status.message().find("'a b' is not a valid XML element name") != std::string::npos);
  Message invalid_utf8("m");
  invalid_utf8.setBody("{\"a\": \"\xff\xfe\"}", "application/json");
  CHECK(to_xml->apply(invalid_utf8).code() == Status::Code::BadInput);
}

TEST_CASE("documents nested deeper than 256 levels are bad input", "[transforms][xml]") {
  // Thousands of levels used to exhaust the stack (a 4 KiB body ended the process).
  const auto nested = [](std::size_t depth, const std::string& open, const std::string& close) {
    std::string text;
    for (std::size_t i = 0; i < depth; ++i) text += open;
    for (std::size_t i = 0; i < depth; ++i) text += close;
    return text;
  };
  auto to_xml = makeTransform("json-to-xml", {{"root", "r"}});
  auto to_json = makeTransform("xml-to-json", nlohmann::ordered_json::object());
  Message message("m");
  message.setBody("{\"a\":" + nested(4000, "[", "]") + "}", "application/json");
  auto status = to_xml->apply(message);
  CHECK(status.code() == Status::Code::BadInput);
  CHECK(status.message() == "body is nested deeper than 256 levels");
  message.setBody(nested(4000, "<a>", "</a>"), "application/xml");
  status = to_json->apply(message);
  CHECK(status.code() == Status::Code::BadInput);
  CHECK(status.message() == "body is nested deeper than 256 levels");

  // 256 levels pass, and brackets inside strings do not count.
  message.setBody(nested(256, "[", "]"), "application/json");
  CHECK(to_xml->apply(message).isOk());
  message.setBody(nested(256, "<a>", "</a>"), "application/xml");
  CHECK(to_json->apply(message).isOk());
  message.setBody("{\"a\":\"" + std::string(300, '[') + "\\\"" + std::string(300, '{') + "\"}", "application/json");
  CHECK(to_xml->apply(message).isOk());
}
