#include <optional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "switchboard/message.hpp"
#include "switchboard/status.hpp"
#include "switchboard/template.hpp"

using switchboard::Expression;
using switchboard::Message;
using switchboard::MessageError;
using switchboard::Scope;
using switchboard::SyntaxError;

namespace {

bool test(std::string_view text, const Message& message = Message("m")) {
  return Expression::compile(text, Scope{"route-1"}).test(message);
}

Message jsonMessage(std::string body) {
  Message message("m");
  message.setBody(std::move(body), "application/json");
  return message;
}

Message withHeader(std::string_view name, std::string value) {
  Message message("m");
  message.headers().set(name, std::move(value));
  return message;
}

std::optional<SyntaxError> compileError(std::string_view text) {
  try {
    Expression::compile(text, {});
  } catch (const SyntaxError& e) {
    return e;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("literals evaluate to themselves", "[expression]") {
  CHECK(test("true"));
  CHECK_FALSE(test("false"));
  CHECK_FALSE(test("null"));
  CHECK(test("1"));
  CHECK_FALSE(test("0"));
  CHECK(test("-2.5"));
  CHECK(test("'text'"));
  CHECK_FALSE(test("''"));
  CHECK(test("\"double quoted\""));
  CHECK(Expression::compile("  true  ", {}).text() == "  true  ");
}

TEST_CASE("truthiness of values", "[expression][truthiness]") {
  // false, null, 0, "", "false", [] and {} are false; everything else is true.
  struct Case {
    const char* body;
    bool truthy;
  };
  const Case cases[] = {
      {R"({"v": true})", true}, {R"({"v": false})", false},   {R"({"v": null})", false}, {R"({})", false},
      {R"({"v": 0})", false},   {R"({"v": 0.0})", false},     {R"({"v": -1})", true},    {R"({"v": 0.5})", true},
      {R"({"v": ""})", false},  {R"({"v": "false"})", false}, {R"({"v": "0"})", true},   {R"({"v": "no"})", true},
      {R"({"v": []})", false},  {R"({"v": [0]})", true},      {R"({"v": {}})", false},   {R"({"v": {"a": 0}})", true},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    CHECK(test("${body.v}", jsonMessage(c.body)) == c.truthy);
    CHECK(test("!${body.v}", jsonMessage(c.body)) == !c.truthy);
  }

  CHECK(test("${header.X-Flag}", withHeader("x-flag", "yes")));
  CHECK_FALSE(test("${header.X-Flag}", withHeader("x-flag", "")));
  CHECK_FALSE(test("${header.X-Flag}", Message("m")));
}

TEST_CASE("&& binds tighter than ||, and ! tighter than &&", "[expression][precedence]") {
  CHECK(test("true || false && false"));  // true || (false && false)
  CHECK(test("false && false || true"));  // (false && false) || true
  CHECK_FALSE(test("!false && false"));   // (!false) && false
  CHECK(test("!false || false"));
  CHECK(test("!!true"));
  CHECK_FALSE(test("!true || false && true"));
}

TEST_CASE("parentheses override precedence", "[expression][precedence]") {
  CHECK_FALSE(test("(true || false) && false"));
  CHECK(test("false && (false || true) || true"));
  CHECK(test("!(false && true)"));
  CHECK_FALSE(test("!(true || false)"));
  CHECK(test("((1 == 1))"));
}

TEST_CASE("comparisons bind tighter than !, && and ||", "[expression][precedence]") {
  const auto message = withHeader("X-Kind", "b");
  // ! negates the whole comparison: !(kind == 'a')
  CHECK(test("!${header.X-Kind} == 'a'", message));
  CHECK_FALSE(test("!${header.X-Kind} == 'b'", message));
  CHECK(test("${header.X-Kind} == 'a' || ${header.X-Kind} == 'b'", message));
  CHECK_FALSE(test("${header.X-Kind} == 'a' && ${header.X-Kind} == 'b'", message));
  CHECK(test("1 < 2 && 'b' > 'a'"));
}

TEST_CASE("&& and || short-circuit", "[expression]") {
  Message message("m");
  message.setBody("not json");
  // The right side would throw MessageError if it were evaluated.
  CHECK_FALSE(test("false && ${body.a} == 1", message));
  CHECK(test("true || ${body.a} == 1", message));
  CHECK_THROWS_AS(test("true && ${body.a} == 1", message), MessageError);
}

TEST_CASE("numbers and numeric strings compare as numbers", "[expression][compare]") {
  CHECK(test("1 == 1.0"));
  CHECK(test("'007' == 7"));
  CHECK(test("7 == '007'"));
  CHECK(test("'1.50' == 1.5"));
  CHECK(test("'1e2' == 100"));
  CHECK(test("'-3' < 2"));
  CHECK(test("'10' > '9'"));  // as numbers, although '10' < '9' as text
  CHECK(test("2 != 3"));
  CHECK(test("2 <= 2 && 2 >= 2 && 1 < 2 && 3 > 2"));
  CHECK_FALSE(test("2 < 2"));

  const auto message = jsonMessage(R"({"amount": 250, "price": "19.90", "qty": 3})");
  CHECK(test("${body.amount} > 0", message));
  CHECK(test("${body.amount} == '250'", message));
  CHECK(test("${body.price} < 20", message));
  CHECK(test("${body.price} >= ${body.qty}", message));
  CHECK(test("${header.X-Count} == 12", withHeader("X-Count", "012")));
}

TEST_CASE("non-numeric strings compare as text", "[expression][compare]") {
  CHECK(test("'abc' == 'abc'"));
  CHECK_FALSE(test("'abc' == 'ABC'"));  // case-sensitive
  CHECK(test("'abc' < 'abd'"));
  CHECK(test("'b' >= 'a'"));
  CHECK(test("'abc' != 5"));
  CHECK_FALSE(test("'abc' == 5"));
  CHECK_FALSE(test("' 7' == 7"));  // surrounding space: not a number
  CHECK_FALSE(test("'7 ' == 7"));
  CHECK_FALSE(test("'' == 0"));

  const auto message = withHeader("X-Customer", "acme");
  CHECK(test("${header.x-customer} == 'acme'", message));
  CHECK(test("${route.id} == 'route-1'"));
}

TEST_CASE("only decimal numbers count as numeric strings", "[expression][compare]") {
  CHECK_FALSE(test("'nan' == 0"));
  CHECK(test("'nan' != 0"));
  CHECK_FALSE(test("'NaN' == 'nan'"));
  CHECK_FALSE(test("'inf' == 'INFINITY'"));
  CHECK_FALSE(test("'0x10' == 16"));
  CHECK_THROWS_AS(test("'inf' > 1"), MessageError);
}

TEST_CASE("comparing with true or false compares truthiness", "[expression][compare]") {
  CHECK(test("${header.X-Flag} == true", withHeader("X-Flag", "yes")));
  CHECK(test("${header.X-Flag} == false", withHeader("X-Flag", "false")));
  CHECK(test("${header.X-Flag} != true", withHeader("X-Flag", "")));
  CHECK(test("${body.paid} == true", jsonMessage(R"({"paid": true})")));
  CHECK(test("${body.paid} == 'true'", jsonMessage(R"({"paid": true})")));
  CHECK(test("1 == true"));
  CHECK(test("0 == false"));
}

TEST_CASE("null equals only null and orders against nothing", "[expression][null]") {
  const auto body = jsonMessage(R"({"a": null, "b": 0, "c": ""})");
  CHECK(test("null == null"));
  CHECK(test("${body.a} == null", body));
  CHECK(test("${body.missing} == null", body));
  CHECK(test("${header.Missing} == null", body));
  CHECK_FALSE(test("${body.b} == null", body));
  CHECK_FALSE(test("${body.c} == null", body));
  CHECK(test("${body.c} != null", body));
  CHECK_FALSE(test("${header.Missing} == ''", body));
  CHECK_FALSE(test("null == false"));
  CHECK_FALSE(test("null == 0"));

  // Ordering an absent value is false both ways, never an error.
  CHECK_FALSE(test("${header.Missing} < 5", body));
  CHECK_FALSE(test("${header.Missing} >= 5", body));
  CHECK_FALSE(test("${body.a} > 'a'", body));
  CHECK_FALSE(test("${body.a} <= 'a'", body));
}

TEST_CASE("ordering a number against a non-numeric string throws MessageError", "[expression][compare]") {
  const auto message = withHeader("X-Amount", "lots");
  CHECK_THROWS_AS(test("${header.X-Amount} > 5", message), MessageError);
  CHECK_THROWS_WITH(test("${header.X-Amount} > 5", message), Catch::Contains("cannot order"));
  CHECK_THROWS_AS(test("5 <= ${header.X-Amount}", message), MessageError);
  CHECK_THROWS_AS(test("${body.n} < 'abc'", jsonMessage(R"({"n": 1})")), MessageError);
  // Text that is not UTF-8 (found by the expression fuzz target): still a MessageError.
  CHECK_THROWS_AS(test("'\xc6q' < 2000"), MessageError);
  CHECK_THROWS_AS(test("${header.X-Amount} > 5", withHeader("X-Amount", "\xff\xfe")), MessageError);
  // Equality is never a type error.
  CHECK_FALSE(test("${header.X-Amount} == 5", message));
}

TEST_CASE("contains on strings and arrays", "[expression][contains]") {
  const auto message = jsonMessage(R"({"tags": ["red", "blue"], "ids": [1, 2, 30], "name": "order-42"})");

  SECTION("substring of a string") {
    CHECK(test("${body.name} contains 'der-4'", message));
    CHECK_FALSE(test("${body.name} contains 'Order'", message));
    CHECK(test("'hello world' contains 'o w'"));
    CHECK(test("'anything' contains ''"));
    CHECK(test("${header.Accept} contains 'json'", withHeader("Accept", "application/json")));
  }
  SECTION("element of an array") {
    CHECK(test("${body.tags} contains 'blue'", message));
    CHECK_FALSE(test("${body.tags} contains 'blu'", message));  // elements, not substrings
    CHECK(test("${body.ids} contains 30", message));
    CHECK(test("${body.ids} contains '2'", message));
    CHECK_FALSE(test("${body.ids} contains 3", message));
  }
  SECTION("an absent value contains nothing") {
    CHECK_FALSE(test("${body.missing} contains 'x'", message));
    CHECK_FALSE(test("${header.Missing} contains 'x'", message));
  }
  SECTION("contains combines with other operators") {
    CHECK(test("!(${body.tags} contains 'green') && ${body.tags} contains 'red'", message));
  }
}

TEST_CASE("matches searches with an ECMAScript regular expression", "[expression][matches]") {
  const auto message = withHeader("X-Phone", "555-1234");
  CHECK(test(R"(${header.X-Phone} matches '^\d{3}-\d{4}$')", message));
  CHECK(test("${header.X-Phone} matches '12'", message));  // a search, not a full match
  CHECK_FALSE(test("${header.X-Phone} matches '^12'", message));
  CHECK(test(R"('file.xml' matches '\.xml$')"));
  CHECK_FALSE(test(R"('filexml' matches '\.xml$')"));
  CHECK(test("'abcabc' matches '^(abc)+$'"));
  CHECK(test("'Order' matches '[Oo]rder'"));
  CHECK(test("'a|b' matches 'a\\|b'"));
  CHECK_FALSE(test("'ab' matches 'a\\|b'"));
  CHECK(test("!('abc' matches 'x') && 'abc' matches 'b'"));
  CHECK(test(R"('x\1234567890' matches '\\\\1234567890')"));               // an escaped backslash, then digits
  CHECK(test("${body.n} matches '^4\\d$'", jsonMessage(R"({"n": 42})")));  // numbers as text
  // JavaScript's forms where PCRE's differ: \u escapes, the empty class, [^] for any character.
  CHECK(test(R"(${header.X-Name} matches '^caf\\u00e9$')", withHeader("X-Name", "caf\xc3\xa9")));
  CHECK_FALSE(test("'abc' matches '[]'"));
  CHECK(test("'a' matches '^[^]$'"));
  CHECK(test("'Zoë' matches '^Zo.$'"));  // one character, two bytes: UTF-8 aware
}

TEST_CASE("matches is bounded: no input makes it run away or overflow a stack", "[expression][matches]") {
  // Nested repetition backtracks exponentially on a near miss: the match gives up, as a
  // message error, instead of holding the worker.
  Message near_miss = withHeader("X-Text", std::string(40, 'a') + "!");
  const auto runaway = Expression::compile("${header.X-Text} matches '^(a+)+$'", Scope{"r"});
  CHECK_THROWS_WITH(runaway.test(near_miss), Catch::Contains("gave up on this text"));
  // Long values against repetitions: std::regex recursed once per character and overflowed
  // the stack. A group repeated a million times needs more backtracking memory than a match
  // may take: it gives up, the bus goes on.
  const auto grouped = Expression::compile("${header.X-Text} matches '^(a|b)*$'", Scope{"r"});
  CHECK(grouped.test(withHeader("X-Text", std::string(10'000, 'a') + "b")));
  const Message huge = withHeader("X-Text", std::string(1'000'000, 'a') + "b");
  CHECK_THROWS_WITH(grouped.test(huge), Catch::Contains("gave up on this text"));
  CHECK(Expression::compile("${header.X-Text} matches '^[ab]*$'", Scope{"r"}).test(huge));
  // Bytes that are not UTF-8 are matched as far as they go, not refused.
  CHECK(test("${header.X-Text} matches '^ab'", withHeader("X-Text", "ab\xff\xfe")));
}

TEST_CASE("string literals: quotes and backslashes", "[expression][literal]") {
  CHECK(test(R"('it\'s' == "it's")"));
  CHECK(test(R"("say \"hi\"" == 'say "hi"')"));
  CHECK(test(R"('a\\b' contains '\\')"));
  CHECK(test(R"('a\\b' == "a\\b")"));
  CHECK(test(R"('\d' != 'd')"));  // an unknown escape keeps its backslash
}

TEST_CASE("exists(...) tells whether a reference has a value", "[expression][exists]") {
  const auto body = jsonMessage(R"({"a": {"b": 0}, "n": null, "list": []})");
  CHECK(test("exists(${body.a.b})", body));
  CHECK(test("exists(${body.list})", body));
  CHECK_FALSE(test("exists(${body.a.c})", body));
  CHECK_FALSE(test("exists(${body.n})", body));  // null counts as absent
  CHECK(test("!exists(${body.zzz})", body));
  CHECK(test("exists(${body.a}) && ${body.a.b} == 0", body));

  const auto header = withHeader("X-Trace", "");
  CHECK(test("exists(${header.x-trace})", header));
  CHECK_FALSE(test("exists(${header.X-Other})", header));
  CHECK_FALSE(test("exists(${prop.p})", header));

  SECTION("a body that is not JSON or XML has no such value") {
    Message text("m");
    text.setBody("plain text, not json");
    CHECK_FALSE(test("exists(${body.a})", text));
    CHECK_FALSE(test("exists(${xpath:/a})", text));
    CHECK(test("exists(${body})", text));
  }
  SECTION("XPath on an XML body") {
    Message xml("m");
    xml.setBody("<order><id>7</id></order>", "application/xml");
    CHECK(test("exists(${xpath:/order/id})", xml));
    CHECK_FALSE(test("exists(${xpath:/order/customer})", xml));
    CHECK(test("${xpath:/order/id} == 7", xml));
  }
}

TEST_CASE("an unreadable body in a comparison throws MessageError", "[expression]") {
  Message message("m");
  message.setBody("<not-json/>");
  CHECK_THROWS_AS(test("${body.a} == 1", message), MessageError);
  message.setBody("{not xml");
  CHECK_THROWS_AS(test("${xpath:/a} == 1", message), MessageError);
}

TEST_CASE("syntax errors carry the offset of the problem", "[expression][syntax]") {
  struct Case {
    const char* text;
    std::size_t offset;
    const char* message;
  };
  const Case cases[] = {
      {"${header.a} == 'abc", 15, "unterminated string"},
      {"${header.a} == \"abc", 15, "unterminated string"},
      {"(1 == 1", 7, "expected ')'"},
      {"(${header.a} == 1 || (true)", 27, "expected ')'"},
      {"exists(${header.a}", 18, "expected ')'"},
      {"exists ${header.a}", 7, "expected '(' after exists"},
      {"exists('a')", 7, "takes a ${...} reference"},
      {"${header.a} matches 5", 20, "'matches' needs a quoted regular expression"},
      {"${header.a} matches ${header.b}", 20, "'matches' needs a quoted regular expression"},
      {"${header.a} matches '('", 20, "invalid regular expression"},
      // Repetition counts beyond 65535 (std::regex overflowed a long reading them).
      {"${header.a} matches 'a{1,99999999999}'", 20, "number too big in {} quantifier"},
      {"${header.a} matches 'a{4294967297}'", 20, "number too big in {} quantifier"},
      {"${header.a == 1", 0, "unterminated '${'"},
      {"1 == ${bogus}", 7, "unknown reference"},
      {"1 == ${header.}", 14, "expected a name"},
      {"foo == 1", 0, "unknown word 'foo'"},
      {"1 = 1", 2, "unexpected character '='"},
      {"1 == 1 &&", 9, "unexpected end of expression"},
      {"", 0, "unexpected end of expression"},
      {"1 == 1 2", 7, "unexpected '2'"},
      {"1 < 2 < 3", 6, "unexpected '<'"},
      {"1.2.3 == 1", 0, "malformed number"},
      {"1 == )", 5, "unexpected ')'"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto error = compileError(c.text);
    REQUIRE(error);
    CHECK(error->offset() == c.offset);
    CHECK_THAT(error->what(), Catch::Contains(c.message));
  }
}

TEST_CASE("expressions nest at most 256 levels", "[expression][syntax]") {
  // Thousands of levels used to exhaust the stack while parsing.
  const auto error = compileError(std::string(4000, '(') + "1" + std::string(4000, ')'));
  REQUIRE(error);
  CHECK(error->offset() == 256);
  CHECK_THAT(error->what(), Catch::Contains("nested deeper than 256 levels"));
  REQUIRE(compileError(std::string(300, '!') + "true"));
  CHECK(test(std::string(256, '(') + "1 == 1" + std::string(256, ')')));
  CHECK(test(std::string(256, '!') + "true"));
}

TEST_CASE("ordering against a boolean or null literal is a SyntaxError at load", "[expression][syntax]") {
  struct Case {
    const char* text;
    std::size_t offset;
  };
  const Case cases[] = {
      {"${header.a} < true", 12}, {"${header.a} >= false", 12}, {"false <= ${header.a}", 6}, {"${body.n} > null", 10},
      {"(true) > 1", 7},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const auto error = compileError(c.text);
    REQUIRE(error);
    CHECK(error->offset() == c.offset);
    CHECK_THAT(error->what(), Catch::Contains("compares numbers or text"));
  }
  // Equality with a boolean or null is fine.
  CHECK_NOTHROW(Expression::compile("${header.a} == true && ${header.b} != null", {}));
}

TEST_CASE("large integer literals keep their value", "[expression][literal]") {
  CHECK(test("99999999999999999999 > 1"));
  CHECK(test("-99999999999999999999 < -1"));
  CHECK(test("${body.n} < 99999999999999999999", jsonMessage(R"({"n": 9223372036854775807})")));
}
