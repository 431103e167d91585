// The admin API's documents over a running bus: /metrics as Prometheus text and /routes as
// JSON after messages went through, and the operator's stop and start of one route.
#include <catch2/catch.hpp>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "admin/admin_api.hpp"
#include "config/loader.hpp"
#include "temp_files.hpp"

using namespace switchboard;
using namespace switchboard::core;
using namespace std::chrono_literals;
using switchboard::testing::TempFiles;

namespace {

/// The intakes of the started `driven` inbounds, by their `key`, and keys whose start fails.
struct Intakes {
  std::mutex mutex;
  std::map<std::string, Intake*> started;
  std::set<std::string> refused;
};

Intakes& intakes() {
  static Intakes state;
  return state;
}

/// An inbound the test drives: while started, its intake is in intakes() under its key.
class DrivenInbound final : public InboundAdapter {
 public:
  explicit DrivenInbound(std::string key) : key_(std::move(key)) {}
  void start(Intake& intake) override {
    std::lock_guard lock(intakes().mutex);
    if (intakes().refused.count(key_)) throw std::runtime_error("driven " + key_ + " refuses to start");
    intakes().started[key_] = &intake;
  }
  void stop() override {
    std::lock_guard lock(intakes().mutex);
    intakes().started.erase(key_);
  }
  std::string describe() const override { return "driven " + key_; }

 private:
  std::string key_;
};

/// The built plugins (filter), the test kit (flaky, explode) and the driven inbound.
const Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->loadDirectories({SWITCHBOARD_TEST_PLUGIN_DIR, SWITCHBOARD_TEST_KIT_PLUGIN_DIR});
    reg->addInbound(ComponentSpec{"driven", "an inbound the test drives", {{"key", OptionType::String, true, "", ""}}},
                    [](const Options& o) { return std::make_unique<DrivenInbound>(o.string("key")); });
    return reg;
  }();
  return *r;
}

std::unique_ptr<Bus> makeBus(const std::string& yaml) {
  TempFiles tmp;
  Diagnostics diagnostics;
  const auto documents = parseRouteFiles({tmp.write("routes.yaml", yaml)}, diagnostics);
  const auto routes = buildRoutes(documents, registry(), diagnostics);
  auto bus = Bus::create(routes, registry(), diagnostics);
  std::ostringstream errors;
  for (const auto& d : diagnostics.items()) errors << d << '\n';
  INFO(errors.str());
  REQUIRE(diagnostics.empty());
  REQUIRE(bus);
  return bus;
}

Intake* intakeOf(const std::string& key) {
  std::lock_guard lock(intakes().mutex);
  const auto it = intakes().started.find(key);
  return it == intakes().started.end() ? nullptr : it->second;
}

/// Sends one message through the route whose inbound is `driven: {key: key}` and waits for its end.
Outcome send(const std::string& key, const std::string& body) {
  Intake* intake = intakeOf(key);
  REQUIRE(intake != nullptr);
  Message message = intake->newMessage();
  message.setBody(body, "application/json");
  auto finished = std::make_shared<std::promise<Outcome>>();
  auto outcome = finished->get_future();
  REQUIRE(intake->offer(std::move(message), [finished](Outcome o) { finished->set_value(std::move(o)); }) ==
          Intake::Admission::Accepted);
  REQUIRE(outcome.wait_for(5s) == std::future_status::ready);
  return outcome.get();
}

/// Waits until no route has a message in flight: a message's inbound counters move after its
/// completion ran.
void settle(const Bus& bus) {
  for (int i = 0; i < 500; ++i) {
    std::size_t in_flight = 0;
    bus.withRoutes([&](const std::vector<const Route*>& routes) {
      for (const Route* route : routes) in_flight += route->inFlight();
    });
    if (in_flight == 0) return;
    std::this_thread::sleep_for(10ms);
  }
  FAIL("messages still in flight after 5s");
}

/// One exposition, read back: each sample by name{labels}, and the HELP and TYPE lines.
struct Scrape {
  std::map<std::string, std::string> samples;  // "name{labels}" -> value
  std::map<std::string, int> help;             // family -> HELP lines
  std::map<std::string, std::string> type;     // family -> its TYPE
  std::map<std::string, int> type_lines;
  std::vector<std::string> problems;  // lines that break the format

