#include "testing/route_cases.hpp"

#include <future>
#include <mutex>
#include <set>

#include <yaml-cpp/yaml.h>

#include "runtime/metrics.hpp"
#include "runtime/route.hpp"
#include "util/suggest.hpp"

namespace switchboard::core {

namespace {

struct CaseError : std::runtime_error {
  CaseError(SourceLocation where, const std::string& message) : std::runtime_error(message), where(std::move(where)) {}
  SourceLocation where;
};

class CaseReader {
 public:
  explicit CaseReader(std::string file) : file_(std::move(file)) {}

  SourceLocation at(const YAML::Node& node, const std::string& path) const {
    const auto mark = node.Mark();
    return SourceLocation{file_, mark.line + 1, mark.column + 1, path};
  }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& path, const std::string& message) const {
    throw CaseError(at(node, path), message);
  }

  std::string scalar(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) fail(node, path, "expected a text value");
    return node.Scalar();
  }

  /// A body may be written as text, or as a map or list that stands for its JSON.
  std::string body(const YAML::Node& node, const std::string& path) const {
    if (node.IsScalar()) return node.Scalar();
    if (node.IsMap() || node.IsSequence()) return json(node, path).dump();
    fail(node, path, "expected the body as text, or as a map or list (sent as JSON)");
  }

  nlohmann::json json(const YAML::Node& node, const std::string& path) const {
    if (node.IsMap()) {
      auto object = nlohmann::json::object();
      for (const auto& entry : node) {
        const auto key = entry.first.Scalar();
        object[key] = json(entry.second, path + "." + key);
      }
      return object;
    }
    if (node.IsSequence()) {
      auto array = nlohmann::json::array();
      for (std::size_t i = 0; i < node.size(); ++i)
        array.push_back(json(node[i], path + "[" + std::to_string(i) + "]"));
      return array;
    }
    if (node.IsNull()) return nullptr;
    // Plain scalars take their YAML type; quoted ones stay text.
    const auto& text = node.Scalar();
    if (node.Tag() == "?") {
      if (text == "true" || text == "false") return text == "true";
      try {
        std::size_t used = 0;
        const long long integer = std::stoll(text, &used);
        if (used == text.size()) return integer;
        const double number = std::stod(text, &used);
        if (used == text.size()) return number;
      } catch (const std::exception&) {
      }
    }
    return text;
  }

  std::map<std::string, std::string> textMap(const YAML::Node& node, const std::string& path) const {
    if (!node.IsMap()) fail(node, path, "expected a map of names to values");
    std::map<std::string, std::string> values;
    for (const auto& entry : node) {
      const auto key = entry.first.Scalar();
      values[key] = scalar(entry.second, path + "." + key);
    }
    return values;
  }

  void onlyKeys(const YAML::Node& node, const std::string& path, const std::vector<std::string>& known) const {
    if (!node.IsMap()) fail(node, path, "expected a map");
    for (const auto& entry : node) {
      const auto key = entry.first.Scalar();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string message = "unknown key '" + key + "'";
      if (auto close = closestName(key, known)) message += "; did you mean '" + *close + "'?";
      throw CaseError(at(entry.first, path + "." + key), message);
    }
  }

  MessageExpectation expectation(const YAML::Node& node, const std::string& path) const {
    MessageExpectation expect;
    if (node["headers"]) expect.headers = textMap(node["headers"], path + ".headers");
    if (node["body"]) expect.body = body(node["body"], path + ".body");
    if (const auto contains = node["body_contains"]) {
      if (contains.IsSequence()) {
        for (std::size_t i = 0; i < contains.size(); ++i)
          expect.body_contains.push_back(scalar(contains[i], path + ".body_contains[" + std::to_string(i) + "]"));
      } else {
        expect.body_contains.push_back(scalar(contains, path + ".body_contains"));
      }
    }
    if (const auto json_body = node["body_json"]) {
      // Text is parsed as JSON; a map or list stands for itself.
      if (json_body.IsScalar()) {
        try {
          expect.body_json = nlohmann::json::parse(json_body.Scalar());
        } catch (const nlohmann::json::exception& e) {
          fail(json_body, path + ".body_json", std::string("not valid JSON: ") + e.what());
        }
      } else {
        expect.body_json = json(json_body, path + ".body_json");
      }
    }
    return expect;
  }

