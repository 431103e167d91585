// A route's counters: the duration histogram's buckets, errors counted by kind, and the
// names the admin API prints for kinds, outcomes and roles.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <stdexcept>

#include "runtime/metrics.hpp"

using namespace switchboard;
using namespace switchboard::core;
using namespace std::chrono_literals;

namespace {

/// The duration of `seconds` written as a bound is, in whole nanoseconds.
std::chrono::nanoseconds nanos(double seconds) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9 + 0.5));
}

EndpointConfig endpointConfig(std::string component, std::string label) {
  EndpointConfig config;
  config.component = std::move(component);
  config.label = std::move(label);
  return config;
}

}  // namespace

TEST_CASE("a histogram bucket holds the durations up to and including its bound", "[metrics][histogram]") {
  const auto i = GENERATE(range<std::size_t>(0, Histogram::kBounds.size()));
  const auto bound = Histogram::kBounds[i];
  CAPTURE(bound);
  Histogram histogram;
  histogram.observe(nanos(bound));  // exactly on the bound: in this bucket
  const auto on_bound = histogram.snapshot();
  for (std::size_t j = 0; j < Histogram::kBounds.size(); ++j) {
    CHECK(on_bound.cumulative[j] == (j < i ? 0u : 1u));
  }
  CHECK(on_bound.count == 1);

  Histogram above;
  above.observe(nanos(bound) + 1ns);  // just past it: in the next bucket (or only +Inf)
  const auto past_bound = above.snapshot();
  for (std::size_t j = 0; j < Histogram::kBounds.size(); ++j) {
    CHECK(past_bound.cumulative[j] == (j <= i ? 0u : 1u));
  }
  CHECK(past_bound.count == 1);
}

TEST_CASE("a histogram snapshot is cumulative, and its count includes the +Inf bucket", "[metrics][histogram]") {
  Histogram histogram;
  histogram.observe(100us);  // ≤ 0.0005
  histogram.observe(500us);  // ≤ 0.0005, on the bound
  histogram.observe(3ms);    // ≤ 0.005
  histogram.observe(3ms);
  histogram.observe(700ms);  // ≤ 1
  histogram.observe(30s);    // ≤ 30, on the last bound
  histogram.observe(45s);    // only +Inf
  histogram.observe(2min);   // only +Inf
  const auto snapshot = histogram.snapshot();

  const std::array<std::uint64_t, Histogram::kBounds.size()> expected{
      // 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
      2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 6};
  CHECK(snapshot.cumulative == expected);
  CHECK(snapshot.count == 8);
  CHECK(snapshot.count >= snapshot.cumulative.back());
  // The sum is in seconds, of every observation (the +Inf ones included).
  CHECK(snapshot.sum == Approx(0.0001 + 0.0005 + 0.003 + 0.003 + 0.7 + 30 + 45 + 120).epsilon(1e-12));
}

TEST_CASE("an empty histogram is all zeros; a negative duration counts in the first bucket and adds nothing",
          "[metrics][histogram]") {
  Histogram histogram;
  const auto empty = histogram.snapshot();
  CHECK(std::accumulate(empty.cumulative.begin(), empty.cumulative.end(), std::uint64_t{0}) == 0);
  CHECK(empty.count == 0);
  CHECK(empty.sum == 0.0);

  histogram.observe(-5ms);  // a clock that went backwards
  histogram.observe(2s);
  const auto snapshot = histogram.snapshot();
  CHECK(snapshot.cumulative[0] == 1);
  CHECK(snapshot.count == 2);
  CHECK(snapshot.sum == Approx(2.0));
}

TEST_CASE("the sum keeps nanoseconds", "[metrics][histogram]") {
  Histogram histogram;
  histogram.observe(1ns);
  histogram.observe(2ns);
  CHECK(histogram.snapshot().sum == Approx(3e-9).epsilon(1e-9));
  CHECK(histogram.snapshot().cumulative[0] == 2);
}

TEST_CASE("errors are counted apart by kind; ok and drop are not errors", "[metrics]") {
  EndpointMetrics metrics(EndpointMetrics::Role::Outbound, "to[0]", endpointConfig("http", "billing"),
                          "libswitchboard-http.so");
  CHECK(metrics.role == EndpointMetrics::Role::Outbound);
  CHECK(metrics.plugin == "libswitchboard-http.so");
  CHECK(metrics.id == "to[0]");
  CHECK(metrics.label == "billing");
  CHECK(metrics.adapter == "http");

  metrics.countError(Status::Code::Transient);
  metrics.countError(Status::Code::Transient);
  metrics.countError(Status::Code::Transient);
  metrics.countError(Status::Code::Timeout);
  metrics.countError(Status::Code::Timeout);
  metrics.countError(Status::Code::BadInput);
  metrics.countError(Status::Code::Ok);
  metrics.countError(Status::Code::Drop);

  std::map<std::string, std::uint64_t> by_name;
  for (std::size_t i = 0; i < kErrorKinds.size(); ++i) {
    by_name[std::string(errorKindName(kErrorKinds[i]))] = metrics.errors[i].load();
  }
  CHECK(by_name ==
        std::map<std::string, std::uint64_t>{{"bad_input", 1}, {"transient", 3}, {"permanent", 0}, {"timeout", 2}});
  // Nothing else moves.
  CHECK(metrics.ok == 0);
  CHECK(metrics.failed == 0);
  CHECK(metrics.retries == 0);
  CHECK(metrics.dead_letters == 0);
  CHECK(metrics.duration.snapshot().count == 0);
}

