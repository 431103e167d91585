// jq: programs compiled at load time, first or all outputs, and errors as bad input.
#include "plugin_fixture.hpp"

#include <atomic>
#include <thread>

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