  int integer(const YAML::Node& node, const std::string& path) const {
    try {
      return node.as<int>();
    } catch (const YAML::Exception&) {
      fail(node, path, "expected a whole number");
    }
  }

  RouteCase readCase(const YAML::Node& node, const std::string& path) const {
    onlyKeys(node, path, {"name", "route", "input", "mock", "expect", "outcome", "reply"});
    RouteCase test;
    test.where = at(node, path);
    if (!node["name"]) fail(node, path, "a case needs a `name`");
    test.name = scalar(node["name"], path + ".name");
    if (!node["route"]) fail(node, path, "a case needs the `route` id it runs");
    test.route = scalar(node["route"], path + ".route");
    test.where.path = path + ".route";
    test.where = at(node["route"], path + ".route");
    if (const auto input = node["input"]) {
      onlyKeys(input, path + ".input", {"headers", "body"});
      if (input["headers"]) test.input_headers = textMap(input["headers"], path + ".input.headers");
      if (input["body"]) test.input_body = body(input["body"], path + ".input.body");
    }
    if (const auto mocks = node["mock"]) {
      if (!mocks.IsMap()) fail(mocks, path + ".mock", "expected a map of endpoints to answers");
      for (const auto& entry : mocks) {
        const auto key = entry.first.Scalar();
        const auto where = path + ".mock." + key;
        onlyKeys(entry.second, where, {"status", "headers", "body", "error"});
        MockAnswer answer;
        if (entry.second["status"]) answer.status = integer(entry.second["status"], where + ".status");
        if (entry.second["headers"]) answer.headers = textMap(entry.second["headers"], where + ".headers");
        if (entry.second["body"]) answer.body = body(entry.second["body"], where + ".body");
        if (entry.second["error"]) answer.error = scalar(entry.second["error"], where + ".error");
        test.mocks[key] = std::move(answer);
        mock_places_.emplace_back(key, at(entry.first, where));
      }
    }
    if (const auto expect = node["expect"]) {
      if (!expect.IsSequence()) fail(expect, path + ".expect", "expected a list of endpoint expectations");
      for (std::size_t i = 0; i < expect.size(); ++i) {
        const auto where = path + ".expect[" + std::to_string(i) + "]";
        const auto& item = expect[i];
        onlyKeys(item, where,
                 {"endpoint", "received", "message", "count", "headers", "body", "body_contains", "body_json"});
        if (!item["endpoint"])
          fail(item, where, "an expectation names its `endpoint` (an index into `to`, a name, or dead_letter)");
        EndpointExpectation expectation;
        expectation.endpoint = scalar(item["endpoint"], where + ".endpoint");
        expectation.where = at(item["endpoint"], where + ".endpoint");
        if (item["received"]) expectation.received = item["received"].as<bool>();
        if (item["message"])
          expectation.message = static_cast<std::size_t>(integer(item["message"], where + ".message"));
        if (item["count"]) expectation.count = static_cast<std::size_t>(integer(item["count"], where + ".count"));
        expectation.expect = this->expectation(item, where);
        test.expect.push_back(std::move(expectation));
      }
    }
    if (const auto outcome = node["outcome"]) {
      test.outcome = scalar(outcome, path + ".outcome");
      static const std::vector<std::string> kOutcomes{"delivered", "filtered", "dead_lettered", "failed"};
      if (std::find(kOutcomes.begin(), kOutcomes.end(), *test.outcome) == kOutcomes.end()) {
        fail(outcome, path + ".outcome", "expected delivered, filtered, dead_lettered or failed");
      }
    }
    if (const auto reply = node["reply"]) {
      onlyKeys(reply, path + ".reply", {"status", "headers", "body", "body_contains", "body_json"});
      test.reply = expectation(reply, path + ".reply");
      if (reply["status"]) test.reply->status = integer(reply["status"], path + ".reply.status");
    }
    return test;
  }

  /// The mock selectors of the last case read, with where each was written.
  std::vector<std::pair<std::string, SourceLocation>> takeMockPlaces() { return std::exchange(mock_places_, {}); }

 private:
  std::string file_;
  mutable std::vector<std::pair<std::string, SourceLocation>> mock_places_;
};

