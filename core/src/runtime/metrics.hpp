#pragma once

/// The counters a route keeps about itself, read by the admin API's /metrics and /routes.
/// Updated lock-free on the message path; a reader sees each value on its own (a scrape is
/// not one atomic snapshot across counters, as with any Prometheus client).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/route_config.hpp"
#include "switchboard/metrics.hpp"
#include "switchboard/plugin.hpp"
#include "switchboard/status.hpp"

namespace switchboard::core {

/// A duration histogram with fixed buckets from 0.5 ms to 30 s.
class Histogram {
 public:
  static constexpr std::array<double, 15> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,   0.5,   1,      2.5,   5,    10,    30};
  struct Snapshot {
    std::array<std::uint64_t, kBounds.size()> cumulative{};  ///< observations ≤ each bound
    std::uint64_t count = 0;                                 ///< all observations (the +Inf bucket)
    double sum = 0;                                          ///< seconds
  };

  void observe(std::chrono::nanoseconds duration) noexcept;
  Snapshot snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> counts_{};  // per bucket, the last is +Inf
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// The error kinds counted apart: a Status code that is a failure.
inline constexpr std::array<Status::Code, 4> kErrorKinds{Status::Code::BadInput, Status::Code::Transient,
                                                         Status::Code::Permanent, Status::Code::Timeout};
std::string_view errorKindName(Status::Code code) noexcept;

/// One endpoint of a route: its inbound, a step, an outbound or the dead letter endpoint.
struct EndpointMetrics {
  enum class Role { Inbound, Step, Outbound, DeadLetter };

  EndpointMetrics(Role role, std::string id, const EndpointConfig& config, std::string plugin)
      : role(role), id(std::move(id)), label(config.label), adapter(config.component), plugin(std::move(plugin)) {}

  const Role role;
  const std::string id;       ///< its place in the route: from, steps[0], to[1], dead_letter
  const std::string label;    ///< its `name:`, or the component name
  const std::string adapter;  ///< the adapter or transform
  const std::string plugin;   ///< the plugin file it comes from (its name only)

  /// Outbound endpoints: messages it took (ok) and messages that failed at it after their
  /// retries (failed). A dead letter endpoint counts letters the same way.
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> failed{0};
  /// Every failed attempt, by kind; retried attempts included.
  std::array<std::atomic<std::uint64_t>, kErrorKinds.size()> errors{};
  std::atomic<std::uint64_t> retries{0};
  /// Messages that failed here and went to the dead letter endpoint.
  std::atomic<std::uint64_t> dead_letters{0};
  /// Calls still running past their message's deadline, given up on (the message failed).
  std::atomic<std::uint64_t> abandoned{0};
  /// Outbound: each attempt's call. The inbound: each message from admission to its end.
  Histogram duration;

  void countError(Status::Code code) noexcept;
};

/// The inbound's counters: how each admitted message ended, and messages refused because
/// the intake queue was full (a 503; a polling inbound waits for room instead).
struct IntakeMetrics {
  std::array<std::atomic<std::uint64_t>, 4> outcomes{};  ///< by Outcome::Kind
  std::atomic<std::uint64_t> rejected{0};

  void countOutcome(Outcome::Kind kind) noexcept { ++outcomes[static_cast<std::size_t>(kind)]; }
};

std::string_view outcomeName(Outcome::Kind kind) noexcept;

/// One family of counters plugins made with switchboard::counter(), as /metrics writes it.
struct PluginCounterFamily {
  std::string name;
  std::string help;
  std::vector<std::pair<MetricLabels, std::uint64_t>> series;  ///< labels sorted by name
};
/// Every plugin counter family, sorted by name.
std::vector<PluginCounterFamily> pluginCounters();
std::string_view roleName(EndpointMetrics::Role role) noexcept;

}  // namespace switchboard::core
