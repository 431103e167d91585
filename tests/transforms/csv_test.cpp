// csv-to-json and json-to-csv: table-driven cases each way (input -> exact output or exact
// error), round trips, and option checks.
#include "plugin_fixture.hpp"

using namespace switchboard;
using namespace switchboard::testing;

namespace {

/// One conversion: options (JSON text), the input, and either the exact output or the exact
/// error message (bad input).
struct Case {
  const char* name;
  const char* options;
  const char* input;
  const char* output;
  const char* error = nullptr;
};

void check(const std::string& transform, const Case& c, const std::string& input_type, const std::string& output_type) {
  INFO(transform << ": " << c.name);
  auto step = makeTransform(transform, nlohmann::ordered_json::parse(c.options));
  Message message("m");
  message.setBody(c.input, input_type);
  const auto status = step->apply(message);
  if (c.error) {
    CHECK(status.code() == Status::Code::BadInput);
    CHECK(status.message() == c.error);
    CHECK(message.body() == c.input);  // a failed step leaves the message as it was
    return;
  }
  INFO(status.message());
  REQUIRE(status.isOk());
  CHECK(message.body() == c.output);
  CHECK(message.contentType() == output_type);
}

Status run(const std::string& name, nlohmann::ordered_json options, Message& message) {
  return makeTransform(name, std::move(options))->apply(message);
}

std::string convert(const std::string& name, const std::string& body, const std::string& type) {
  Message message("m");
  message.setBody(body, type);
  const auto status = run(name, nlohmann::ordered_json::object(), message);
  INFO(status.message());
  REQUIRE(status.isOk());
  return message.body();
}

// clang-format off
const Case kCsvToJson[] = {
    // RFC 4180 reading
    {"simple", "{}", "a,b\n1,2\n", R"([{"a":"1","b":"2"}])"},
    {"CRLF", "{}", "a,b\r\n1,2\r\n3,4\r\n", R"([{"a":"1","b":"2"},{"a":"3","b":"4"}])"},
    {"no final newline", "{}", "a,b\n1,2", R"([{"a":"1","b":"2"}])"},
    {"quoted delimiter", "{}", "a,b\n\"x,y\",2\n", R"([{"a":"x,y","b":"2"}])"},
    {"doubled quotes", "{}", "a\n\"say \"\"hi\"\"\"\n", R"([{"a":"say \"hi\""}])"},
    {"newline inside quotes", "{}", "a,b\n\"line1\nline2\",2\n", R"([{"a":"line1\nline2","b":"2"}])"},
    {"CRLF inside quotes", "{}", "a\n\"x\r\ny\"\r\n", R"([{"a":"x\r\ny"}])"},
    {"empty fields", "{}", "a,b,c\n,,\n", R"([{"a":"","b":"","c":""}])"},
    {"quoted empty field", "{}", "a,b\n\"\",x\n", R"([{"a":"","b":"x"}])"},
    {"one empty quoted field is a row", "{}", "a\n\"\"\n", R"([{"a":""}])"},
    {"trailing delimiter is an empty last field", "{}", "a,b\n1,\n", R"([{"a":"1","b":""}])"},
    {"spaces are part of the field", "{}", "a,b\n x , y \n", R"([{"a":" x ","b":" y "}])"},
    {"blank lines skipped", "{}", "a\n\n1\n\n2\n", R"([{"a":"1"},{"a":"2"}])"},
    {"unicode", "{}", "name,city\nZoë,東京 🚀\n", R"([{"name":"Zoë","city":"東京 🚀"}])"},
    {"byte order mark dropped", "{}", "\xEF\xBB\xBFid,name\n1,a\n", R"([{"id":"1","name":"a"}])"},
    {"header only", "{}", "a,b\n", "[]"},
    {"empty body", "{}", "", "[]"},
    {"column order kept", "{}", "z,a,m\n1,2,3\n", R"([{"z":"1","a":"2","m":"3"}])"},
    // options
    {"semicolon delimiter", R"({"delimiter":";"})", "a;b\n\"x;y\";1,5\n", R"([{"a":"x;y","b":"1,5"}])"},
    {"tab delimiter", R"({"delimiter":"\\t","header":false})", "1\t2\n", R"([["1","2"]])"},
    {"no header: arrays", R"({"header":false})", "a,b\n1,2\n", R"([["a","b"],["1","2"]])"},
    {"no header: ragged rows stay as they are", R"({"header":false})", "1,2,3\n4\n", R"([["1","2","3"],["4"]])"},
    {"columns without header", R"({"header":false,"columns":["x","y"]})", "1,2\n", R"([{"x":"1","y":"2"}])"},
    {"columns replace the header row", R"({"columns":["x","y"]})", "old,names\n1,2\n", R"([{"x":"1","y":"2"}])"},
    {"auto types", R"({"types":"auto"})", "n,f,b,e,s,z\n-12,2.5,true,,007,1e+20\n",
     R"([{"n":-12,"f":2.5,"b":true,"e":null,"s":"007","z":1e+20}])"},
    {"auto: only JSON's spelling is a number", R"({"types":"auto"})", "a,b,c,d,e\n1.50,+3,TRUE,-0,1E5\n",
     R"([{"a":"1.50","b":"+3","c":"TRUE","d":"-0","e":"1E5"}])"},
    {"auto: large and negative numbers", R"({"types":"auto"})",
     "big,bigger,neg\n12345678901234567890,123456789012345678901,-9223372036854775808\n",
     R"([{"big":12345678901234567890,"bigger":"123456789012345678901","neg":-9223372036854775808}])"},
    {"auto: quoted fields are typed too", R"({"types":"auto","header":false})", "\"42\",\"\",false\n",
     R"([[42,null,false]])"},
    {"string types keep empty as text", R"({"types":"string"})", "a,b\n,0\n", R"([{"a":"","b":"0"}])"},
    // malformed input names the line
    {"fewer fields", "{}", "a,b\n1,2\n3\n", nullptr, "malformed CSV: line 3 has 1 fields, expected 2"},
    {"more fields", "{}", "a,b\n1,2,3\n", nullptr, "malformed CSV: line 2 has 3 fields, expected 2"},
    {"fewer fields than columns", R"({"header":false,"columns":["x","y"]})", "1\n", nullptr,
     "malformed CSV: line 1 has 1 fields, expected 2"},
    {"unclosed quote", "{}", "a\n\"open\n", nullptr, "malformed CSV: line 2: a quoted field is not closed"},
    {"quote inside an unquoted field", "{}", "a\nx\"y\n", nullptr,
     "malformed CSV: line 2: a quote inside an unquoted field"},
    {"text after a closing quote", "{}", "a\n\"x\"y\n", nullptr, "malformed CSV: line 2: text after a closing quote"},
    {"lines counted through quoted line breaks", "{}", "a,b\n\"multi\nline\",2\n3\n", nullptr,
     "malformed CSV: line 4 has 1 fields, expected 2"},
    {"lines counted through blank lines", "{}", "a,b\n\n1\n", nullptr,
     "malformed CSV: line 3 has 1 fields, expected 2"},
    {"a repeated column name", "{}", "id,name,id\n1,a,2\n", nullptr,
     "malformed CSV: line 1: column 'id' appears twice"},
};