TEST_CASE("an endpoint without a name: is labelled by its component", "[metrics]") {
  EndpointConfig config = endpointConfig("file", "file");
  EndpointMetrics metrics(EndpointMetrics::Role::DeadLetter, "dead_letter", config, "libswitchboard-file.so");
  CHECK(metrics.label == "file");
  CHECK(metrics.adapter == "file");
  CHECK(metrics.id == "dead_letter");
}

TEST_CASE("the names of error kinds, outcomes and roles", "[metrics]") {
  CHECK(errorKindName(Status::Code::BadInput) == "bad_input");
  CHECK(errorKindName(Status::Code::Transient) == "transient");
  CHECK(errorKindName(Status::Code::Permanent) == "permanent");
  CHECK(errorKindName(Status::Code::Timeout) == "timeout");
  CHECK(errorKindName(Status::Code::Ok) == "other");
  CHECK(errorKindName(Status::Code::Drop) == "other");

  CHECK(outcomeName(Outcome::Kind::Delivered) == "delivered");
  CHECK(outcomeName(Outcome::Kind::Filtered) == "filtered");
  CHECK(outcomeName(Outcome::Kind::DeadLettered) == "dead_lettered");
  CHECK(outcomeName(Outcome::Kind::Failed) == "failed");

  CHECK(roleName(EndpointMetrics::Role::Inbound) == "inbound");
  CHECK(roleName(EndpointMetrics::Role::Step) == "step");
  CHECK(roleName(EndpointMetrics::Role::Outbound) == "outbound");
  CHECK(roleName(EndpointMetrics::Role::DeadLetter) == "dead_letter");
}

TEST_CASE("the intake counts each outcome at its own index", "[metrics]") {
  IntakeMetrics intake;
  intake.countOutcome(Outcome::Kind::Delivered);
  intake.countOutcome(Outcome::Kind::Delivered);
  intake.countOutcome(Outcome::Kind::DeadLettered);
  intake.countOutcome(Outcome::Kind::Failed);
  CHECK(intake.outcomes[static_cast<std::size_t>(Outcome::Kind::Delivered)] == 2);
  CHECK(intake.outcomes[static_cast<std::size_t>(Outcome::Kind::Filtered)] == 0);
  CHECK(intake.outcomes[static_cast<std::size_t>(Outcome::Kind::DeadLettered)] == 1);
  CHECK(intake.outcomes[static_cast<std::size_t>(Outcome::Kind::Failed)] == 1);
  CHECK(intake.rejected == 0);
}

TEST_CASE("plugin counters: one per name and label set, in any label order", "[metrics]") {
  auto& first = switchboard::counter("testkit_widgets_total", "Widgets made.", {{"route", "a"}, {"kind", "x"}});
  auto& again = switchboard::counter("testkit_widgets_total", "Widgets made.", {{"kind", "x"}, {"route", "a"}});
  auto& other = switchboard::counter("testkit_widgets_total", "Widgets made.", {{"route", "b"}, {"kind", "x"}});
  CHECK(&first == &again);
  CHECK(&first != &other);
  first.add();
  again.add(2);
  other.add(5);
  CHECK(first.value() == 3);

  const auto families = pluginCounters();
  const auto family =
      std::find_if(families.begin(), families.end(), [](const auto& f) { return f.name == "testkit_widgets_total"; });
  REQUIRE(family != families.end());
  CHECK(family->help == "Widgets made.");
  REQUIRE(family->series.size() == 2);
  CHECK(family->series[0].first == MetricLabels{{"kind", "x"}, {"route", "a"}});  // sorted by label name
  CHECK(family->series[0].second == 3);
  CHECK(family->series[1].second == 5);
}

TEST_CASE("plugin counters: names Prometheus refuses, the bus's prefix and a second help text are errors",
          "[metrics]") {
  CHECK_THROWS_AS(switchboard::counter("9lives_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::counter("has-dash_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::counter("switchboard_mine_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::counter("testkit_ok_total", "x", {{"bad:label", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(switchboard::counter("testkit_ok_total", "x", {{"__reserved", "v"}}), std::invalid_argument);
  switchboard::counter("testkit_help_total", "One text.");
  CHECK_THROWS_AS(switchboard::counter("testkit_help_total", "Another text."), std::invalid_argument);
}
