// Route test cases (`switchboard test`): reading case files, with each mistake reported at
// its place, and running a case through a route's real steps against mocked endpoints.
#include <catch2/catch.hpp>

#include <sstream>

#include "config/loader.hpp"
#include "plugin_fixture.hpp"
#include "temp_files.hpp"
#include "testing/route_cases.hpp"

using namespace switchboard;
using namespace switchboard::core;
using namespace std::chrono_literals;
using switchboard::testing::builtPlugins;
using switchboard::testing::TempFiles;

namespace {

// The routes the cases run, on the built plugins. Their file adapters are never started: a
// case replaces the inbound and mocks every outbound endpoint.
const std::string kRoutes = R"(
routes:
  - id: orders
    from:
      file: { dir: ./in }
    steps:
      - set-header: { X-Order: "${body.id}" }
    to:
      - name: billing
        file: { dir: ./out }
      - name: audit
        when: "${body.total} >= 100"
        log: {}
    on_error:
      retry: { attempts: 3, delay: 10s }
      dead_letter:
        file: { dir: ./dead }
  - id: notes
    from:
      file: { dir: ./in }
    to:
      - log: {}
  - id: batches
    from:
      file: { dir: ./in }
    steps:
      - split: { path: items }
    to:
      - name: sink
        file: { dir: ./out }
)";

std::string text(const Diagnostics& diagnostics) {
  std::ostringstream out;
  for (const auto& d : diagnostics.items()) out << d << '\n';
  return out.str();
}

/// The routes of kRoutes, and case files loaded and run against them.
struct Cases {
  TempFiles tmp;
  std::vector<RouteConfig> routes;
  Diagnostics diagnostics;  // of the last load

  Cases() {
    Diagnostics route_diagnostics;
    const auto documents = parseRouteFiles({tmp.write("routes.yaml", kRoutes)}, route_diagnostics);
    routes = buildRoutes(documents, builtPlugins(), route_diagnostics);
    INFO(text(route_diagnostics));
    REQUIRE(route_diagnostics.empty());
    REQUIRE(routes.size() == 3);
  }

  std::vector<RouteCase> load(const std::string& yaml, const std::string& name = "cases.yaml") {
    diagnostics = Diagnostics();
    return loadCases({tmp.write(name, yaml)}, routes, diagnostics);
  }

  /// The one diagnostic of the last load, as printed, without the file name in front.
  std::string only() const {
    INFO(text(diagnostics));
    REQUIRE(diagnostics.size() == 1);
    std::ostringstream out;
    out << diagnostics.items()[0];
    const auto& file = diagnostics.items()[0].where.file;
    REQUIRE(out.str().rfind(file, 0) == 0);
    return out.str().substr(file.size());
  }

  const RouteConfig& route(const std::string& id) const {
    for (const auto& r : routes) {
      if (r.id == id) return r;
    }
    FAIL("no route " << id);
    throw std::logic_error("unreachable");
  }

  /// Loads one case, which must load cleanly, and runs it.
  CaseResult run(const std::string& yaml) {
    const auto cases = load(yaml);
    INFO(text(diagnostics));
    REQUIRE(diagnostics.empty());
    REQUIRE(cases.size() == 1);
    return runCase(cases[0], route(cases[0].route), builtPlugins());
  }
};

std::string failures(const CaseResult& result) {
  std::string out;
  for (const auto& f : result.failures) out += f + "\n";
  return out;
}

}  // namespace

// --- loadCases ---------------------------------------------------------------------------

