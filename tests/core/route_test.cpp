// The runtime of one route: order of steps and endpoints, guards, retries without holding a
// worker, dead letters, failures that stay inside one message, backpressure and replies.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "runtime/circuit_breaker.hpp"
#include "runtime/route.hpp"

using namespace switchboard;
using namespace switchboard::core;
using namespace std::chrono_literals;

namespace {

/// Shared state of the test components, reachable from their factories.
struct World {
  std::mutex mutex;
  std::vector<std::pair<std::string, Message>> sent;  // endpoint name, message as received
  std::map<std::string, int> failures_left;           // per endpoint name: transient failures to give
  std::map<std::string, int> calls;
  std::promise<void> release;  // opens the "gate" endpoint
  std::shared_future<void> gate = release.get_future().share();
  Intake* intake = nullptr;
};

World* world = nullptr;

class TestInbound final : public InboundAdapter {
 public:
  void start(Intake& intake) override { world->intake = &intake; }
  void stop() override {}
  std::string describe() const override { return "test"; }
};

class Recorder final : public OutboundAdapter {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  Status send(Message& message) override {
    std::lock_guard lock(world->mutex);
    ++world->calls[name_];
    if (world->failures_left[name_] > 0) {
      --world->failures_left[name_];
      return Status::transient(name_ + " is down");
    }
    if (message.body() == "refused" && name_ != "dead") {
      return Status::permanent(name_ + " refused it").withDetail("peer.reason", "refused");
    }
    world->sent.emplace_back(name_, message);
    message.headers().set("visited",
                          message.headers().find("visited") ? *message.headers().find("visited") + "," + name_ : name_);
    return Status::ok();
  }
  std::string describe() const override { return name_; }

 private:
  std::string name_;
};

class Gate final : public OutboundAdapter {
 public:
  Status send(Message&) override {
    world->gate.wait();
    return Status::ok();
  }
  std::string describe() const override { return "gate"; }
};

/// Finishes each send later, from a thread of its own, and records how many overlap.
class Deferred final : public OutboundAdapter {
 public:
  ~Deferred() override {
    for (auto& t : threads_) t.join();
  }
  bool sendAsync(Message& message, Done done) override {
    {
      std::lock_guard counting(world->mutex);
      const int now = ++world->calls["deferred-in-flight"];
      world->calls["deferred-peak"] = std::max(world->calls["deferred-peak"], now);
    }
    std::lock_guard lock(mutex_);
    threads_.emplace_back([&message, done = std::move(done)] {
      std::this_thread::sleep_for(20ms);
      message.headers().set("deferred", "yes");
      {
        std::lock_guard inner(world->mutex);
        --world->calls["deferred-in-flight"];
      }
      done(Status::ok());
    });
    return true;
  }
  Status send(Message&) override { return Status::permanent("only asynchronous"); }
  bool blocks() const override { return false; }
  std::string describe() const override { return "deferred"; }