const Case kJsonToCsv[] = {
    {"objects", "{}", R"([{"a":"1","b":"2"},{"a":"3","b":"4"}])", "a,b\r\n1,2\r\n3,4\r\n"},
    {"delimiter quoted", "{}", R"([{"a":"x,y"}])", "a\r\n\"x,y\"\r\n"},
    {"quotes doubled", "{}", R"([{"a":"say \"hi\""}])", "a\r\n\"say \"\"hi\"\"\"\r\n"},
    {"line feed quoted", "{}", R"([{"a":"two\nlines"}])", "a\r\n\"two\nlines\"\r\n"},
    {"carriage return quoted", "{}", R"([{"a":"x\ry"}])", "a\r\n\"x\ry\"\r\n"},
    {"spaces kept unquoted", "{}", R"([{"a":" x "}])", "a\r\n x \r\n"},
    {"unicode", "{}", R"([{"name":"Zoë","city":"東京 🚀"}])", "name,city\r\nZoë,東京 🚀\r\n"},
    {"unicode escapes written as UTF-8", "{}", R"([{"s":"\u00e9\ud83d\ude80"}])", "s\r\né🚀\r\n"},
    {"numbers as JSON writes them", "{}", R"([{"i":42,"neg":-7,"f":2.5,"e":1e+20,"g":1.50}])",
     "i,neg,f,e,g\r\n42,-7,2.5,1e+20,1.5\r\n"},
    {"large numbers", "{}", R"([{"u":12345678901234567890,"n":-9223372036854775808}])",
     "u,n\r\n12345678901234567890,-9223372036854775808\r\n"},
    {"booleans and null", "{}", R"([{"t":true,"f":false,"n":null}])", "t,f,n\r\ntrue,false,\r\n"},
    {"objects and arrays as compact JSON", "{}", R"([{"d":{"x":1,"y":"z"},"e":[1,2]}])",
     "d,e\r\n\"{\"\"x\"\":1,\"\"y\"\":\"\"z\"\"}\",\"[1,2]\"\r\n"},
    {"empty object and array", "{}", R"([{"o":{},"a":[]}])", "o,a\r\n{},[]\r\n"},
    {"missing key is an empty field", "{}", R"([{"a":1,"b":2},{"b":3}])", "a,b\r\n1,2\r\n,3\r\n"},
    {"keys beyond the first row are not columns", "{}", R"([{"a":1},{"a":2,"b":3}])", "a\r\n1\r\n2\r\n"},
    {"a lone empty field is quoted", "{}", R"([{"a":""},{"a":null},{"a":"x"}])", "a\r\n\"\"\r\n\"\"\r\nx\r\n"},
    // Found by the csv fuzz target: unquoted, it read back without its first character.
    {"a field starting with a byte order mark is quoted", R"({"header":false})", "[[\"\ufeffx\"]]",
     "\"\xEF\xBB\xBFx\"\r\n"},
    {"columns choose and order", R"({"columns":["b","a"]})", R"([{"a":1,"b":2,"c":3}])", "b,a\r\n2,1\r\n"},
    {"no header", R"({"header":false})", R"([{"a":1,"b":2}])", "1,2\r\n"},
    {"semicolon delimiter", R"({"delimiter":";"})", R"([[1,"x;y","a,b"]])", "1;\"x;y\";a,b\r\n"},
    {"tab delimiter", R"({"delimiter":"\\t"})", R"([{"a":"x\ty","b":1}])", "a\tb\r\n\"x\ty\"\t1\r\n"},
    {"arrays: no header row", "{}", R"([[1,"x"],[2,"y",true]])", "1,x\r\n2,y,true\r\n"},
    {"arrays with columns: a header row", R"({"columns":["n","s"]})", R"([[1,"x"]])", "n,s\r\n1,x\r\n"},
    {"one object is one row", "{}", R"({"single":"object"})", "single\r\nobject\r\n"},
    {"empty array", "{}", "[]", ""},
    {"empty array with columns", R"({"columns":["a","b"]})", "[]", "a,b\r\n"},
    {"deep values stay JSON", "{}", R"([{"d":{"a":{"b":[{"c":null}]}}}])",
     "d\r\n\"{\"\"a\"\":{\"\"b\"\":[{\"\"c\"\":null}]}}\"\r\n"},
    // bad input
    {"not JSON", "{}", R"([{"a": 1)", nullptr,
     "body is not valid JSON: [json.exception.parse_error.101] parse error at line 1, column 9: syntax error while "
     "parsing object - unexpected end of input; expected '}'"},
    {"a scalar", "{}", "42", nullptr, "json-to-csv needs an array of objects or of arrays"},
    {"a row that is a scalar", "{}", R"([{"a":1},2])", nullptr, "json-to-csv: row 1 is neither an object nor an array"},
    {"an array of scalars", "{}", "[1,2]", nullptr, "json-to-csv: row 0 is neither an object nor an array"},
};
// clang-format on

}  // namespace