/// The places of the route's endpoints (to[0], ..., dead_letter) that `selector` names: its
/// place, its index in `to`, its `name:` or its adapter.
std::vector<std::string> placesSelected(const RouteConfig& route, const std::string& selector) {
  std::vector<std::string> places;
  auto consider = [&](const EndpointConfig& endpoint, const std::string& place, const std::string& index) {
    if (selector == place || selector == index || selector == endpoint.label || selector == endpoint.component) {
      places.push_back(place);
    }
  };
  for (std::size_t i = 0; i < route.to.size(); ++i) {
    consider(route.to[i], "to[" + std::to_string(i) + "]", std::to_string(i));
  }
  if (route.dead_letter) consider(*route.dead_letter, "dead_letter", "dead_letter");
  return places;
}

std::vector<std::string> selectorNames(const RouteConfig& route) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < route.to.size(); ++i) {
    names.push_back(std::to_string(i));
    names.push_back(route.to[i].label);
    names.push_back(route.to[i].component);
  }
  if (route.dead_letter) names.push_back("dead_letter");
  return names;
}

void checkSelector(const RouteConfig& route, const std::string& selector, const SourceLocation& where,
                   Diagnostics& diagnostics) {
  if (!placesSelected(route, selector).empty()) return;
  std::string message = "route '" + route.id + "' has no endpoint '" + selector + "'";
  if (auto close = closestName(selector, selectorNames(route))) message += "; did you mean '" + *close + "'?";
  diagnostics.error(where, message + " (name an index into `to`, an endpoint's name or adapter, or dead_letter)");
}

/// What each mocked endpoint received, by place.
class Recorder {
 public:
  void record(const std::string& place, const Message& message) {
    std::lock_guard lock(mutex_);
    received_[place].push_back(message);
  }
  std::vector<Message> received(const std::string& place) const {
    std::lock_guard lock(mutex_);
    auto it = received_.find(place);
    return it == received_.end() ? std::vector<Message>{} : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<Message>> received_;
};

class CaseInbound final : public InboundAdapter {
 public:
  void start(Intake&) override {}
  void stop() override {}
  std::string describe() const override { return "test case input"; }
};

class MockOutbound final : public OutboundAdapter {
 public:
  MockOutbound(Recorder& recorder, std::string place, std::optional<MockAnswer> answer)
      : recorder_(recorder), place_(std::move(place)), answer_(std::move(answer)) {}

  Status send(Message& message) override {
    recorder_.record(place_, message);
    if (!answer_) return Status::ok();
    if (answer_->error) return Status::transient(*answer_->error);
    if (answer_->status && *answer_->status >= 400) {
      const auto text = "mock answered " + std::to_string(*answer_->status);
      return *answer_->status >= 500 ? Status::transient(text) : Status::permanent(text);
    }
    for (const auto& [name, value] : answer_->headers) message.headers().set(name, value);
    if (answer_->status) message.headers().set("http.status", std::to_string(*answer_->status));
    if (answer_->body) {
      const auto type = answer_->headers.find("Content-Type");
      message.setBody(*answer_->body, type == answer_->headers.end() ? std::string() : type->second);
    }
    return Status::ok();
  }
  bool blocks() const override { return false; }
  std::string describe() const override { return "mock " + place_; }

 private:
  Recorder& recorder_;
  std::string place_;
  std::optional<MockAnswer> answer_;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) {
      result.push_back(text.substr(start));
      break;
    }
    result.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return result;
}

/// A line diff (longest common subsequence): "  " in both, "- " expected only, "+ " actual only.
std::string diff(const std::string& expected, const std::string& actual) {
  const auto a = lines(expected);
  const auto b = lines(actual);
  std::string out = "--- expected\n+++ actual\n";
  if (a.size() * b.size() > 250'000) {
    for (const auto& line : a) out += "- " + line + "\n";
    for (const auto& line : b) out += "+ " + line + "\n";
    return out;
  }
  std::vector<std::vector<std::size_t>> common(a.size() + 1, std::vector<std::size_t>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      common[i][j] = a[i] == b[j] ? common[i + 1][j + 1] + 1 : std::max(common[i + 1][j], common[i][j + 1]);
    }
  }
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "  " + a[i++] + "\n";
      ++j;
    } else if (i < a.size() && (j == b.size() || common[i + 1][j] >= common[i][j + 1])) {
      out += "- " + a[i++] + "\n";
    } else {
      out += "+ " + b[j++] + "\n";
    }
  }
  return out;
}