 private:
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

class EventInbound final : public InboundAdapter {
 public:
  void start(Intake& intake) override { world->intake = &intake; }
  void stop() override {}
  std::string describe() const override { return "event"; }
  bool eventDriven() const override { return true; }
};

class Thrower final : public Transform {
 public:
  Status apply(Message& message) override {
    if (message.body() == "throw") throw std::runtime_error("transform exploded");
    message.headers().set("transformed", "yes");
    return Status::ok();
  }
};

class Dropper final : public Transform {
 public:
  Status apply(Message& message) override { return message.body() == "drop" ? Status::drop() : Status::ok(); }
};

/// Splits "a,b,c" into one child per item; "!" cannot be split.
class CommaSplitter final : public Splitter {
 public:
  std::vector<Message> split(const Message& message) override {
    if (message.body() == "!") throw MessageError("nothing to split in '!'");
    std::vector<Message> children;
    std::string_view rest = message.body();
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      Message child(newUuid());
      child.headers().set("split.parent", message.id());
      child.setBody(std::string(rest.substr(0, comma)), "text/plain");
      children.push_back(std::move(child));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return children;
  }
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->addInbound(ComponentSpec{"test", "", {}}, [](const Options&) { return std::make_unique<TestInbound>(); });
    reg->addOutbound(ComponentSpec{"record", "", {{"name", OptionType::String, true, "", ""}}},
                     [](const Options& o) { return std::make_unique<Recorder>(o.string("name")); });
    reg->addOutbound(ComponentSpec{"gate", "", {}}, [](const Options&) { return std::make_unique<Gate>(); });
    reg->addOutbound(ComponentSpec{"deferred", "", {}}, [](const Options&) { return std::make_unique<Deferred>(); });
    reg->addInbound(ComponentSpec{"event", "", {}}, [](const Options&) { return std::make_unique<EventInbound>(); });
    reg->addTransform(ComponentSpec{"thrower", "", {}}, [](const Options&) { return std::make_unique<Thrower>(); });
    reg->addTransform(ComponentSpec{"dropper", "", {}}, [](const Options&) { return std::make_unique<Dropper>(); });
    reg->addTransform(ComponentSpec{"splitter", "", {}},
                      [](const Options&) { return std::make_unique<CommaSplitter>(); });
    return reg;
  }();
  return *r;
}

EndpointConfig endpoint(EndpointRole role, std::string component, nlohmann::json options = nlohmann::json::object()) {
  EndpointConfig e;
  e.role = role;
  e.component = component;
  e.label = component == "record" ? options["name"].get<std::string>() : component;
  e.options = std::move(options);
  return e;
}

EndpointConfig recorder(const std::string& name) {
  return endpoint(EndpointRole::Outbound, "record", {{"name", name}});
}

RouteConfig baseRoute() {
  RouteConfig config;
  config.id = "test-route";
  config.from = endpoint(EndpointRole::Inbound, "test");
  config.concurrency = 2;
  config.queue = 16;
  return config;
}

/// Runs one route for a test and collects outcomes.
struct Harness {
  World state;
  Scheduler scheduler;
  std::unique_ptr<Route> route;
  std::mutex mutex;
  std::condition_variable done;
  std::vector<Outcome> outcomes;

  explicit Harness(const RouteConfig& config) {
    world = &state;
    Diagnostics diagnostics;
    route = Route::create(config, registry(), scheduler, diagnostics);
    REQUIRE(diagnostics.empty());
    REQUIRE(route);
    route->start();
    REQUIRE(state.intake != nullptr);
  }
  ~Harness() {
    state.release.set_value();
    route->stopIntake();
    route->drain(Scheduler::Clock::now() + 5s);
    route->stopWorkers();
    world = nullptr;
  }
  Intake::Completion collector() {
    return [this](Outcome outcome) {
      std::lock_guard lock(mutex);
      outcomes.push_back(std::move(outcome));
      done.notify_all();
    };
  }
  Message message(std::string body) {
    Message m = state.intake->newMessage();
    m.setBody(std::move(body), "text/plain");
    return m;
  }
  /// As a request-reply inbound hands a message over (its caller waits for the reply).
  void send(std::string body) {
    REQUIRE(state.intake->offer(message(std::move(body)), collector()) == Intake::Admission::Accepted);
  }
  /// As a poller hands a message over.
  void poll(std::string body) { REQUIRE(state.intake->deliver(message(std::move(body)), collector())); }
  std::vector<Outcome> waitFor(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    REQUIRE(done.wait_for(lock, timeout, [&] { return outcomes.size() >= count; }));
    return outcomes;
  }
};

}  // namespace

TEST_CASE("steps then endpoints run in order, and guards skip endpoints", "[route]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "thrower"));
  config.to = {recorder("a"), recorder("b"), recorder("c")};
  config.to[1].guard = Expression::compile("${body} == 'to-b'", Scope{config.id});
  Harness h(config);
  h.send("to-b");
  h.send("skip-b");
  const auto outcomes = h.waitFor(2);
  for (const auto& outcome : outcomes) CHECK(outcome.kind == Outcome::Kind::Delivered);
  std::lock_guard lock(h.state.mutex);
  std::map<std::string, std::vector<std::string>> visits;
  for (const auto& [name, message] : h.state.sent) {
    visits[message.body()].push_back(name);
    CHECK(*message.headers().find("transformed") == "yes");
  }
  CHECK(visits["to-b"] == std::vector<std::string>{"a", "b", "c"});
  CHECK(visits["skip-b"] == std::vector<std::string>{"a", "c"});
}

