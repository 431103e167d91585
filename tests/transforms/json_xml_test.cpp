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

namespace {

/// One conversion one way: options (JSON text), the input, and either the exact output or
/// the exact error message (bad input).
struct OneWay {
  const char* name;
  const char* options;
  const char* input;
  const char* output;
  const char* error = nullptr;
};

void check(const std::string& transform, const OneWay& c, const std::string& input_type) {
  INFO(transform << ": " << c.name);
  auto step = makeTransform(transform, nlohmann::ordered_json::parse(c.options));
  Message message("m");
  message.setBody(c.input, input_type);
  const auto status = step->apply(message);
  if (c.error) {
    CHECK(status.code() == Status::Code::BadInput);
    CHECK(status.message() == c.error);
    return;
  }
  INFO(status.message());
  REQUIRE(status.isOk());
  CHECK(message.body() == c.output);
}

// clang-format off
const OneWay kXmlToJson[] = {
    {"CDATA is text", "{}", "<r><s><![CDATA[<b>&</b>]]></s></r>", R"({"s":"<b>&</b>"})"},
    {"CDATA joins the text around it", "{}", "<r><s>a <![CDATA[<b>]]> c</s></r>", R"({"s":"a <b> c"})"},
    {"mixed content: the text joined, after the children", "{}", "<r><m>one <b>two</b> three</m></r>",
     R"({"m":{"b":"two","#text":"one  three"}})"},
    {"comments and processing instructions dropped", "{}", "<r><!-- c --><?pi x?><a>1</a></r>", R"({"a":1})"},
    {"entities and character references", "{}", "<r><s>&lt;&amp;&gt;&quot;&apos; &#x1F680;&#233;</s></r>",
     R"({"s":"<&>\"' 🚀é"})"},
    {"unicode names and text", "{}", "<r><名前>Zoë 東京</名前></r>", R"({"名前":"Zoë 東京"})"},
    {"attributes with text", "{}", R"(<r><price cur="EUR" vat="0.2">9.5</price></r>)",
     R"({"price":{"@cur":"EUR","@vat":0.2,"#text":9.5}})"},
    {"attributes with children", "{}", R"(<r id="7"><a>x</a></r>)", R"({"@id":7,"a":"x"})"},
    {"repeated elements become an array", "{}", "<r><i>1</i><x/><i>2</i></r>", R"({"i":[1,2],"x":null})"},
    {"arrays: one element is still an array", R"({"arrays":["i"]})", "<r><i>1</i></r>", R"({"i":[1]})"},
    {"arrays: in every nesting level", R"({"arrays":["i"]})", "<r><a><i>x</i></a><i>y</i></r>",
     R"({"a":{"i":["x"]},"i":["y"]})"},
    {"empty element is null, empty root {}", "{}", "<r/>", "{}"},
    {"empty and whitespace-only elements are null", "{}", "<r><a></a><b>   </b><c/></r>",
     R"({"a":null,"b":null,"c":null})"},
    {"indentation between elements ignored", "{}", "<r>\n  <a>1</a>\n  <b>\n    <c>2</c>\n  </b>\n</r>\n",
     R"({"a":1,"b":{"c":2}})"},
    {"text only root is a JSON string", "{}", "<r>hi</r>", R"("hi")"},
    {"auto types: JSON's spelling only", "{}",
     "<r><a>-17</a><b>007</b><c>1.50</c><d>1e+20</d><e>TRUE</e><f>false</f><g>+3</g></r>",
     R"({"a":-17,"b":"007","c":"1.50","d":1e+20,"e":"TRUE","f":false,"g":"+3"})"},
    {"auto types: large numbers", "{}",
     "<r><u>12345678901234567890</u><n>-9223372036854775808</n><t>123456789012345678901</t></r>",
     R"({"u":12345678901234567890,"n":-9223372036854775808,"t":"123456789012345678901"})"},
    {"string types", R"({"types":"string"})", R"(<r n="1"><a>2</a><b>true</b></r>)",
     R"({"@n":"1","a":"2","b":"true"})"},
    {"namespaces kept as written", "{}", R"(<o:r xmlns:o="urn:o" xmlns="urn:d" o:id="1"><o:a>x</o:a><b>y</b></o:r>)",
     R"({"@xmlns:o":"urn:o","@xmlns":"urn:d","@o:id":1,"o:a":"x","b":"y"})"},
    {"namespaces stripped", R"({"namespaces":"strip"})",
     R"(<o:r xmlns:o="urn:o" xmlns="urn:d" o:id="1"><o:a>x</o:a><b>y</b></o:r>)", R"({"@id":1,"a":"x","b":"y"})"},
    {"keep_root", R"({"keep_root":true})", "<order><id>1</id></order>", R"({"order":{"id":1}})"},
    {"keep_root, stripped, empty", R"({"keep_root":true,"namespaces":"strip"})", R"(<p:r xmlns:p="urn:p"/>)",
     R"({"r":null})"},
    {"deep nesting", "{}", "<r><a><b><c><d><e><f><g>1</g></f></e></d></c></b></a></r>",
     R"({"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}})"},
    {"line ends in text read as LF", "{}", "<r><s>a\r\nb</s></r>", R"({"s":"a\nb"})"},
    {"declaration and encoding", "{}", "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r><a>é</a></r>", R"({"a":"é"})"},
    // bad input
    {"mismatched tags", "{}", "<a><b></a>", nullptr,
     "body is not valid XML: Start-end tags mismatch at offset 8"},
    {"unclosed root", "{}", "<a>", nullptr, "body is not valid XML: Start-end tags mismatch at offset 2"},
    {"two roots", "{}", "<a/><b/>", nullptr, "body is not valid XML: it needs exactly one root element"},
    {"empty body", "{}", "", nullptr, "body is not valid XML: No document element found at offset 0"},
    {"DOCTYPE", "{}", "<!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>", nullptr, "XML with a DOCTYPE is not accepted"},
};