  explicit Scrape(const std::string& text) {
    std::istringstream in(text);
    std::string family;  // of the last TYPE line
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("# HELP ", 0) == 0) {
        ++help[line.substr(7, line.find(' ', 7) - 7)];
        continue;
      }
      if (line.rfind("# TYPE ", 0) == 0) {
        const auto space = line.find(' ', 7);
        family = line.substr(7, space - 7);
        type[family] = line.substr(space + 1);
        ++type_lines[family];
        continue;
      }
      // name{labels} value, or name value (a plugin counter without labels).
      const auto space = line.rfind(' ');
      const auto brace = line.find('{');
      const bool labelled = brace != std::string::npos && brace < space;
      if (space == std::string::npos || space == 0 || (labelled && line[space - 1] != '}') ||
          (!labelled && line.find(' ') != space)) {
        problems.push_back("not a sample: " + line);
        continue;
      }
      const auto name = line.substr(0, labelled ? brace : space);
      // A sample belongs to the family of the TYPE line above it (a histogram's to its _bucket,
      // _sum and _count): so each family's samples are together, after its HELP and TYPE.
      const bool in_family =
          name == family || (type[family] == "histogram" &&
                             (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
      if (!in_family) problems.push_back("outside its family " + family + ": " + line);
      if (!samples.emplace(line.substr(0, space), line.substr(space + 1)).second) {
        problems.push_back("repeated: " + line);
      }
    }
  }

  /// The value of one sample; "absent" when there is none.
  std::string operator()(const std::string& name, const std::string& labels) const {
    const auto it = samples.find(name + "{" + labels + "}");
    return it == samples.end() ? "absent" : it->second;
  }
  std::size_t count(const std::string& name) const {
    std::size_t n = 0;
    for (const auto& [key, value] : samples) n += key.rfind(name + "{", 0) == 0;
    return n;
  }
};

std::string labels(const std::string& route, const std::string& endpoint, const std::string& name,
                   const std::string& adapter) {
  return "route=\"" + route + "\",endpoint=\"" + endpoint + "\",name=\"" + name + "\",adapter=\"" + adapter + "\"";
}

/// Checks the histogram of one endpoint: a bucket per bound, cumulative, ending with +Inf = _count.
void checkHistogram(const Scrape& scrape, const std::string& endpoint_labels, std::uint64_t expected_count) {
  INFO(endpoint_labels);
  static const std::vector<std::string> kLe{"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                                            "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "30"};
  REQUIRE(kLe.size() == Histogram::kBounds.size());
  std::uint64_t previous = 0;
  for (const auto& le : kLe) {
    const auto value = scrape("switchboard_duration_seconds_bucket", endpoint_labels + ",le=\"" + le + "\"");
    INFO("le=" << le);
    REQUIRE(value != "absent");
    const auto cumulative = std::stoull(value);
    CHECK(cumulative >= previous);
    previous = cumulative;
  }
  const auto inf = scrape("switchboard_duration_seconds_bucket", endpoint_labels + ",le=\"+Inf\"");
  const auto count = scrape("switchboard_duration_seconds_count", endpoint_labels);
  CHECK(inf == std::to_string(expected_count));
  CHECK(count == std::to_string(expected_count));
  CHECK(std::stoull(inf) >= previous);
  const auto sum = scrape("switchboard_duration_seconds_sum", endpoint_labels);
  REQUIRE(sum != "absent");
  CHECK(std::stod(sum) >= 0.0);
  if (expected_count > 0) CHECK(std::stod(sum) > 0.0);
}

// alpha: a filter step, an outbound that fails each message's first attempt (its name needs
// escaping), one that throws on "BOOM", two attempts and a dead letter endpoint.
// beta: one outbound that always fails, behind a circuit breaker that opens after 2.
const std::string kRoutes = R"(
routes:
  - id: alpha
    from:
      driven: { key: alpha }
    steps:
      - filter: "${body.keep} == true"
    to:
      - name: "billing \"eu\" \\ main\nsecond line"
        flaky: { fail_times: 1 }
      - name: audit
        explode: { marker: BOOM }
    on_error:
      retry: { attempts: 2, delay: 1ms }
      dead_letter:
        flaky: { fail_times: 0 }
  - id: beta
    from:
      driven: { key: beta }
    to:
      - name: down
        flaky: { fail_times: 1000 }
        circuit_breaker: { failures: 2, pause: 1h }
)";