TEST_CASE("a transient failure is retried without holding a worker", "[route]") {
  auto config = baseRoute();
  config.concurrency = 1;
  config.to = {recorder("slow-peer")};
  config.retry = RetryPolicy{3, 1s, 1.0, 1s};
  Harness h(config);
  h.state.failures_left["slow-peer"] = 1;
  h.send("first");
  // Once "first" has failed, it waits a second for its next attempt; meanwhile the only
  // worker serves "second", so "second" finishes first.
  for (int i = 0; i < 500 &&
                  [&] {
                    std::lock_guard lock(h.state.mutex);
                    return h.state.calls["slow-peer"] == 0;
                  }();
       ++i) {
    std::this_thread::sleep_for(1ms);
  }
  h.send("second");
  auto outcomes = h.waitFor(2, 10s);
  CHECK(outcomes[0].kind == Outcome::Kind::Delivered);
  CHECK(outcomes[1].kind == Outcome::Kind::Delivered);
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.calls["slow-peer"] == 3);  // first: 2 attempts (1 failed), second: 1
  REQUIRE(h.state.sent.size() == 2);
  CHECK(h.state.sent[0].second.body() == "second");
  CHECK(h.state.sent[1].second.body() == "first");
}

TEST_CASE("after the last attempt the original message goes to the dead letter endpoint", "[route]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "thrower"));
  config.to = {recorder("ok"), recorder("down")};
  config.retry = RetryPolicy{2, 10ms, 2.0, 1s};
  config.dead_letter = recorder("dead");
  Harness h(config);
  h.state.failures_left["down"] = 100;
  h.send("payload");
  const auto outcomes = h.waitFor(1);
  CHECK(outcomes[0].kind == Outcome::Kind::DeadLettered);
  CHECK(outcomes[0].acknowledge());
  CHECK(outcomes[0].status.code() == Status::Code::Transient);
  std::lock_guard lock(h.state.mutex);
  REQUIRE(h.state.sent.size() == 2);
  const auto& [name, letter] = h.state.sent[1];
  CHECK(name == "dead");
  CHECK(letter.body() == "payload");
  CHECK_FALSE(letter.headers().contains("transformed"));  // the original, as it entered
  CHECK(*letter.headers().find("error.endpoint") == "down");
  CHECK(*letter.headers().find("error.attempts") == "2");
  CHECK(*letter.headers().find("error.route") == "test-route");
  CHECK(*letter.headers().find("error.message") == "down is down");
}

TEST_CASE("without a dead letter endpoint a failed message is not acknowledged", "[route]") {
  auto config = baseRoute();
  config.to = {recorder("down")};
  Harness h(config);
  h.state.failures_left["down"] = 1;
  h.send("x");
  const auto outcomes = h.waitFor(1);
  CHECK(outcomes[0].kind == Outcome::Kind::Failed);
  CHECK_FALSE(outcomes[0].acknowledge());
}

TEST_CASE("an exception in a step fails that message only", "[route]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "thrower"));
  config.to = {recorder("out")};
  Harness h(config);
  h.send("throw");
  h.send("fine");
  const auto outcomes = h.waitFor(2);
  int failed = 0, delivered = 0;
  for (const auto& outcome : outcomes) {
    if (outcome.kind == Outcome::Kind::Failed) {
      ++failed;
      CHECK(outcome.status.message().find("transform exploded") != std::string::npos);
      CHECK(outcome.status.code() == Status::Code::Permanent);
    }
    if (outcome.kind == Outcome::Kind::Delivered) ++delivered;
  }
  CHECK(failed == 1);
  CHECK(delivered == 1);
}