TEST_CASE("csv-to-json cases", "[transforms][csv]") {
  for (const auto& c : kCsvToJson) check("csv-to-json", c, "text/csv", "application/json");
}

TEST_CASE("json-to-csv cases", "[transforms][csv]") {
  for (const auto& c : kJsonToCsv) check("json-to-csv", c, "application/json", "text/csv");
}

TEST_CASE("json-to-csv output reads back as the same JSON", "[transforms][csv]") {
  const char* documents[] = {
      R"([{"id":"1","name":"Ada, Countess","note":"say \"hi\"","text":"two\nlines"},)"
      R"({"id":"2","name":"Zoë","note":"","text":"plain"}])",
      R"([{"only":""},{"only":"x"},{"only":""}])",
      R"([{"a":"\r\n","b":","},{"a":"\"","b":" "}])",
  };
  for (const char* json : documents) {
    INFO(json);
    const auto csv = convert("json-to-csv", json, "application/json");
    CHECK(nlohmann::json::parse(convert("csv-to-json", csv, "text/csv")) == nlohmann::json::parse(json));
  }
}

TEST_CASE("csv delimiter option", "[transforms][csv]") {
  for (const char* name : {"csv-to-json", "json-to-csv"}) {
    INFO(name);
    CHECK_THROWS_AS(makeTransform(name, {{"delimiter", "ab"}}), OptionError);
    CHECK_THROWS_AS(makeTransform(name, {{"delimiter", "\""}}), OptionError);
    CHECK_THROWS_AS(makeTransform(name, {{"delimiter", ""}}), OptionError);
    CHECK_NOTHROW(makeTransform(name, {{"delimiter", "tab"}}));
  }
}

TEST_CASE("json-to-csv refuses documents nested deeper than 256 levels", "[transforms][csv]") {
  Message message("m");
  message.setBody("[[" + std::string(4000, '[') + std::string(4000, ']') + "]]", "application/json");
  const auto status = run("json-to-csv", nlohmann::ordered_json::object(), message);
  CHECK(status.code() == Status::Code::BadInput);
  CHECK(status.message() == "body is nested deeper than 256 levels");
}