const std::string kBilling = R"(billing \"eu\" \\ main\nsecond line)";  // as escaped in a label

/// The families this test checks, and their types.
const std::map<std::string, std::string> kFamilies{{"switchboard_messages_total", "counter"},
                                                   {"switchboard_errors_total", "counter"},
                                                   {"switchboard_retries_total", "counter"},
                                                   {"switchboard_dead_letters_total", "counter"},
                                                   {"switchboard_inflight", "gauge"},
                                                   {"switchboard_queue_depth", "gauge"},
                                                   {"switchboard_duration_seconds", "histogram"},
                                                   {"switchboard_circuit_state", "gauge"},
                                                   {"switchboard_route_running", "gauge"}};

/// The bus of kRoutes after four messages through alpha and two through beta.
struct Traffic {
  std::unique_ptr<Bus> bus = makeBus(kRoutes);
  std::string before;  // the exposition before any message

  Traffic() {
    bus->start();
    before = prometheusText(*bus);
    CHECK(send("alpha", R"({"keep": true})").kind == Outcome::Kind::Delivered);  // billing retried once
    CHECK(send("alpha", R"({"keep": false})").kind == Outcome::Kind::Filtered);  // dropped by the filter
    CHECK(send("alpha", "not json").kind == Outcome::Kind::DeadLettered);        // the filter cannot read it
    CHECK(send("alpha", R"({"keep": true, "x": "BOOM"})").kind == Outcome::Kind::DeadLettered);  // audit throws
    CHECK(send("beta", "{}").kind == Outcome::Kind::Failed);
    CHECK(send("beta", "{}").kind == Outcome::Kind::Failed);  // the second failure in a row opens the circuit
    settle(*bus);
  }
  ~Traffic() { bus->stop(5s); }
};

}  // namespace

TEST_CASE("metrics: every family has one HELP and one TYPE line, and its samples follow them", "[admin]") {
  Traffic traffic;
  const Scrape scrape(prometheusText(*traffic.bus));
  for (const auto& problem : scrape.problems) UNSCOPED_INFO(problem);
  CHECK(scrape.problems.empty());
  for (const auto& [family, type] : kFamilies) {
    INFO(family);
    REQUIRE(scrape.type.count(family) == 1);
    CHECK(scrape.type.at(family) == type);
  }
  // Every family printed, these and any other, has exactly one HELP and one TYPE line.
  CHECK(scrape.help.size() == scrape.type.size());
  for (const auto& [family, type] : scrape.type) {
    INFO(family);
    CHECK(scrape.help.count(family) == 1);
    if (scrape.help.count(family)) CHECK(scrape.help.at(family) == 1);
    CHECK(scrape.type_lines.at(family) == 1);
  }
}

TEST_CASE("metrics: messages by outcome at the inbound and at each sending endpoint", "[admin]") {
  Traffic traffic;
  const Scrape scrape(prometheusText(*traffic.bus));
  const auto from = labels("alpha", "from", "driven", "driven");
  const auto billing = labels("alpha", "to[0]", kBilling, "flaky");
  const auto audit = labels("alpha", "to[1]", "audit", "explode");
  const auto dead = labels("alpha", "dead_letter", "flaky", "flaky");
  const auto step = labels("alpha", "steps[0]", "filter", "filter");
  const std::string m = "switchboard_messages_total";

  CHECK(scrape(m, from + ",outcome=\"delivered\"") == "1");
  CHECK(scrape(m, from + ",outcome=\"filtered\"") == "1");
  CHECK(scrape(m, from + ",outcome=\"dead_lettered\"") == "2");
  CHECK(scrape(m, from + ",outcome=\"failed\"") == "0");
  CHECK(scrape(m, from + ",outcome=\"rejected\"") == "0");
  CHECK(scrape(m, billing + ",outcome=\"ok\"") == "2");
  CHECK(scrape(m, billing + ",outcome=\"failed\"") == "0");
  CHECK(scrape(m, audit + ",outcome=\"ok\"") == "1");
  CHECK(scrape(m, audit + ",outcome=\"failed\"") == "1");
  CHECK(scrape(m, dead + ",outcome=\"ok\"") == "2");
  CHECK(scrape(m, dead + ",outcome=\"failed\"") == "0");
  CHECK(scrape(m, step + ",outcome=\"ok\"") == "absent");  // a step sends nothing

  const auto beta_from = labels("beta", "from", "driven", "driven");
  const auto down = labels("beta", "to[0]", "down", "flaky");
  CHECK(scrape(m, beta_from + ",outcome=\"failed\"") == "2");
  CHECK(scrape(m, beta_from + ",outcome=\"delivered\"") == "0");
  CHECK(scrape(m, down + ",outcome=\"failed\"") == "2");
  CHECK(scrape(m, down + ",outcome=\"ok\"") == "0");
  // alpha: 5 at the inbound, 2 at each of its three sending endpoints; beta: 5 + 2.
  CHECK(scrape.count(m) == 5 + 3 * 2 + 5 + 2);
}