std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump();
}

/// `unset_status`: what a message without http.status stands for.
void compare(const Message& message, const MessageExpectation& expect, const std::string& what,
             std::vector<std::string>& failures, const char* unset_status = "200") {
  if (expect.status) {
    const auto* status = message.headers().find("http.status");
    const std::string actual = status ? *status : unset_status;
    if (actual != std::to_string(*expect.status)) {
      failures.push_back(what + " status: expected " + std::to_string(*expect.status) + ", got " + actual);
    }
  }
  for (const auto& [name, value] : expect.headers) {
    const auto* actual = message.headers().find(name);
    if (!actual) {
      failures.push_back(what + " header " + name + ": expected " + quoted(value) + ", but it is not set");
    } else if (*actual != value) {
      failures.push_back(what + " header " + name + ": expected " + quoted(value) + ", got " + quoted(*actual));
    }
  }
  if (expect.body && message.body() != *expect.body) {
    failures.push_back(what + " body differs:\n" + diff(*expect.body, message.body()));
  }
  for (const auto& part : expect.body_contains) {
    if (message.body().find(part) == std::string::npos) {
      failures.push_back(what + " body does not contain " + quoted(part) + "; the body is:\n" + message.body());
    }
  }
  if (expect.body_json) {
    nlohmann::json actual;
    try {
      actual = nlohmann::json::parse(message.body());
    } catch (const nlohmann::json::exception&) {
      failures.push_back(what + " body is not JSON:\n" + diff(expect.body_json->dump(2), message.body()));
      return;
    }
    if (actual != *expect.body_json) {
      failures.push_back(what + " body differs as JSON:\n" + diff(expect.body_json->dump(2), actual.dump(2)));
    }
  }
}

}  // namespace

std::vector<RouteCase> loadCases(const std::vector<std::filesystem::path>& files,
                                 const std::vector<RouteConfig>& routes, Diagnostics& diagnostics) {
  std::map<std::string, const RouteConfig*> by_id;
  std::vector<std::string> ids;
  for (const auto& route : routes) {
    by_id[route.id] = &route;
    ids.push_back(route.id);
  }
  std::vector<RouteCase> cases;
  for (const auto& file : files) {
    CaseReader reader(file.string());
    YAML::Node root;
    try {
      root = YAML::LoadFile(file.string());
    } catch (const YAML::ParserException& e) {
      diagnostics.error({file.string(), e.mark.line + 1, e.mark.column + 1, ""}, e.msg);
      continue;
    } catch (const YAML::BadFile&) {
      diagnostics.error({file.string(), 0, 0, ""}, "cannot read the case file");
      continue;
    }
    if (!root.IsMap() || !root["cases"] || !root["cases"].IsSequence()) {
      diagnostics.error(reader.at(root, ""), "a case file holds `cases:`, a list of cases");
      continue;
    }
    const auto list = root["cases"];
    for (std::size_t i = 0; i < list.size(); ++i) {
      try {
        auto test = reader.readCase(list[i], "cases[" + std::to_string(i) + "]");
        const auto mock_places = reader.takeMockPlaces();
        auto route = by_id.find(test.route);
        if (route == by_id.end()) {
          std::string message = "no route '" + test.route + "' in the route files";
          if (auto close = closestName(test.route, ids)) message += "; did you mean '" + *close + "'?";
          diagnostics.error(test.where, message);
          continue;
        }
        for (const auto& [selector, where] : mock_places) checkSelector(*route->second, selector, where, diagnostics);
        for (const auto& expectation : test.expect) {
          checkSelector(*route->second, expectation.endpoint, expectation.where, diagnostics);
        }
        cases.push_back(std::move(test));
      } catch (const CaseError& e) {
        reader.takeMockPlaces();
        diagnostics.error(e.where, e.what());
      } catch (const YAML::Exception& e) {
        reader.takeMockPlaces();
        diagnostics.error({file.string(), e.mark.line + 1, e.mark.column + 1, ""}, e.msg);
      }
    }
  }
  return cases;
}