TEST_CASE("cases: a case file is read into cases", "[cases]") {
  // One file, its third expectation naming first an endpoint orders lacks, then one it has.
  const std::string file = R"(cases:
  - name: first
    route: orders
    input:
      headers: { Content-Type: application/json }
      body: { id: A-1, total: 20, tags: [a, "2"], ok: true, none: null }
    mock:
      billing: { status: 201, headers: { X-Ref: r-1 }, body: accepted }
      dead_letter: { error: disk full }
    expect:
      - endpoint: billing
        headers: { X-Order: A-1 }
        body_contains: A-1
      - endpoint: "1"
        received: false
      - endpoint: THIRD
        message: 2
        count: 3
        body_json: '{"a": [1, 2]}'
    outcome: delivered
    reply:
      status: 201
      body: accepted
  - name: second
    route: notes
)";
  auto with_third = [&](const std::string& endpoint) {
    auto text = file;
    text.replace(text.find("THIRD"), 5, endpoint);
    return text;
  };
  Cases c;
  const auto cases = c.load(with_third("sink-free"));
  // "sink-free" names no endpoint of orders: reported (and `switchboard test` runs nothing).
  CHECK_THAT(c.only(), Catch::Contains("has no endpoint 'sink-free'"));
  CHECK(cases.size() == 2);

  const auto fixed = c.load(with_third("dead_letter"));
  INFO(text(c.diagnostics));
  REQUIRE(c.diagnostics.empty());
  REQUIRE(fixed.size() == 2);
  const auto& first = fixed[0];
  CHECK(first.name == "first");
  CHECK(first.route == "orders");
  CHECK(first.where.line == 3);  // at its route
  CHECK(first.input_headers == std::map<std::string, std::string>{{"Content-Type", "application/json"}});
  // A body written as a map is sent as its JSON, scalars with their YAML types.
  CHECK(nlohmann::json::parse(first.input_body) ==
        nlohmann::json{{"id", "A-1"}, {"total", 20}, {"tags", {"a", "2"}}, {"ok", true}, {"none", nullptr}});
  REQUIRE(first.mocks.size() == 2);
  const auto& billing = first.mocks.at("billing");
  CHECK(billing.status == 201);
  CHECK(billing.headers == std::map<std::string, std::string>{{"X-Ref", "r-1"}});
  CHECK(billing.body == "accepted");
  CHECK_FALSE(billing.error);
  CHECK(first.mocks.at("dead_letter").error == "disk full");
  REQUIRE(first.expect.size() == 3);
  CHECK(first.expect[0].endpoint == "billing");
  CHECK(first.expect[0].received);
  CHECK(first.expect[0].expect.headers == std::map<std::string, std::string>{{"X-Order", "A-1"}});
  CHECK(first.expect[0].expect.body_contains == std::vector<std::string>{"A-1"});
  CHECK(first.expect[1].endpoint == "1");
  CHECK_FALSE(first.expect[1].received);
  CHECK(first.expect[2].message == 2);
  CHECK(first.expect[2].count == std::optional<std::size_t>(3));
  CHECK(first.expect[2].expect.body_json == nlohmann::json{{"a", {1, 2}}});
  CHECK(first.outcome == "delivered");
  REQUIRE(first.reply);
  CHECK(first.reply->status == 201);
  CHECK(first.reply->body == "accepted");
  CHECK(fixed[1].name == "second");
  CHECK(fixed[1].expect.empty());
  CHECK_FALSE(fixed[1].outcome);
}

TEST_CASE("cases: an unknown key is reported at its line and column, with a suggestion", "[cases]") {
  Cases c;
  CHECK(c.load(R"(cases:
  - name: typo
    route: orders
    expcet:
      - endpoint: billing
)")
            .empty());
  CHECK(c.only() == ":4:5: cases[0].expcet: unknown key 'expcet'; did you mean 'expect'?");

  c.load(R"(cases:
  - name: typo in an expectation
    route: orders
    expect:
      - endpoint: billing
        header: { X-Order: A-1 }
)");
  CHECK(c.only() == ":6:9: cases[0].expect[0].header: unknown key 'header'; did you mean 'headers'?");

  c.load(R"(cases:
  - name: typo in a mock
    route: orders
    mock:
      billing: { stauts: 500 }
)");
  CHECK(c.only() == ":5:18: cases[0].mock.billing.stauts: unknown key 'stauts'; did you mean 'status'?");
}

TEST_CASE("cases: an unknown route id is reported at the id, with a suggestion", "[cases]") {
  Cases c;
  CHECK(c.load(R"(cases:
  - name: wrong route
    route: order
)")
            .empty());
  CHECK(c.only() == ":3:12: cases[0].route: no route 'order' in the route files; did you mean 'orders'?");

  c.load(R"(cases:
  - name: far from any route
    route: invoices
)");
  CHECK(c.only() == ":3:12: cases[0].route: no route 'invoices' in the route files");
}