TEST_CASE("metrics: errors by kind, retries and dead letters where they happened", "[admin]") {
  Traffic traffic;
  const Scrape scrape(prometheusText(*traffic.bus));
  const auto from = labels("alpha", "from", "driven", "driven");
  const auto step = labels("alpha", "steps[0]", "filter", "filter");
  const auto billing = labels("alpha", "to[0]", kBilling, "flaky");
  const auto audit = labels("alpha", "to[1]", "audit", "explode");
  const auto dead = labels("alpha", "dead_letter", "flaky", "flaky");
  const auto down = labels("beta", "to[0]", "down", "flaky");

  auto errors = [&](const std::string& endpoint) {
    std::map<std::string, std::string> by_kind;
    for (const char* kind : {"bad_input", "transient", "permanent", "timeout"}) {
      by_kind[kind] = scrape("switchboard_errors_total", endpoint + ",kind=\"" + kind + "\"");
    }
    return by_kind;
  };
  using Kinds = std::map<std::string, std::string>;
  CHECK(errors(from) == Kinds{{"bad_input", "0"}, {"transient", "0"}, {"permanent", "0"}, {"timeout", "0"}});
  CHECK(errors(step) == Kinds{{"bad_input", "1"}, {"transient", "0"}, {"permanent", "0"}, {"timeout", "0"}});
  CHECK(errors(billing) == Kinds{{"bad_input", "0"}, {"transient", "2"}, {"permanent", "0"}, {"timeout", "0"}});
  CHECK(errors(audit) == Kinds{{"bad_input", "0"}, {"transient", "0"}, {"permanent", "1"}, {"timeout", "0"}});
  CHECK(errors(dead) == Kinds{{"bad_input", "0"}, {"transient", "0"}, {"permanent", "0"}, {"timeout", "0"}});
  CHECK(errors(down) == Kinds{{"bad_input", "0"}, {"transient", "2"}, {"permanent", "0"}, {"timeout", "0"}});

  // Retries: outbound endpoints only.
  CHECK(scrape("switchboard_retries_total", billing) == "2");
  CHECK(scrape("switchboard_retries_total", audit) == "0");
  CHECK(scrape("switchboard_retries_total", down) == "0");  // one attempt per message
  CHECK(scrape("switchboard_retries_total", from) == "absent");
  CHECK(scrape("switchboard_retries_total", dead) == "absent");
  CHECK(scrape.count("switchboard_retries_total") == 3);

  // Dead letters: where the message failed; not at the dead letter endpoint itself.
  CHECK(scrape("switchboard_dead_letters_total", step) == "1");
  CHECK(scrape("switchboard_dead_letters_total", audit) == "1");
  CHECK(scrape("switchboard_dead_letters_total", billing) == "0");
  CHECK(scrape("switchboard_dead_letters_total", from) == "0");
  CHECK(scrape("switchboard_dead_letters_total", down) == "0");
  CHECK(scrape("switchboard_dead_letters_total", dead) == "absent");
}