CaseResult runCase(const RouteCase& test, const RouteConfig& route, const Registry& registry) {
  CaseResult result;
  // No waiting between attempts: a case runs the retries a failing mock causes at once.
  RouteConfig config = route;
  config.retry.delay = std::chrono::milliseconds(0);
  config.retry.max_delay = std::chrono::milliseconds(0);
  config.idempotent.reset();

  Recorder recorder;
  Route::Substitutes substitutes;
  substitutes.inbound = [] { return std::make_unique<CaseInbound>(); };
  substitutes.outbound = [&](const EndpointConfig&, const std::string& place) {
    std::optional<MockAnswer> answer;
    for (const auto& [selector, mock] : test.mocks) {
      const auto places = placesSelected(route, selector);
      if (std::find(places.begin(), places.end(), place) != places.end()) answer = mock;
    }
    return std::make_unique<MockOutbound>(recorder, place, answer);
  };
  Scheduler scheduler;
  Diagnostics diagnostics;
  auto running = Route::create(config, registry, scheduler, diagnostics, &substitutes);
  if (!running) {
    for (const auto& d : diagnostics.items()) result.failures.push_back("route cannot be built: " + d.message);
    return result;
  }
  running->start();
  Message message = running->newMessage();
  for (const auto& [name, value] : test.input_headers) {
    message.headers().set(name, value);
    if (name == "Content-Type" || name == "content-type") message.setContentType(value);
  }
  message.setBody(test.input_body);
  auto finished = std::make_shared<std::promise<Outcome>>();
  auto outcome_future = finished->get_future();
  running->deliver(std::move(message), [finished](Outcome outcome) { finished->set_value(std::move(outcome)); });
  const auto limit = config.timeout + std::chrono::seconds(5);
  if (outcome_future.wait_for(limit) != std::future_status::ready) {
    result.failures.push_back("the message did not finish within " +
                              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limit).count()) + "s");
    running->stopIntake();
    running.release();  // a worker still runs it
    return result;
  }
  Outcome outcome = outcome_future.get();
  running->stopIntake();
  running->drain(Scheduler::Clock::now() + std::chrono::seconds(1));
  running->stopWorkers();

  const std::string ended(outcomeName(outcome.kind));
  if (test.outcome && *test.outcome != ended) {
    std::string line = "outcome: expected " + *test.outcome + ", got " + ended;
    if (!outcome.status.isOk()) line += " (" + outcome.status.message() + ")";
    result.failures.push_back(line);
  }
  for (const auto& expectation : test.expect) {
    const auto places = placesSelected(route, expectation.endpoint);
    if (places.empty()) {
      result.failures.push_back("route '" + route.id + "' has no endpoint '" + expectation.endpoint + "'");
      continue;
    }
    const auto& place = places.front();
    const auto received = recorder.received(place);
    const bool by_place = expectation.endpoint == place || place == "to[" + expectation.endpoint + "]";
    const std::string what = place + (by_place ? "" : " (" + expectation.endpoint + ")");
    if (!expectation.received) {
      if (!received.empty()) {
        result.failures.push_back(what + ": expected no message, got " + std::to_string(received.size()));
      }
      continue;
    }
    if (expectation.count && received.size() != *expectation.count) {
      result.failures.push_back(what + ": expected " + std::to_string(*expectation.count) + " message(s), got " +
                                std::to_string(received.size()));
    }
    if (expectation.message >= received.size()) {
      std::string line = what + ": expected message " + std::to_string(expectation.message) + ", but it received " +
                         std::to_string(received.size());
      if (!outcome.status.isOk()) line += " (the message " + ended + ": " + outcome.status.message() + ")";
      result.failures.push_back(line);
      continue;
    }
    compare(received[expectation.message], expectation.expect, what, result.failures);
  }
  if (test.reply) {
    if (!outcome.reply) {
      result.failures.push_back("reply: expected one, but the route gave none (it " + ended + ")");
    } else {
      // A rest inbound answers a reply without http.status with 202 (a file, log, amqp or mqtt
      // endpoint gives no HTTP answer of its own).
      compare(*outcome.reply, *test.reply, "reply", result.failures, route.from.component == "rest" ? "202" : "200");
    }
  }
  result.passed = result.failures.empty();
  return result;
}

}  // namespace switchboard::core