TEST_CASE("cases: a mock or an expectation naming no endpoint is reported where written", "[cases]") {
  Cases c;
  c.load(R"(cases:
  - name: bad mock
    route: orders
    mock:
      biling: { status: 500 }
)");
  CHECK(c.only() ==
        ":5:7: cases[0].mock.biling: route 'orders' has no endpoint 'biling'; did you mean 'billing'? (name an "
        "index into `to`, an endpoint's name or adapter, or dead_letter)");

  c.load(R"(cases:
  - name: bad expectation
    route: orders
    expect:
      - endpoint: adit
)");
  CHECK(c.only() ==
        ":5:19: cases[0].expect[0].endpoint: route 'orders' has no endpoint 'adit'; did you mean 'audit'? (name an "
        "index into `to`, an endpoint's name or adapter, or dead_letter)");

  // An index past `to`, and dead_letter on a route without one.
  c.load(R"(cases:
  - name: no such index
    route: notes
    expect:
      - endpoint: "7"
      - endpoint: dead_letter
)");
  INFO(text(c.diagnostics));
  REQUIRE(c.diagnostics.size() == 2);
  CHECK_THAT(c.diagnostics.items()[0].message, Catch::StartsWith("route 'notes' has no endpoint '7'"));
  CHECK(c.diagnostics.items()[0].where.line == 5);
  CHECK_THAT(c.diagnostics.items()[1].message, Catch::StartsWith("route 'notes' has no endpoint 'dead_letter'"));
  CHECK(c.diagnostics.items()[1].where.line == 6);
}

TEST_CASE("cases: every selector form names an endpoint: index, place, name, adapter", "[cases]") {
  Cases c;
  const auto cases = c.load(R"(cases:
  - name: selectors
    route: orders
    mock:
      "0": { status: 200 }
      audit: { status: 200 }
      log: { status: 200 }
      dead_letter: { status: 200 }
    expect:
      - endpoint: billing
      - endpoint: to[1]
      - endpoint: file
)");
  INFO(text(c.diagnostics));
  CHECK(c.diagnostics.empty());
  CHECK(cases.size() == 1);
}

