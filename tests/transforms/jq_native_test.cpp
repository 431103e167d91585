// The jq step's native evaluator against libjq: wherever it answers, the answer must be
// libjq's byte for byte; where it declines, libjq runs instead.
#include "jq_native.hpp"

#include <catch2/catch.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include <random>
#include <string>
#include <vector>

extern "C" {
#include <jq.h>
#include <jv.h>
}

using namespace switchboard::transforms;

namespace {

#if defined(__SANITIZE_ADDRESS__)
/// jq 1.6 leaks when some programs fail to compile (`{([0]): 1}`, a constant key that is not
/// a string), which generated programs do. What libjq allocates for the reference here is not
/// this test's to report; the step's own use of libjq is still checked.
struct LibjqLeaksIgnored {
  LibjqLeaksIgnored() { __lsan_disable(); }
  ~LibjqLeaksIgnored() { __lsan_enable(); }
};
#else
struct LibjqLeaksIgnored {};
#endif

/// libjq running one program, compiled once.
class Libjq {
 public:
  explicit Libjq(const std::string& program) : state_(jq_init()) {
    [[maybe_unused]] const LibjqLeaksIgnored ignored;
    jq_set_error_cb(
        state_, [](void*, jv message) { jv_free(message); }, nullptr);
    compiled_ = jq_compile(state_, program.c_str());
  }
  ~Libjq() { jq_teardown(&state_); }
  Libjq(const Libjq&) = delete;
  Libjq& operator=(const Libjq&) = delete;

  bool compiled() const { return compiled_; }

  /// The first output (or with `all` the array of all), "<none>" for no output, "<error>"
  /// for an error before the output taken.
  std::string run(const std::string& input, bool all) {
    [[maybe_unused]] const LibjqLeaksIgnored ignored;
    jq_start(state_, jv_parse(input.c_str()), 0);
    jv outputs = jv_array();
    std::string result;
    for (;;) {
      jv value = jq_next(state_);
      if (!jv_is_valid(value)) {
        if (jv_invalid_has_msg(jv_copy(value))) result = "<error>";
        jv_free(value);
        break;
      }
      outputs = jv_array_append(outputs, value);
      if (!all) break;
    }
    if (result.empty()) {
      jv shown = all                                 ? jv_copy(outputs)
                 : jv_array_length(jv_copy(outputs)) ? jv_array_get(jv_copy(outputs), 0)
                                                     : jv_invalid();
      if (jv_is_valid(shown)) {
        jv text = jv_dump_string(shown, 0);
        result = jv_string_value(text);
        jv_free(text);
      } else {
        result = "<none>";
      }
    }
    jv_free(outputs);
    return result;
  }

 private:
  jq_state* state_;
  bool compiled_ = false;
};

/// The native answer, "<none>", or "" when it declined.
std::string native(const jq_native::Program& program, const std::string& input, bool all) {
  std::string out;
  switch (jq_native::run(program, input, all, out)) {
    case jq_native::Outcome::Output: return out;
    case jq_native::Outcome::NoOutput: return "<none>";
    case jq_native::Outcome::Declined: return "";
  }
  return "";
}

const std::vector<std::string> kInputs = {
    R"({"@id":"A-1","customer":{"name":"Zoë","vip":false},"line":[{"sku":"S1","qty":2,"price":1.5},)"
    R"({"sku":"S2","qty":3,"price":0.1}],"note":null})",
    R"({"a":1,"b":[1,2,3],"c":{"d":"x","e":null},"f":true,"g":false,"s":"h\u00e9llo","n":-2.5,"z":0})",
    R"([1,"a",null,true,false,{"a":2},[3],-0,1e300,"b"])",
    R"({"b":2,"a":1,"a2":{"x":[{"y":1},{"y":2}]},"q":"a\"b\\c\n\u0001\u007f/","big":9007199254740993})",
    R"([3,1,2,2.5,-1])",
    R"(["b","a","ab","","é"])",
    R"([[1,2],[1],[],{"b":1},{"a":2},{"a":1,"b":0}])",
    "null",
    "\"str\"",
    "42",
    "[]",
    "{}",
};

