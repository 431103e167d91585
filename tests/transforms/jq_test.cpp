// jq: programs compiled at load time, first or all outputs, and errors as bad input.
#include "plugin_fixture.hpp"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

extern "C" {
#include <jv.h>
}

using namespace switchboard;
using namespace switchboard::testing;

namespace {
Status runJq(nlohmann::ordered_json options, const std::string& body, std::string* out = nullptr) {
  auto step = makeTransform("jq", std::move(options));
  Message message("m");
  message.setBody(body, "application/json");
  const auto status = step->apply(message);
  if (out) *out = message.body();
  return status;
}

std::string jq(const std::string& program, const std::string& body, bool all = false) {
  std::string out;
  const auto status = runJq({{"program", program}, {"all", all}}, body, &out);
  INFO(program << ": " << status.message());
  REQUIRE(status.isOk());
  return out;
}
}  // namespace

TEST_CASE("jq programs", "[transforms][jq]") {
  const std::string order = R"({"id":7,"lines":[{"sku":"A","qty":2,"price":1.5},{"sku":"B","qty":1,"price":10}],)"
                            R"("customer":{"name":"Zoë"}})";
  CHECK(jq(".id", order) == "7");
  CHECK(jq(".customer.name", order) == R"("Zoë")");
  CHECK(jq("{order: .id, skus: [.lines[].sku]}", order) == R"({"order":7,"skus":["A","B"]})");
  CHECK(jq("[.lines[] | .qty * .price] | add", order) == "13");
  CHECK(jq(".lines | map(select(.qty > 1)) | length", order) == "1");
  CHECK(jq(".lines[] | .sku", order) == R"("A")");  // the first output
  CHECK(jq(".lines[] | .sku", order, true) == R"(["A","B"])");
  CHECK(jq(".missing", order) == "null");
  CHECK(jq(".id |= . + 1 | .id", order) == "8");
  CHECK(jq("to_entries | map(.key)", R"({"b":1,"a":2})") == R"(["b","a"])");
  CHECK(jq("empty", order, true) == "[]");
  // jq 1.6 holds numbers as doubles: precision beyond 2^53 and the spelling of decimals go.
  CHECK(jq(".", R"({"n":9007199254740993,"f":1.50})") == R"({"n":9007199254740992,"f":1.5})");
  CHECK(jq(".name | ascii_downcase", R"({"name":"ZOË"})") == R"("zoË")");
}

TEST_CASE("jq with no output drops the message", "[transforms][jq]") {
  CHECK(runJq({{"program", "select(.id > 100)"}}, R"({"id": 7})").code() == Status::Code::Drop);
}

TEST_CASE("jq errors are bad input or option errors", "[transforms][jq]") {
  const auto runtime = runJq({{"program", ".id.x"}}, R"({"id": 7})");
  CHECK(runtime.code() == Status::Code::BadInput);
  CHECK(runtime.message().find("Cannot index number") != std::string::npos);
  const auto raised = runJq({{"program", "error(\"no customer\")"}}, "{}");
  CHECK(raised.code() == Status::Code::BadInput);
  CHECK(raised.message().find("no customer") != std::string::npos);
  const auto truncated = runJq({{"program", "."}}, R"({"a": [1, 2)");
  CHECK(truncated.code() == Status::Code::BadInput);
  CHECK(truncated.message().find("not valid JSON") != std::string::npos);
  CHECK_THROWS_AS(makeTransform("jq", {{"program", ".a | | .b"}}), OptionError);
  try {
    makeTransform("jq", {{"program", "nosuchfunction(1)"}});
    FAIL("expected an OptionError");
  } catch (const OptionError& e) {
    CHECK(e.option() == "program");
    CHECK(std::string(e.what()).find("nosuchfunction") != std::string::npos);
  }
}

TEST_CASE("one jq step serves several threads at once", "[transforms][jq]") {
  auto step = makeTransform("jq", {{"program", ".n * 2"}});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Message message("m");
        const int n = t * 1000 + i;
        message.setBody("{\"n\": " + std::to_string(n) + "}", "application/json");
        if (!step->apply(message).isOk() || message.body() != std::to_string(n * 2)) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}

TEST_CASE("jq reads a body into the values jq's own parser builds", "[transforms][jq]") {
  // The step has its own JSON reader: `.` must print exactly what libjq's parser and printer
  // give for the same text.
  const std::string deep_256 = std::string(256, '[') + std::string(256, ']');
  const std::vector<std::string> inputs = {
      R"({"a":1,"b":[true,false,null],"c":"x"})",
      " \n\t{ \"a\" : [ 1 , 2 ] ,\"b\":{}} \r\n",
      "{}",
      "[]",
      "[[],{}]",
      R"({"":{"":[]}})",
      "1",
      "\"s\"",
      "true",
      "false",
      "null",
      R"("\"\\\/\b\f\n\r\t")",
      R"("\u00e9\u20AC\ud83d\ude00 and \u0000 inside")",
      "\"Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80\"",
      "\"bad \xff\xfe bytes\"",
      "\"cut \xe2\x82\"",
      "{\"k\xff\":1}",
      "\"\xed\xa0\x80 encoded surrogate\"",
      R"("\udc00 lone low surrogate")",
      "0",
      "-0",
      "1.5",
      "1e3",
      "1E-3",
      "-12.5e+2",
      "0.1",
      "9007199254740993",
      "123456789012345678901234567890",
      "1.7976931348623157e308",
      "5e-324",
      "1e400",
      "-1e400",
      "1e-400",
      R"({"a":1,"a":2})",
      R"({"b":1,"a":2,"b":3})",
      "\xef\xbb\xbf{\"bom\":1}",
      deep_256,
  };
  for (const auto& input : inputs) {
    INFO("input: " << input);
    jv parsed = jv_parse_sized(input.data(), static_cast<int>(input.size()));
    REQUIRE(jv_is_valid(parsed));
    jv dumped = jv_dump_string(parsed, 0);
    const std::string expected = jv_string_value(dumped);
    jv_free(dumped);
    std::string out;
    const auto status = runJq({{"program", "."}}, input, &out);
    REQUIRE(status.isOk());
    CHECK(out == expected);
  }
}