TEST_CASE("cases: malformed YAML is reported at its line and column", "[cases]") {
  Cases c;
  const auto cases = c.load(R"(cases:
  - name: unclosed
    route: [orders
)");
  CHECK(cases.empty());
  INFO(text(c.diagnostics));
  REQUIRE(c.diagnostics.size() == 1);
  const auto& where = c.diagnostics.items()[0].where;
  CHECK(where.file == (c.tmp.dir / "cases.yaml").string());
  CHECK(where.line == 4);  // the end of the file, where the `]` should have been
  CHECK(where.column == 1);
  CHECK_THAT(c.diagnostics.items()[0].message, Catch::Contains("flow"));
}

TEST_CASE("cases: a file without a `cases:` list is reported, and so is one that cannot be read", "[cases]") {
  Cases c;
  CHECK(c.load("tests:\n  - name: x\n    route: orders\n").empty());
  CHECK(c.only() == ":1:1: a case file holds `cases:`, a list of cases");

  c.load("cases:\n  name: x\n  route: orders\n");
  CHECK_THAT(c.only(), Catch::EndsWith("a case file holds `cases:`, a list of cases"));

  c.load("- name: x\n");
  CHECK_THAT(c.only(), Catch::EndsWith("a case file holds `cases:`, a list of cases"));

  c.diagnostics = Diagnostics();
  const auto missing = c.tmp.dir / "missing.yaml";
  CHECK(loadCases({missing}, c.routes, c.diagnostics).empty());
  REQUIRE(c.diagnostics.size() == 1);
  CHECK(c.diagnostics.items()[0].where.file == missing.string());
  CHECK(c.diagnostics.items()[0].message == "cannot read the case file");
}

TEST_CASE("cases: a case without name or route, or with an unknown outcome, is reported", "[cases]") {
  Cases c;
  c.load(R"(cases:
  - route: orders
)");
  CHECK(c.only() == ":2:5: cases[0]: a case needs a `name`");

  c.load(R"(cases:
  - name: where to
)");
  CHECK(c.only() == ":2:5: cases[0]: a case needs the `route` id it runs");

  c.load(R"(cases:
  - name: odd outcome
    route: orders
    outcome: done
)");
  CHECK(c.only() == ":4:14: cases[0].outcome: expected delivered, filtered, dead_lettered or failed");

  c.load(R"(cases:
  - name: no endpoint
    route: orders
    expect:
      - body: x
)");
  CHECK_THAT(c.only(), Catch::Contains("an expectation names its `endpoint`"));
}

TEST_CASE("cases: one broken case does not hide the others, in any file", "[cases]") {
  Cases c;
  const auto a = c.tmp.write("a.yaml", R"(cases:
  - name: good one
    route: orders
  - name: bad one
    route: nope
  - name: good two
    route: notes
)");
  const auto b = c.tmp.write("b.yaml", R"(cases:
  - name: bad three
    route: orders
    expcet: []
  - name: good three
    route: batches
)");
  Diagnostics diagnostics;
  const auto cases = loadCases({a, b}, c.routes, diagnostics);
  std::vector<std::string> names;
  for (const auto& test : cases) names.push_back(test.name);
  CHECK(names == std::vector<std::string>{"good one", "good two", "good three"});
  INFO(text(diagnostics));
  REQUIRE(diagnostics.size() == 2);
  CHECK(diagnostics.items()[0].where.file == a.string());
  CHECK(diagnostics.items()[0].where.line == 5);
  CHECK(diagnostics.items()[1].where.file == b.string());
  CHECK(diagnostics.items()[1].where.line == 4);
}

// --- runCase -----------------------------------------------------------------------------

TEST_CASE("cases: a correct expectation passes", "[cases]") {
  Cases c;
  const auto result = c.run(R"(cases:
  - name: an order goes to billing, tagged, and not to audit
    route: orders
    input:
      headers: { Content-Type: application/json }
      body: { id: A-1, total: 20 }
    expect:
      - endpoint: billing
        headers: { X-Order: A-1 }
        body: '{"id":"A-1","total":20}'
        body_contains: [ '"total":20' ]
        body_json: { total: 20, id: A-1 }
      - endpoint: audit
        received: false
    outcome: delivered
)");
  INFO(failures(result));
  CHECK(result.passed);
  CHECK(result.failures.empty());
}

TEST_CASE("cases: a wrong body fails with a diff of expected and actual lines", "[cases]") {
  Cases c;
  SECTION("exact body") {
    const auto result = c.run(R"(cases:
  - name: wrong total
    route: orders
    input: { body: { id: A-1, total: 20 } }
    expect:
      - endpoint: billing
        body: '{"id":"A-1","total":21}'
)");
    CHECK_FALSE(result.passed);
    CHECK(result.failures == std::vector<std::string>{"to[0] (billing) body differs:\n--- expected\n+++ actual\n"
                                                      "- {\"id\":\"A-1\",\"total\":21}\n"
                                                      "+ {\"id\":\"A-1\",\"total\":20}\n"});
  }
  SECTION("lines in common are kept, the changed ones marked") {
    const auto result = c.run(R"(cases:
  - name: one line differs
    route: notes
    input: { body: "one\ntwo\nthree" }
    expect:
      - endpoint: 0
        body: "one\nTWO\nthree"
)");
    CHECK_FALSE(result.passed);
    CHECK(result.failures ==
          std::vector<std::string>{"to[0] body differs:\n--- expected\n+++ actual\n  one\n- TWO\n+ two\n  three\n"});
  }
  SECTION("as JSON") {
    const auto result = c.run(R"(cases:
  - name: wrong total as JSON
    route: orders
    input: { body: { id: A-1, total: 20 } }
    expect:
      - endpoint: billing
        body_json: { id: A-1, total: 21 }
)");
    CHECK_FALSE(result.passed);
    REQUIRE(result.failures.size() == 1);
    const auto& failure = result.failures[0];
    CHECK_THAT(failure, Catch::StartsWith("to[0] (billing) body differs as JSON:\n--- expected\n+++ actual\n"));
    CHECK_THAT(failure, Catch::Contains("\n-   \"total\": 21\n"));
    CHECK_THAT(failure, Catch::Contains("\n+   \"total\": 20\n"));
    CHECK_THAT(failure, Catch::Contains("\n    \"id\": \"A-1\",\n"));  // in both
  }
  SECTION("headers and contained text") {
    const auto result = c.run(R"(cases:
  - name: wrong header, missing header, missing text
    route: orders
    input: { body: { id: A-1, total: 20 } }
    expect:
      - endpoint: billing
        headers: { X-Order: A-2, X-Missing: yes }
        body_contains: [ A-1, A-9 ]
)");
    CHECK_FALSE(result.passed);
    CHECK(result.failures ==
          std::vector<std::string>{"to[0] (billing) header X-Missing: expected \"yes\", but it is not set",
                                   "to[0] (billing) header X-Order: expected \"A-2\", got \"A-1\"",
                                   "to[0] (billing) body does not contain \"A-9\"; the body is:\n"
                                   "{\"id\":\"A-1\",\"total\":20}"});
  }
}

TEST_CASE("cases: received: false passes when the endpoint got nothing, fails when it got a message", "[cases]") {
  Cases c;
  const auto skipped = c.run(R"(cases:
  - name: a small order skips audit
    route: orders
    input: { body: { id: A-1, total: 20 } }
    expect:
      - endpoint: audit
        received: false
)");
  INFO(failures(skipped));
  CHECK(skipped.passed);

  const auto audited = c.run(R"(cases:
  - name: a large order does not skip audit
    route: orders
    input: { body: { id: A-1, total: 500 } }
    expect:
      - endpoint: audit
        received: false
)");
  CHECK_FALSE(audited.passed);
  CHECK(audited.failures == std::vector<std::string>{"to[1] (audit): expected no message, got 1"});
}

TEST_CASE("cases: a mock answering 503 is retried up to the route's attempts, then dead-lettered", "[cases]") {
  Cases c;
  const auto started = std::chrono::steady_clock::now();
  const auto result = c.run(R"(cases:
  - name: billing is down
    route: orders
    input: { body: { id: A-2, total: 500 } }
    mock:
      billing: { status: 503 }
    expect:
      - endpoint: billing
        count: 3
        body_json: { id: A-2, total: 500 }
      - endpoint: billing
        message: 2
        headers: { X-Order: A-2 }
      - endpoint: dead_letter
        count: 1
        headers:
          error.attempts: "3"
          error.endpoint: billing
          error.route: orders
          error.message: mock answered 503
        body_json: { id: A-2, total: 500 }
      - endpoint: audit
        received: false
    outcome: dead_lettered
)");
  INFO(failures(result));
  CHECK(result.passed);
  // The route waits 10s and more between attempts; a case does not wait.
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("cases: a mock error is retried like a 503", "[cases]") {
  Cases c;
  const auto result = c.run(R"(cases:
  - name: the share is full
    route: orders
    input: { body: { id: A-3, total: 1 } }
    mock:
      billing: { error: No space left on device }
    expect:
      - endpoint: billing
        count: 3
      - endpoint: dead_letter
        headers: { error.attempts: "3", error.message: No space left on device }
    outcome: dead_lettered
)");
  INFO(failures(result));
  CHECK(result.passed);
}

TEST_CASE("cases: a mock answering 4xx is not retried", "[cases]") {
  Cases c;
  const auto status = GENERATE(400, 404, 422, 499);
  const auto result = c.run(R"(cases:
  - name: billing refuses the order
    route: orders
    input: { body: { id: A-4, total: 500 } }
    mock:
      billing: { status: )" +
                            std::to_string(status) + R"( }
    expect:
      - endpoint: billing
        count: 1
      - endpoint: dead_letter
        headers: { error.attempts: "1", error.message: mock answered )" +
                            std::to_string(status) + R"( }
      - endpoint: audit
        received: false
    outcome: dead_lettered
)");
  INFO(failures(result));
  CHECK(result.passed);
}

TEST_CASE("cases: a wrong count or a message index past what arrived fails", "[cases]") {
  Cases c;
  const auto result = c.run(R"(cases:
  - name: billing is down, miscounted
    route: orders
    input: { body: { id: A-2, total: 5 } }
    mock:
      billing: { status: 500 }
    expect:
      - endpoint: billing
        count: 2
      - endpoint: billing
        message: 3
    outcome: dead_lettered
)");
  CHECK_FALSE(result.passed);
  CHECK(result.failures ==
        std::vector<std::string>{"to[0] (billing): expected 2 message(s), got 3",
                                 "to[0] (billing): expected message 3, but it received 3 (the message dead_lettered: "
                                 "mock answered 500)"});
}

TEST_CASE("cases: the outcome is checked", "[cases]") {
  Cases c;
  const auto filtered_expected = c.run(R"(cases:
  - name: delivered, not filtered
    route: orders
    input: { body: { id: A-1, total: 20 } }
    outcome: filtered
)");
  CHECK_FALSE(filtered_expected.passed);
  CHECK(filtered_expected.failures == std::vector<std::string>{"outcome: expected filtered, got delivered"});

  const auto dead_lettered = c.run(R"(cases:
  - name: dead-lettered, not delivered
    route: orders
    input: { body: { id: A-1, total: 20 } }
    mock:
      billing: { status: 409 }
    outcome: delivered
)");
  CHECK(dead_lettered.failures ==
        std::vector<std::string>{"outcome: expected delivered, got dead_lettered (mock answered 409)"});

  const auto failed = c.run(R"(cases:
  - name: the dead letter endpoint fails too
    route: orders
    input: { body: { id: A-1, total: 20 } }
    mock:
      billing: { status: 409 }
      dead_letter: { status: 500 }
    outcome: failed
)");
  INFO(failures(failed));
  CHECK(failed.passed);

  const auto bad_input = c.run(R"(cases:
  - name: a body the step cannot read fails at the step, before any endpoint
    route: orders
    input: { body: not json }
    expect:
      - endpoint: billing
        received: false
      - endpoint: dead_letter
        headers: { error.endpoint: set-header, error.attempts: "1" }
        body: not json
    outcome: dead_lettered
)");
  INFO(failures(bad_input));
  CHECK(bad_input.passed);
}

TEST_CASE("cases: the reply is the message after the last endpoint, with its status", "[cases]") {
  Cases c;
  const auto answered = c.run(R"(cases:
  - name: the endpoint's answer is the reply
    route: notes
    input: { body: question }
    mock:
      log: { status: 201, headers: { X-Ref: r-9, Content-Type: text/plain }, body: accepted }
    reply:
      status: 201
      headers: { X-Ref: r-9 }
      body: accepted
    outcome: delivered
)");
  INFO(failures(answered));
  CHECK(answered.passed);

  const auto plain = c.run(R"(cases:
  - name: without an http.status the reply is a 200
    route: notes
    input: { body: question }
    reply: { status: 200, body: question }
)");
  INFO(failures(plain));
  CHECK(plain.passed);

  const auto wrong = c.run(R"(cases:
  - name: a wrong status and body
    route: notes
    input: { body: question }
    mock:
      log: { status: 202, body: queued }
    reply: { status: 200, body: queued, headers: { X-Ref: r-1 } }
)");
  CHECK_FALSE(wrong.passed);
  CHECK(wrong.failures == std::vector<std::string>{"reply status: expected 200, got 202",
                                                   "reply header X-Ref: expected \"r-1\", but it is not set"});

  const auto none = c.run(R"(cases:
  - name: a failed message has no reply
    route: notes
    input: { body: question }
    mock:
      log: { status: 404 }
    reply: { status: 404 }
)");
  CHECK_FALSE(none.passed);
  CHECK(none.failures == std::vector<std::string>{"reply: expected one, but the route gave none (it failed)"});
}

TEST_CASE("cases: a split sends one message per element to the endpoints after it", "[cases][split]") {
  Cases c;
  const auto result = c.run(R"(cases:
  - name: a batch of three
    route: batches
    input: { body: { items: [ { sku: A }, { sku: B }, { sku: C } ] } }
    expect:
      - endpoint: sink
        count: 3
        body_json: { sku: A }
        headers: { split.index: "0", split.size: "3" }
      - endpoint: sink
        message: 2
        body_json: { sku: C }
        headers: { split.index: "2" }
    outcome: delivered
)");
  INFO(failures(result));
  CHECK(result.passed);

  const auto miscounted = c.run(R"(cases:
  - name: a batch of two counted as three
    route: batches
    input: { body: { items: [ 1, 2 ] } }
    expect:
      - endpoint: sink
        count: 3
)");
  CHECK(miscounted.failures == std::vector<std::string>{"to[0] (sink): expected 3 message(s), got 2"});
}