TEST_CASE("a dropped message is done and reaches no endpoint", "[route]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "dropper"));
  config.to = {recorder("out")};
  Harness h(config);
  h.send("drop");
  const auto outcomes = h.waitFor(1);
  CHECK(outcomes[0].kind == Outcome::Kind::Filtered);
  CHECK(outcomes[0].acknowledge());
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.sent.empty());
}

TEST_CASE("a full intake refuses offers and admits again once there is room", "[route]") {
  auto config = baseRoute();
  config.concurrency = 1;
  config.queue = 2;
  config.to = {endpoint(EndpointRole::Outbound, "gate")};
  Harness h(config);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) {
    if (h.state.intake->offer(h.message("m"), h.collector()) == Intake::Admission::Accepted) ++accepted;
  }
  CHECK(accepted == 3);  // queue + concurrency
  h.state.release.set_value();
  h.waitFor(3);
  CHECK(h.state.intake->offer(h.message("m"), h.collector()) == Intake::Admission::Accepted);
  h.waitFor(4);
  h.state.release = std::promise<void>();  // the destructor opens the gate again
}

TEST_CASE("the reply is the message after the chosen endpoint", "[route]") {
  auto config = baseRoute();
  config.to = {recorder("first"), recorder("second")};
  SECTION("last") {
    config.reply = kReplyLast;
    Harness h(config);
    h.send("x");
    const auto outcomes = h.waitFor(1);
    REQUIRE(outcomes[0].reply);
    CHECK(*outcomes[0].reply->headers().find("visited") == "first,second");
  }
  SECTION("index") {
    config.reply = 0;
    Harness h(config);
    h.send("x");
    const auto outcomes = h.waitFor(1);
    REQUIRE(outcomes[0].reply);
    CHECK(*outcomes[0].reply->headers().find("visited") == "first");
  }
  SECTION("none") {
    config.reply = kReplyNone;
    Harness h(config);
    h.send("x");
    CHECK_FALSE(h.waitFor(1)[0].reply);
  }
}

TEST_CASE("a message past the route timeout is not retried further", "[route]") {
  auto config = baseRoute();
  config.to = {recorder("down")};
  config.timeout = 150ms;
  config.retry = RetryPolicy{100, 100ms, 1.0, 100ms};
  Harness h(config);
  h.state.failures_left["down"] = 1000;
  h.send("x");
  const auto outcomes = h.waitFor(1, 3s);
  CHECK(outcomes[0].kind == Outcome::Kind::Failed);
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.calls["down"] <= 2);
}

TEST_CASE("stopping the intake closes it to new messages", "[route]") {
  auto config = baseRoute();
  config.to = {recorder("out")};
  Harness h(config);
  h.route->stopIntake();
  CHECK(h.state.intake->offer(h.message("late"), h.collector()) == Intake::Admission::Closed);
  CHECK_FALSE(h.state.intake->deliver(h.message("late"), h.collector()));
  CHECK_FALSE(h.state.intake->waitForRoom());
}

TEST_CASE("asynchronous sends finish the message, and concurrency bounds how many overlap", "[route]") {
  auto config = baseRoute();
  config.from = endpoint(EndpointRole::Inbound, GENERATE(std::string("test"), std::string("event")));
  config.concurrency = 2;
  config.queue = 64;
  config.to = {endpoint(EndpointRole::Outbound, "deferred"), recorder("after")};
  config.reply = kReplyLast;
  Harness h(config);
  for (int i = 0; i < 10; ++i) h.send("m" + std::to_string(i));
  const auto outcomes = h.waitFor(10);
  for (const auto& outcome : outcomes) {
    CHECK(outcome.kind == Outcome::Kind::Delivered);
    REQUIRE(outcome.reply);
    CHECK(*outcome.reply->headers().find("deferred") == "yes");
  }
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.calls["deferred-peak"] <= 2);
  CHECK(h.state.calls["deferred-peak"] >= 1);
  CHECK(h.state.sent.size() == 10);
}