/// Programs the evaluator runs itself, with jq's semantics in each corner it covers.
const std::vector<std::string> kNativePrograms = {
    ".",
    ".a",
    ".customer.name",
    ".[\"@id\"]",
    ".\"@id\"",
    ". \"a\"",
    ".c.d",
    ".missing.deeper",
    ".b[1]",
    ".b[-1]",
    ".b[7]",
    ".[0]",
    ".[-2]",
    ".[]",
    ".b[]",
    ".line[].sku",
    "[.line[] | .qty * .price] | add",
    "{id: .[\"@id\"], customer: .customer.name, lines: (.line | length), total: ([.line[] | .qty * .price] | add), "
    "skus: [.line[].sku]}",
    "{a, b}",
    "{\"x y\": .a, (.c.d): 1}",
    "{if: 1, then: 2, true: .a}",
    "{a: (1, 2), b: (3, 4)}",
    "{(\"k\", \"j\"): (1, 2)}",
    "{a: 1, a: 2, b: 3}",
    "{a: -1, b: -.n, c: .a | tostring}",
    "[.[] | type]",
    "[.[] | length]",
    "[.[] | tostring]",
    "[.[] | not]",
    "keys",
    "keys_unsorted",
    "[.[] | keys]",
    "length",
    "add",
    "map(. + 1)",
    "map(select(. > 1))",
    "map(type)",
    "[.[] | select(type == \"number\")]",
    "[.[] | . // \"default\"]",
    ".a // .b // 7",
    "(null, false) // 3",
    "(1, null, 2) // 3",
    "empty // 4",
    "[(true, false) and (true, false)]",
    "[(true, false) or (true, false)]",
    ".f and .g",
    ".f or .g",
    "[(1, 2) + (10, 20)]",
    "[(1, 2) < (2, 1)]",
    "1 + 2 * 3 - 4 / 8",
    "-1 + 2",
    "- 2 * 3 - 1",
    "[7 % 3, -7 % 3, 7 % -3, 5.9 % 2.1]",
    "1 - 2 - 3",
    "2 * 3 % 4",
    "[1, 2] + [3]",
    "{a: 1} + {b: 2, a: 3}",
    "\"ab\" + \"cd\"",
    "null + 1",
    "1 + null",
    "[. == ., . != ., . < ., . >= .]",
    "[1 == 1.0, \"a\" < \"b\", [1, 2] < [1, 3], {} < [], null < false, false < true, true < 0]",
    "[.[] | . == 1]",
    "[.[] as $x | $x] | length",
    "if .a then \"yes\" else \"no\" end",
    "if .missing then 1 elif .a then 2 else 3 end",
    "[.[] | if . then 1 else 0 end]",
    "1, 2, 3",
    "empty",
    "select(false)",
    "[]",
    "[.[]?]",
    "\"\\u00e9\\n\\t\" | length",
    "\"é\" + \"\\\"\"",
    "1e1000",
    ".5 + 1.25e2",
    "[.[] | .a]",
    "# a comment\n.a",
    ".s | length",
    ".n | length",
    "[.[] | tostring | length]",
};

/// A random jq expression from the evaluator's part of the language, unparenthesised where
/// precedence matters, so that the grammar is tested as much as the values.
class ProgramGenerator {
 public:
  explicit ProgramGenerator(unsigned seed) : random_(seed) {}

  std::string expression(int depth) {
    if (depth <= 0) return leaf();
    static const char* kBinary[] = {" | ",  " , ", " // ", " and ", " or ", " == ", " != ", " < ",
                                    " <= ", " > ", " >= ", " + ",   " - ",  " * ",  " / ",  " % "};
    switch (pick(14)) {
      case 0:
      case 1:
      case 2: return expression(depth - 1) + kBinary[pick(16)] + expression(depth - 1);
      case 3: return "[" + expression(depth - 1) + "]";
      case 4: return "{a: " + term(depth - 1) + ", \"b\": " + term(depth - 1) + "}";
      case 5: return "{(" + expression(depth - 1) + "): " + term(depth - 1) + "}";
      case 6: return "select(" + expression(depth - 1) + ")";
      case 7: return "map(" + expression(depth - 1) + ")";
      case 8:
        return "if " + expression(depth - 1) + " then " + expression(depth - 1) + " else " + expression(depth - 1) +
               " end";
      case 9: return "-" + term(depth - 1);
      case 10: return term(depth - 1) + postfix();
      default: return "(" + expression(depth - 1) + ")";
    }
  }