TEST_CASE("jq refuses a body that is not JSON, saying where", "[transforms][jq]") {
  const std::string deep_257 = std::string(257, '[') + std::string(257, ']');
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"", "unexpected end of the text at line 1, column 1"},
      {"   ", "unexpected end of the text at line 1, column 4"},
      {R"({"a":1)", "expected ',' or '}' in an object at line 1, column 7"},
      {"{\n  \"a\" 1}", "expected ':' after an object key at line 2, column 7"},
      {"[1 2]", "expected ',' or ']' in an array at line 1, column 4"},
      {"[1,]", "expected a JSON value at line 1, column 4"},
      {R"({"a":1,})", "expected a string key in an object at line 1, column 8"},
      {R"({a:1})", "expected a string key in an object at line 1, column 2"},
      {R"("abc)", "unterminated string at line 1, column 5"},
      {"1 2", "unexpected text after the JSON value at line 1, column 3"},
      {"truex", "unexpected text after the JSON value at line 1, column 5"},
      {"[tru]", "expected a JSON value at line 1, column 2"},
      {"nul", "expected a JSON value at line 1, column 1"},
      {R"("\x")", "invalid escape in a string at line 1, column 3"},
      {R"("\u12")", "invalid \\uXXXX escape"},
      {R"("\ud800")", "invalid \\uXXXX\\uXXXX surrogate pair"},
      {R"("\ud800\u0041")", "invalid \\uXXXX\\uXXXX surrogate pair"},
      {"\"raw\nnewline\"", "control character in a string (write it as an escape) at line 1, column 5"},
      {"1e", "expected digits in the exponent"},
      {"-", "expected a JSON value at line 1, column 2"},
      {deep_257, "nested deeper than 256 levels at line 1, column 257"},
      // jq's own extensions, refused as every other step refuses them.
      {"nan", "expected a JSON value"},
      {"01", "unexpected text after the JSON value at line 1, column 2"},
      {".5", "expected a JSON value"},
      {"1.", "expected digits after the decimal point"},
      {"+1", "expected a JSON value"},
  };
  for (const auto& [input, reason] : refused) {
    INFO("input: " << input);
    const auto status = runJq({{"program", "."}}, input);
    CHECK(status.code() == Status::Code::BadInput);
    CHECK(status.message().rfind("jq: body is not valid JSON: ", 0) == 0);
    CHECK_THAT(status.message(), Catch::Contains(reason));
  }
}

TEST_CASE("jq writes numbers and strings byte for byte as jq's printer does", "[transforms][jq]") {
  // Random doubles from their bits (every exponent, subnormals included) and the edges of
  // jq's layout: the step's `.` of an array of them must equal libjq's own dump.
  std::mt19937_64 random(20261129);
  std::string body =
      "[0,-0,1,100,12.5,0.001,0.0001,0.00001,1e15,1e16,1e17,123456789012345678,0.30000000000000004,"
      "5e-324,2.2250738585072014e-308,1.7976931348623157e308,1e400,-1e400,1e-400";
  for (int i = 0; i < 20000; ++i) {
    const auto bits = random();
    double value;
    std::memcpy(&value, &bits, sizeof value);
    if (!std::isfinite(value)) continue;
    char text[40];
    std::snprintf(text, sizeof text, ",%.17g", value);
    body += text;
  }
  body += R"(,"slash / quote \" backslash \\ controls \u0000\u0001\u001f\u007f\b\t\n\r\f é € 😀"])";
  jv parsed = jv_parse_sized(body.data(), static_cast<int>(body.size()));
  REQUIRE(jv_is_valid(parsed));
  jv dumped = jv_dump_string(parsed, 0);
  const std::string expected = jv_string_value(dumped);
  jv_free(dumped);
  std::string out;
  REQUIRE(runJq({{"program", "."}}, body, &out).isOk());
  if (out != expected) {
    // Show the first element that differs, not two 500 kB lines.
    std::size_t at = 0;
    while (at < out.size() && at < expected.size() && out[at] == expected[at]) ++at;
    const auto from = out.rfind(',', at);
    FAIL("differs at byte " << at << ": step '" << out.substr(from, 40) << "', jq '" << expected.substr(from, 40)
                            << "'");
  }
}