TEST_CASE("a split runs the rest of the route once per child, in order, and the parent ends with them",
          "[route][split]") {
  auto config = baseRoute();
  config.from = endpoint(EndpointRole::Inbound, GENERATE(std::string("test"), std::string("event")));
  config.steps.push_back(endpoint(EndpointRole::Step, "splitter"));
  config.steps.push_back(endpoint(EndpointRole::Step, "thrower"));
  // The deferred endpoint finishes each child later, on a thread of its own.
  config.to = {endpoint(EndpointRole::Outbound, "deferred"), recorder("out")};
  Harness h(config);
  auto parent = h.message("a,b,c");
  const auto parent_id = parent.id();
  REQUIRE(h.state.intake->offer(std::move(parent), h.collector()) == Intake::Admission::Accepted);
  const auto outcomes = h.waitFor(1);
  CHECK(outcomes[0].kind == Outcome::Kind::Delivered);
  std::lock_guard lock(h.state.mutex);
  REQUIRE(h.state.sent.size() == 3);  // every child was delivered before the parent finished
  std::vector<std::string> bodies;
  for (const auto& [name, child] : h.state.sent) {
    bodies.push_back(child.body());
    CHECK(*child.headers().find("transformed") == "yes");
    CHECK(*child.headers().find("deferred") == "yes");
    CHECK(*child.headers().find("split.parent") == parent_id);
  }
  CHECK(bodies == std::vector<std::string>{"a", "b", "c"});
  CHECK(h.state.calls["deferred-peak"] == 1);  // one child after another
}

TEST_CASE("a failed child fails the parent, after the other children ran", "[route][split]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "splitter"));
  config.to = {recorder("out")};
  const bool dead_letter = GENERATE(false, true);
  if (dead_letter) config.dead_letter = recorder("dead");
  Harness h(config);
  h.send("a,refused,c");
  const auto outcomes = h.waitFor(1);
  // Without a dead letter endpoint the parent stays unacknowledged: its inbound delivers it
  // again, children and all (at-least-once). With one, the failed child is there and the
  // parent is done.
  CHECK(outcomes[0].kind == (dead_letter ? Outcome::Kind::DeadLettered : Outcome::Kind::Failed));
  CHECK(outcomes[0].status.code() == Status::Code::Permanent);
  CHECK(outcomes[0].status.message() == "1 of 3 split messages failed; the first: out refused it");
  std::lock_guard lock(h.state.mutex);
  std::vector<std::string> seen;
  for (const auto& [name, child] : h.state.sent) seen.push_back(name + ":" + child.body());
  if (dead_letter) {
    CHECK(seen == std::vector<std::string>{"out:a", "dead:refused", "out:c"});
    // What the failing endpoint said beside its text travels with the dead letter.
    CHECK(*h.state.sent[1].second.headers().find("peer.reason") == "refused");
  } else {
    CHECK(seen == std::vector<std::string>{"out:a", "out:c"});
  }
}

TEST_CASE("a split into nothing is done; a message that cannot be split is bad input", "[route][split]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "splitter"));
  config.to = {recorder("out")};
  Harness h(config);
  h.send("");
  h.send("!");
  const auto outcomes = h.waitFor(2);
  std::map<Outcome::Kind, std::string> by_kind;
  for (const auto& outcome : outcomes) by_kind[outcome.kind] = outcome.status.message();
  CHECK(by_kind.count(Outcome::Kind::Filtered) == 1);
  REQUIRE(by_kind.count(Outcome::Kind::Failed) == 1);
  CHECK(by_kind[Outcome::Kind::Failed] == "nothing to split in '!'");
  CHECK(h.state.sent.empty());
}