TEST_CASE("metrics: duration histograms are cumulative and end with +Inf equal to the count", "[admin]") {
  Traffic traffic;
  const Scrape scrape(prometheusText(*traffic.bus));
  // The inbound times each message once; billing each of its 4 attempts (2 per message).
  checkHistogram(scrape, labels("alpha", "from", "driven", "driven"), 4);
  checkHistogram(scrape, labels("alpha", "to[0]", kBilling, "flaky"), 4);
  checkHistogram(scrape, labels("beta", "from", "driven", "driven"), 2);
  checkHistogram(scrape, labels("beta", "to[0]", "down", "flaky"), 2);
  // Steps and the dead letter endpoint are not timed.
  CHECK(scrape("switchboard_duration_seconds_count", labels("alpha", "steps[0]", "filter", "filter")) == "absent");
  CHECK(scrape("switchboard_duration_seconds_count", labels("alpha", "dead_letter", "flaky", "flaky")) == "absent");
  // alpha: from, to[0], to[1]; beta: from, to[0]. Each 16 buckets.
  CHECK(scrape.count("switchboard_duration_seconds_bucket") == 5 * 16);
  CHECK(scrape.count("switchboard_duration_seconds_count") == 5);
}

TEST_CASE("metrics: label values escape quotes, backslashes and newlines", "[admin]") {
  Traffic traffic;
  const auto text = prometheusText(*traffic.bus);
  CHECK_THAT(text, Catch::Contains(R"(name="billing \"eu\" \\ main\nsecond line")"));
  CHECK_THAT(text, !Catch::Contains("main\nsecond"));  // no raw newline inside a sample
  const Scrape scrape(text);
  CHECK(scrape.problems.empty());
}

TEST_CASE("metrics: gauges of queue, flight, circuit and running state", "[admin]") {
  Traffic traffic;
  const Scrape before(traffic.before);
  const Scrape after(prometheusText(*traffic.bus));
  const auto down = labels("beta", "to[0]", "down", "flaky");
  CHECK(before("switchboard_circuit_state", down) == "0");
  CHECK(after("switchboard_circuit_state", down) == "2");
  CHECK(after.count("switchboard_circuit_state") == 1);  // only the endpoint with a breaker
  for (const char* route : {"alpha", "beta"}) {
    const std::string label = std::string("route=\"") + route + "\"";
    CHECK(after("switchboard_inflight", label) == "0");
    CHECK(after("switchboard_queue_depth", label) == "0");
    CHECK(after("switchboard_route_running", label) == "1");
  }
  // Before any message every counter is zero.
  const auto from = labels("alpha", "from", "driven", "driven");
  CHECK(before("switchboard_messages_total", from + ",outcome=\"delivered\"") == "0");
  checkHistogram(before, from, 0);
}

TEST_CASE("routes: each route's state, counters and endpoints", "[admin]") {
  Traffic traffic;
  const auto document = nlohmann::json::parse(routesJson(*traffic.bus));
  REQUIRE(document.is_array());
  REQUIRE(document.size() == 2);
  const auto& alpha = document[0];
  CHECK(alpha["id"] == "alpha");
  CHECK(alpha["state"] == "running");
  CHECK(alpha["banner"] == "route alpha: driven alpha -> 2 outbound");
  CHECK(alpha["counters"] == nlohmann::json{{"delivered", 1},
                                            {"filtered", 1},
                                            {"dead_lettered", 2},
                                            {"failed", 0},
                                            {"rejected", 0},
                                            {"inflight", 0},
                                            {"queued", 0}});
  const auto& endpoints = alpha["endpoints"];
  REQUIRE(endpoints.size() == 5);
  std::vector<std::string> places, roles;
  for (const auto& e : endpoints) {
    places.push_back(e["endpoint"]);
    roles.push_back(e["role"]);
  }
  CHECK(places == std::vector<std::string>{"from", "steps[0]", "to[0]", "to[1]", "dead_letter"});
  CHECK(roles == std::vector<std::string>{"inbound", "step", "outbound", "outbound", "dead_letter"});

  const auto& billing = endpoints[2];
  CHECK(billing["name"] == "billing \"eu\" \\ main\nsecond line");  // JSON keeps the name as it is
  CHECK(billing["adapter"] == "flaky");
  CHECK(billing["ok"] == 2);
  CHECK(billing["failed"] == 0);
  CHECK(billing["retries"] == 2);
  CHECK(billing["dead_letters"] == 0);
  CHECK(billing["errors"] == nlohmann::json{{"bad_input", 0}, {"transient", 2}, {"permanent", 0}, {"timeout", 0}});
  CHECK_FALSE(billing.contains("circuit"));

  const auto& step = endpoints[1];
  CHECK(step["errors"]["bad_input"] == 1);
  CHECK(step["dead_letters"] == 1);
  CHECK_FALSE(step.contains("ok"));  // sends nothing
  CHECK_FALSE(step.contains("retries"));

  const auto& dead = endpoints[4];
  CHECK(dead["ok"] == 2);
  CHECK_FALSE(dead.contains("retries"));
  CHECK_FALSE(dead.contains("dead_letters"));

  const auto& beta = document[1];
  CHECK(beta["id"] == "beta");
  CHECK(beta["counters"]["failed"] == 2);
  REQUIRE(beta["endpoints"].size() == 2);
  CHECK(beta["endpoints"][1]["circuit"] == "open");
  CHECK(beta["endpoints"][1]["failed"] == 2);
}

TEST_CASE("an operator stops and starts one route; the bus is ready while every route runs", "[admin][control]") {
  auto bus = makeBus(R"(
routes:
  - id: one
    from: { driven: { key: one } }
    to: [ { flaky: { fail_times: 0 } } ]
  - id: two
    from: { driven: { key: two } }
    to: [ { flaky: { fail_times: 0 } } ]
)");
  CHECK_FALSE(bus->ready());  // not started
  bus->start();
  CHECK(bus->ready());

  std::string error;
  CHECK(bus->stopRoute("three") == Bus::Control::NotFound);
  CHECK(bus->startRoute("three", error) == Bus::Control::NotFound);
  CHECK(bus->startRoute("one", error) == Bus::Control::Unchanged);  // already running

  Intake* one = intakeOf("one");
  REQUIRE(one != nullptr);
  CHECK(bus->stopRoute("one") == Bus::Control::Done);
  CHECK(intakeOf("one") == nullptr);  // its inbound was stopped
  CHECK(one->offer(one->newMessage(), [](Outcome) {}) == Intake::Admission::Closed);
  CHECK_FALSE(bus->ready());
  CHECK(bus->stopRoute("one") == Bus::Control::Unchanged);
  {
    const Scrape scrape(prometheusText(*bus));
    CHECK(scrape("switchboard_route_running", "route=\"one\"") == "0");
    CHECK(scrape("switchboard_route_running", "route=\"two\"") == "1");
    const auto routes = nlohmann::json::parse(routesJson(*bus));
    CHECK(routes[0]["state"] == "stopped");
    CHECK(routes[1]["state"] == "running");
  }
  CHECK(send("two", "{}").kind == Outcome::Kind::Delivered);  // the other route goes on

  CHECK(bus->startRoute("one", error) == Bus::Control::Done);
  CHECK(bus->ready());
  CHECK(send("one", "{}").kind == Outcome::Kind::Delivered);
  CHECK(bus->startRoute("one", error) == Bus::Control::Unchanged);

  SECTION("an inbound that cannot start again fails the start and leaves the route stopped") {
    CHECK(bus->stopRoute("two") == Bus::Control::Done);
    {
      std::lock_guard lock(intakes().mutex);
      intakes().refused.insert("two");
    }
    error.clear();
    CHECK(bus->startRoute("two", error) == Bus::Control::Failed);
    CHECK(error == "driven two refuses to start");
    CHECK_FALSE(bus->ready());
    CHECK(Scrape(prometheusText(*bus))("switchboard_route_running", "route=\"two\"") == "0");
    {
      std::lock_guard lock(intakes().mutex);
      intakes().refused.erase("two");
    }
    CHECK(bus->startRoute("two", error) == Bus::Control::Done);
    CHECK(bus->ready());
    CHECK(send("two", "{}").kind == Outcome::Kind::Delivered);
  }
  settle(*bus);
  CHECK(bus->stop(5s) == 0);
  CHECK_FALSE(bus->ready());
}

TEST_CASE("metrics of a bus without routes: the families and nothing else", "[admin]") {
  Diagnostics diagnostics;
  auto bus = Bus::create({}, registry(), diagnostics);
  REQUIRE(bus);
  const Scrape scrape(prometheusText(*bus));
  // Plugin counters are process-wide (other tests in this process register some): only the
  // bus's own families must have no samples.
  for (const auto& [sample, value] : scrape.samples) CHECK(sample.rfind("switchboard_", 0) != 0);
  CHECK(scrape.problems.empty());
  for (const auto& [family, type] : kFamilies) CHECK(scrape.type.count(family) == 1);
  CHECK(scrape.help.size() == scrape.type.size());
  CHECK(routesJson(*bus) == "[]\n");
}
