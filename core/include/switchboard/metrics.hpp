#pragma once

/// Counters a plugin exports on the admin API's /metrics beside the bus's own, in the
/// Prometheus text format: `switchboard::counter("redis_connects_total", "Connections
/// opened.", {{"route", id}}).add()`. A counter lives as long as the process, so a plugin may
/// keep a reference to it for as long as it runs; asking again for the same name and labels
/// gives the same counter. Name plugin metrics after the plugin (`redis_...`), not
/// `switchboard_...`, which the bus's own metrics use.

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

class Counter {
 public:
  void add(std::uint64_t amount = 1) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

/// The counter `name` with `labels` (their order does not matter), made on first use.
/// Throws std::invalid_argument for a name or label name Prometheus does not accept, a name
/// the bus uses (`switchboard_...`), or a help text that differs from the name's first one.
Counter& counter(std::string_view name, std::string_view help, MetricLabels labels = {});

}  // namespace switchboard