TEST_CASE("a split into many children keeps a flat stack and frees its slot once", "[route][split]") {
  auto config = baseRoute();
  config.steps.push_back(endpoint(EndpointRole::Step, "splitter"));
  config.to = {recorder("out")};
  Harness h(config);
  std::string body;
  for (int i = 0; i < 50'000; ++i) body += (i ? "," : "") + std::to_string(i);
  h.send(body);
  h.send("x,y");
  const auto outcomes = h.waitFor(2, 30s);
  for (const auto& outcome : outcomes) CHECK(outcome.kind == Outcome::Kind::Delivered);
  CHECK(h.route->drain(Scheduler::Clock::now() + 5s));  // every slot freed: nothing left in flight
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.sent.size() == 50'002);
}

TEST_CASE("a circuit breaker opens after failures in a row, then lets one probe through", "[route][breaker]") {
  using Clock = CircuitBreaker::Clock;
  CircuitBreaker breaker(CircuitBreakerPolicy{2, 100ms});
  const auto t0 = Clock::now();
  CHECK(breaker.allow(t0));
  CHECK_FALSE(breaker.record(true, t0));
  CHECK_FALSE(breaker.record(false, t0));  // a success in between starts the count again
  CHECK_FALSE(breaker.record(true, t0));
  CHECK(breaker.record(true, t0) == CircuitBreaker::State::Open);
  CHECK_FALSE(breaker.allow(t0 + 99ms));
  CHECK(breaker.allow(t0 + 100ms));        // the probe
  CHECK_FALSE(breaker.allow(t0 + 100ms));  // only one at a time
  CHECK(breaker.record(true, t0 + 150ms) == CircuitBreaker::State::Open);
  CHECK_FALSE(breaker.allow(t0 + 200ms));
  CHECK(breaker.allow(t0 + 250ms));
  CHECK(breaker.record(false, t0 + 260ms) == CircuitBreaker::State::Closed);
  CHECK(breaker.allow(t0 + 260ms));
}

TEST_CASE("an open circuit fails messages without calling the endpoint", "[route][breaker]") {
  auto config = baseRoute();
  config.concurrency = 1;
  config.to = {recorder("flaky")};
  config.to[0].circuit_breaker = CircuitBreakerPolicy{3, 300ms};
  Harness h(config);
  {
    std::lock_guard lock(h.state.mutex);
    h.state.failures_left["flaky"] = 100;
  }
  for (int i = 0; i < 5; ++i) h.send("m" + std::to_string(i));
  auto outcomes = h.waitFor(5);
  for (const auto& outcome : outcomes) CHECK(outcome.kind == Outcome::Kind::Failed);
  CHECK_THAT(outcomes[4].status.message(), Catch::Contains("circuit breaker open after 3 failures"));
  {
    std::lock_guard lock(h.state.mutex);
    CHECK(h.state.calls["flaky"] == 3);
    h.state.failures_left["flaky"] = 0;  // the peer is back
  }
  std::this_thread::sleep_for(350ms);
  h.send("probe");
  h.send("after");
  outcomes = h.waitFor(7);
  CHECK(outcomes[5].kind == Outcome::Kind::Delivered);
  CHECK(outcomes[6].kind == Outcome::Kind::Delivered);
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.calls["flaky"] == 5);
}

TEST_CASE("a refusal is an answer: it does not open the circuit", "[route][breaker]") {
  auto config = baseRoute();
  config.concurrency = 1;
  config.to = {recorder("strict")};
  config.to[0].circuit_breaker = CircuitBreakerPolicy{1, 10s};
  Harness h(config);
  h.send("refused");
  h.send("refused");
  h.send("fine");
  const auto outcomes = h.waitFor(3);
  CHECK(outcomes[0].status.code() == Status::Code::Permanent);
  CHECK(outcomes[2].kind == Outcome::Kind::Delivered);
  std::lock_guard lock(h.state.mutex);
  CHECK(h.state.calls["strict"] == 3);
}

