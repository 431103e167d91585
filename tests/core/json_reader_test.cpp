// switchboard::json::Reader and json::parse: the values and errors of nlohmann/json's parser.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "json_same_tree.hpp"
#include "switchboard/json_parse.hpp"
#include "switchboard/json_reader.hpp"

using namespace switchboard;

namespace {

/// json::parse gives what nlohmann's parser gives: the same tree (value kinds and key order
/// included) or the same exception message.
template <typename Json>
void checkSameAsNlohmann(const std::string& text) {
  INFO("text: " << text);
  std::string ours_error;
  std::string theirs_error;
  Json ours;
  Json theirs;
  try {
    ours = json::parse<Json>(text);
  } catch (const nlohmann::json::exception& e) {
    ours_error = e.what();
  }
  try {
    theirs = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    theirs_error = e.what();
  }
  CHECK(ours_error == theirs_error);
  if (ours_error.empty() && theirs_error.empty()) CHECK(testing::sameTree(ours, theirs));
}

/// What a Reader with a counting builder says about `text`: "ok" or its error.
struct CountingBuilder {
  using Value = int;
  using Array = int;
  using Object = int;
  int null() { return 1; }
  int boolean(bool) { return 1; }
  std::optional<int> number(std::string_view) { return 1; }
  int string(std::string_view, bool) { return 1; }
  int beginArray() { return 1; }
  void append(int& array, int&& item) { array += item; }
  int endArray(int&& array) { return array; }
  int beginObject() { return 1; }
  void set(int& object, std::string_view, bool, int&& value) { object += value; }
  std::optional<int> endObject(int&& object) { return object; }
};

std::string readerError(std::string_view text, json::ReaderOptions options = {}) {
  CountingBuilder builder;
  json::Reader reader(text, builder, options);
  return reader.read() ? "ok" : reader.error();
}

}  // namespace

TEST_CASE("json::parse gives nlohmann's values", "[json]") {
  const std::vector<std::string> texts = {
      "{}",
      "[]",
      "null",
      "true",
      "false",
      "0",
      "-0",
      "5",
      "-5",
      "1.0",
      "-0.0",
      "1e2",
      "1E-2",
      "2.5e+3",
      "18446744073709551615",  // the largest uint64
      "18446744073709551616",  // one more: a double
      "-9223372036854775808",  // the smallest int64
      "-9223372036854775809",  // one less: a double
      "1e-400",                // below a double: 0, which nlohmann reads
      "123456789012345678901234567890",
      "0.1",
      R"("")",
      R"("plain")",
      R"("\"\\\/\b\f\n\r\t")",
      R"("\u00e9\u20AC\ud83d\ude00 and \u0000 inside")",
      "\"Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80\"",
      "\"\x7f\"",
      R"({"a":1,"b":[true,false,null],"c":"x"})",
      R"({"b":1,"a":2,"b":3})",  // a repeated key: its first place, its last value
      " \n\t{ \"a\" : [ 1 , 2 ] ,\"b\":{}} \r\n",
      "\xEF\xBB\xBF{\"bom\":true}",
      R"({"":{"":[]}})",
      R"([[[[[[[[[[1]]]]]]]]]])",
      std::string(600, '[') + std::string(600, ']'),  // deeper than the reader goes
  };
  for (const auto& text : texts) {
    checkSameAsNlohmann<nlohmann::json>(text);
    checkSameAsNlohmann<nlohmann::ordered_json>(text);
  }
}

TEST_CASE("json::parse throws nlohmann's errors", "[json]") {
  const std::vector<std::string> texts = {
      "",
      " ",
      "{",
      "[1,]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{1:2}",
      "01",
      "-",
      "1.",
      ".5",
      "+1",
      "1e",
      "nan",
      "tru",
      "nulll",
      "1e400",
      "\"unterminated",
      "\"tab\there\"",
      "\"\xff\"",
      "\"\xc0\xaf\"",          // overlong
      "\"\xed\xa0\x80\"",      // an encoded surrogate
      "\"\xf4\x90\x80\x80\"",  // past U+10FFFF
      R"("\ud83d")",
      R"("\udc00")",
      R"("\x")",
      R"("\u12G4")",
      "[1] [2]",
      std::string("{\"a\":1}\0garbage", 16),  // nlohmann stops at a NUL byte
  };
  for (const auto& text : texts) {
    checkSameAsNlohmann<nlohmann::json>(text);
    checkSameAsNlohmann<nlohmann::ordered_json>(text);
  }
}

TEST_CASE("json::parse on random documents and their mutations", "[json]") {
  std::mt19937 random(20261129);
  auto pick = [&](unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(random); };
  static const char* kPieces[] = {
      "{",    "}", "[",       "]", ",",     ":",    "\"k\"", "\"\\u00e9\"",        "1",        "-2.5",    "1e9", "true",
      "null", " ", "\"\\n\"", "0", "\"x\"", "1e-9", "-0",    "\"\\ud83d\\ude00\"", "\xc3\xa9", "\"\\\"\""};
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    const unsigned pieces = 1 + pick(24);
    for (unsigned p = 0; p < pieces; ++p) text += kPieces[pick(22)];
    checkSameAsNlohmann<nlohmann::ordered_json>(text);
  }
}

TEST_CASE("json::Reader says what is wrong and where", "[json]") {
  CHECK(readerError("{\"a\":1}") == "ok");
  CHECK(readerError("{\n  \"a\" 1}") == "expected ':' after an object key at line 2, column 7");
  CHECK(readerError("[1,]") == "expected a JSON value at line 1, column 4");
  CHECK(readerError("[1 2]") == "expected ',' or ']' in an array at line 1, column 4");
  CHECK(readerError("{\"a\":1 \"b\"}") == "expected ',' or '}' in an object at line 1, column 8");
  CHECK(readerError("{1:2}") == "expected a string key in an object at line 1, column 2");
  CHECK(readerError("1 2") == "unexpected text after the JSON value at line 1, column 3");
  CHECK(readerError("\"a\tb\"") == "control character in a string (write it as an escape) at line 1, column 3");
  CHECK(readerError("\"\\q\"") == "invalid escape in a string at line 1, column 3");
  CHECK(readerError("\"\xff\"") == "invalid UTF-8 in a string at line 1, column 2");
  CHECK(readerError("1.") == "expected digits after the decimal point at line 1, column 3");
  CHECK(readerError("[[[1]]]", {2, true, false}) == "nested deeper than 2 levels at line 1, column 3");
  CHECK(readerError("") == "unexpected end of the text at line 1, column 1");
  // What a builder for jq's values asks for: bytes as they are, lone low surrogates passed on.
  CHECK(readerError("\"\xff\"", {256, false, true}) == "ok");
  CHECK(readerError(R"("\udc00")", {256, false, true}) == "ok");
  CHECK(readerError(R"("\udc00")") == "invalid \\uXXXX\\uXXXX surrogate pair at line 1, column 8");
}