const OneWay kJsonToXml[] = {
    {"empty array: no element", R"({"root":"r"})", R"({"a":[],"b":1})", "<r><b>1</b></r>"},
    {"empty object: empty element", R"({"root":"r"})", R"({"a":{}})", "<r><a/></r>"},
    {"empty string: empty element", R"({"root":"r"})", R"({"a":""})", "<r><a></a></r>"},
    {"top-level array: array_item", R"({"root":"list"})", R"([1,{"b":null}])",
     "<list><item>1</item><item><b/></item></list>"},
    {"array_item option", R"({"root":"m","array_item":"row"})", R"({"grid":[[1,2],[3]]})",
     "<m><grid><row>1</row><row>2</row></grid><grid><row>3</row></grid></m>"},
    {"top-level scalar", R"({"root":"r"})", R"("hi & bye")", "<r>hi &amp; bye</r>"},
    {"top-level null", R"({"root":"r"})", "null", "<r/>"},
    {"root from the single key", "{}", R"({"order":{"@id":7,"line":[{"sku":"A"}]}})",
     R"(<order id="7"><line><sku>A</sku></line></order>)"},
    {"declaration", R"({"root":"r","declaration":true})", R"({"a":1})",
     R"(<?xml version="1.0" encoding="UTF-8"?><r><a>1</a></r>)"},
    {"numbers as JSON writes them", R"({"root":"r"})",
     R"({"a":1.50,"b":-0.5,"c":1E3,"d":-9223372036854775808,"e":-12345678901234567890})",
     "<r><a>1.5</a><b>-0.5</b><c>1000.0</c><d>-9223372036854775808</d><e>-1.2345678901234567e+19</e></r>"},
    {"null attribute and #text", R"({"root":"r"})", R"({"@a":null,"b":{"@c":true,"#text":null}})",
     R"(<r a=""><b c="true"></b></r>)"},
    {"text before children when #text comes first", R"({"root":"r"})", R"({"#text":"t","a":1})",
     "<r>t<a>1</a></r>"},
    {"line breaks in attributes kept", R"({"root":"r"})", R"({"@a":"x\ny\tz"})", R"(<r a="x&#10;y&#09;z"/>)"},
    {"CDATA end sequence escaped", R"({"root":"r"})", R"({"s":"]]>"})", "<r><s>]]&gt;</s></r>"},
    {"unicode names and text", R"({"root":"r"})", R"({"名前":"Zoë","e":"\u00e9"})",
     "<r><名前>Zoë</名前><e>é</e></r>"},
    // bad input
    {"no root", "{}", R"({"a":1,"b":2})", nullptr,
     "json-to-xml needs `root`: the body is not an object with exactly one key"},
    {"not a name", R"({"root":"r"})", R"({"a":{"1st":0}})", nullptr, "r.a: '1st' is not a valid XML element name"},
    {"attribute not a name", R"({"root":"r"})", R"({"@a b":0})", nullptr, "r: 'a b' is not a valid XML attribute name"},
    {"attribute not a single value", R"({"root":"r"})", R"({"a":{"@x":[1]}})", nullptr,
     "r.a: attribute 'x' must be a single value"},
    {"a control character", R"({"root":"r"})", R"({"a":{"b":"x\u0001"}})", nullptr,
     "r.a.b: character U+0001 cannot be written in XML"},
    {"a control character in an attribute", R"({"root":"r"})", R"({"@a":"\u001f"})", nullptr,
     "r.@a: character U+001F cannot be written in XML"},
    {"a number JSON cannot hold", R"({"root":"r"})", R"({"a":1e400})", nullptr,
     "body is not valid JSON: [json.exception.out_of_range.406] number overflow parsing '1e400'"},
};
// clang-format on

}  // namespace

TEST_CASE("xml-to-json cases", "[transforms][xml]") {
  for (const auto& c : kXmlToJson) check("xml-to-json", c, "application/xml");
}

TEST_CASE("json-to-xml cases", "[transforms][xml]") {
  for (const auto& c : kJsonToXml) check("json-to-xml", c, "application/json");
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
  CHECK(status.message() == "XML nested deeper than 256 levels is not accepted");

  // 256 levels pass, and brackets inside strings do not count.
  message.setBody(nested(256, "[", "]"), "application/json");
  CHECK(to_xml->apply(message).isOk());
  message.setBody(nested(256, "<a>", "</a>"), "application/xml");
  CHECK(to_json->apply(message).isOk());
  message.setBody("{\"a\":\"" + std::string(300, '[') + "\\\"" + std::string(300, '{') + "\"}", "application/json");
  CHECK(to_xml->apply(message).isOk());
}