TEST_CASE("an idempotent route skips an item that was done and endpoints that took it", "[route][idempotent]") {
  const auto store = std::filesystem::temp_directory_path() / ("sb-seen-" + newUuid() + ".db");
  auto config = baseRoute();
  config.concurrency = 1;
  config.to = {recorder("first"), recorder("second")};
  IdempotencyPolicy policy;
  policy.key = Template::compile("${body}", Scope{config.id});
  policy.store = store;
  config.idempotent = policy;
  {
    Harness h(config);
    {
      std::lock_guard lock(h.state.mutex);
      h.state.failures_left["second"] = 1;
    }
    h.send("item-1");  // first takes it, second fails: not acknowledged
    h.send("item-1");  // delivered again: first is skipped, second takes it
    h.poll("item-1");  // done: skipped as a whole
    h.send("item-2");
    const auto outcomes = h.waitFor(4);
    CHECK(outcomes[0].kind == Outcome::Kind::Failed);
    CHECK(outcomes[1].kind == Outcome::Kind::Delivered);
    CHECK(outcomes[2].kind == Outcome::Kind::Filtered);
    CHECK(outcomes[3].kind == Outcome::Kind::Delivered);
    std::lock_guard lock(h.state.mutex);
    CHECK(h.state.calls["first"] == 2);   // item-1 once, item-2 once
    CHECK(h.state.calls["second"] == 3);  // item-1 twice (one failure), item-2 once
  }
  {
    // The store outlives the process: a restarted route still knows item-1, and a caller
    // repeating it gets the reply the first request got.
    Harness h(config);
    h.poll("item-1");
    h.send("item-1");
    const auto outcomes = h.waitFor(2);
    CHECK(outcomes[0].kind == Outcome::Kind::Filtered);
    REQUIRE(outcomes[1].kind == Outcome::Kind::Delivered);
    REQUIRE(outcomes[1].reply);
    CHECK(outcomes[1].reply->body() == "item-1");
    CHECK(outcomes[1].reply->contentType() == "text/plain");
    std::lock_guard lock(h.state.mutex);
    CHECK(h.state.calls["first"] == 0);
    CHECK(h.state.calls["second"] == 0);
  }
  std::filesystem::remove(store);
  std::filesystem::remove(store.string() + "-wal");
  std::filesystem::remove(store.string() + "-shm");
}

TEST_CASE("an idempotent route runs one message per item at a time, and replays the reply with its status",
          "[route][idempotent]") {
  const auto store = std::filesystem::temp_directory_path() / ("sb-seen-" + newUuid() + ".db");
  auto config = baseRoute();
  config.concurrency = 2;
  config.to = {endpoint(EndpointRole::Outbound, "gate")};
  IdempotencyPolicy policy;
  policy.key = Template::compile("${body}", Scope{config.id});
  policy.store = store;
  config.idempotent = policy;
  {
    Harness h(config);
    h.send("order-7");  // held at the gate
    h.send("order-7");  // the same item while the first is in progress
    auto outcomes = h.waitFor(1);
    CHECK(outcomes[0].kind == Outcome::Kind::Failed);
    CHECK(outcomes[0].status.code() == Status::Code::Transient);
    CHECK_THAT(outcomes[0].status.message(), Catch::Contains("'order-7' is in progress"));
    h.state.release.set_value();
    h.state.release = std::promise<void>();  // the destructor opens the gate again
    outcomes = h.waitFor(2);
    CHECK(outcomes[1].kind == Outcome::Kind::Delivered);
    h.send("order-7");  // done now: the first reply again
    outcomes = h.waitFor(3);
    REQUIRE(outcomes[2].kind == Outcome::Kind::Delivered);
    CHECK(outcomes[2].reply->body() == "order-7");
  }
  {
    // http.status is part of the answer a repeated request gets.
    SeenStore seen(store);
    Message reply("m-1");
    reply.headers().set("http.status", "201");
    reply.headers().set("other", "not kept");
    reply.setBody("{\"id\":7}", "application/json");
    seen.recordDone("orders", "order-8", reply);
    CHECK(seen.contains("orders", "order-8", SeenStore::kDone));
    const auto again = seen.reply("orders", "order-8", "m-2");
    REQUIRE(again);
    CHECK(again->id() == "m-2");
    CHECK(*again->headers().find("http.status") == "201");
    CHECK(again->headers().find("other") == nullptr);
    CHECK(again->body() == "{\"id\":7}");
    CHECK(again->contentType() == "application/json");
    CHECK_FALSE(seen.reply("orders", "order-9", "m-3"));
    seen.expire("orders", -1s);  // everything is older than a second from now
    CHECK_FALSE(seen.contains("orders", "order-8", SeenStore::kDone));
    CHECK_FALSE(seen.reply("orders", "order-8", "m-4"));
  }
  std::filesystem::remove(store);
  std::filesystem::remove(store.string() + "-wal");
  std::filesystem::remove(store.string() + "-shm");
}