 private:
  unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(random_); }
  std::string term(int depth) { return pick(2) ? leaf() : "(" + expression(depth) + ")"; }
  std::string postfix() {
    static const char* kPostfix[] = {".a", ".b", "[0]", "[-1]", "[]", "[\"a\"]"};
    return kPostfix[pick(6)];
  }
  std::string leaf() {
    static const char* kLeaves[] = {".",      ".a",  ".b",   ".c.d",  ".[0]",  ".[-1]",    ".[]",        ".b[]",
                                    "1",      "2.5", "0",    "\"x\"", "\"a\"", "true",     "false",      "null",
                                    "length", "add", "keys", "not",   "type",  "tostring", "empty",      "[]",
                                    "{}",     ".n",  ".s",   ".z",    "-1",    "3",        ".line[].qty"};
    return kLeaves[pick(31)];
  }

  std::mt19937 random_;
};

}  // namespace

TEST_CASE("jq native: the programs it runs answer as libjq answers", "[transforms][jq]") {
  for (const auto& source : kNativePrograms) {
    INFO("program: " << source);
    const auto program = jq_native::compile(source);
    if (source.find('$') != std::string::npos || source.find('?') != std::string::npos) {
      CHECK_FALSE(program);  // variables and optional paths are libjq's
      continue;
    }
    REQUIRE(program);
    Libjq reference(source);
    REQUIRE(reference.compiled());
    int answered = 0;
    for (const auto& input : kInputs) {
      for (const bool all : {false, true}) {
        INFO("input: " << input << (all ? " (all)" : ""));
        const std::string ours = native(*program, input, all);
        if (ours.empty()) continue;  // declined
        ++answered;
        CHECK(ours == reference.run(input, all));
      }
    }
    CHECK(answered > 0);
  }
}

TEST_CASE("jq native: declines what it does not run, for libjq to run", "[transforms][jq]") {
  for (const std::string source : {"def f: 1; f",
                                   ".[] as $x | $x",
                                   "reduce .[] as $x (0; . + $x)",
                                   ".a?",
                                   ".[1:2]",
                                   "..",
                                   "\"\\(.a)\"",
                                   "@base64",
                                   ".a |= 1",
                                   ".a += 1",
                                   "try .a catch 1",
                                   "to_entries",
                                   "$__loc__",
                                   ".[.i]",
                                   "input",
                                   "limit(1; .[])",
                                   "\"\\ud83d\\ude00\"",
                                   "label $out | 1",
                                   "path(.a)",
                                   ".a // empty ?// 1",
                                   "sort_by(.a)"}) {
    INFO(source);
    CHECK_FALSE(jq_native::compile(source));
  }
  // Bodies it does not read itself, and runtime cases jq reports as errors.
  const auto program = jq_native::compile(".");
  REQUIRE(program);
  std::string out;
  for (const std::string body : {"{\"a\":1,\"a\":2}", "\"\xff\"", "\"\\udc00\"", "1e400", "nan", "[1,]", ""}) {
    INFO(body);
    CHECK(jq_native::run(*program, body, false, out) == jq_native::Outcome::Declined);
  }
  for (const std::string source : {".a", ".[0]", ".[]", "1 / 0", "{} + 1", "true | length", "\"a\" - 1"}) {
    INFO(source);
    const auto failing = jq_native::compile(source);
    REQUIRE(failing);
    CHECK(jq_native::run(*failing, "true", false, out) == jq_native::Outcome::Declined);
  }
}

TEST_CASE("jq native: random programs answer as libjq answers", "[transforms][jq]") {
  ProgramGenerator generator(20261129);
  int compared = 0;
  int programs = 0;
  for (int i = 0; i < 600; ++i) {
    const std::string source = generator.expression(3);
    Libjq reference(source);
    if (!reference.compiled()) continue;  // e.g. a == b < c: jq's comparisons do not chain
    ++programs;
    INFO("program: " << source);
    const auto program = jq_native::compile(source);
    REQUIRE(program);  // every generated program is in the evaluator's part of the language
    for (std::size_t k = i % 2; k < kInputs.size(); k += 2) {
      const bool all = (i + k) % 3 == 0;
      const std::string ours = native(*program, kInputs[k], all);
      if (ours.empty()) continue;
      INFO("input: " << kInputs[k] << (all ? " (all)" : ""));
      CHECK(ours == reference.run(kInputs[k], all));
      ++compared;
    }
  }
  CHECK(programs > 400);
  CHECK(compared > 800);
}
