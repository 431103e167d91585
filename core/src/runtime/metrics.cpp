#include "runtime/metrics.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace switchboard::core {

void Histogram::observe(std::chrono::nanoseconds duration) noexcept {
  const double seconds = std::chrono::duration<double>(duration).count();
  const auto bucket =
      static_cast<std::size_t>(std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(duration.count(), 0)), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const noexcept {
  Snapshot snapshot;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  snapshot.count = running + counts_[kBounds.size()].load(std::memory_order_relaxed);
  snapshot.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return snapshot;
}

std::string_view errorKindName(Status::Code code) noexcept {
  switch (code) {
    case Status::Code::BadInput: return "bad_input";
    case Status::Code::Transient: return "transient";
    case Status::Code::Permanent: return "permanent";
    case Status::Code::Timeout: return "timeout";
    case Status::Code::Ok:
    case Status::Code::Drop: break;
  }
  return "other";
}

void EndpointMetrics::countError(Status::Code code) noexcept {
  for (std::size_t i = 0; i < kErrorKinds.size(); ++i) {
    if (kErrorKinds[i] == code) ++errors[i];
  }
}

std::string_view outcomeName(Outcome::Kind kind) noexcept {
  switch (kind) {
    case Outcome::Kind::Delivered: return "delivered";
    case Outcome::Kind::Filtered: return "filtered";
    case Outcome::Kind::DeadLettered: return "dead_lettered";
    case Outcome::Kind::Failed: return "failed";
  }
  return "other";
}

std::string_view roleName(EndpointMetrics::Role role) noexcept {
  switch (role) {
    case EndpointMetrics::Role::Inbound: return "inbound";
    case EndpointMetrics::Role::Step: return "step";
    case EndpointMetrics::Role::Outbound: return "outbound";
    case EndpointMetrics::Role::DeadLetter: return "dead_letter";
  }
  return "other";
}

}  // namespace switchboard::core

namespace switchboard {

namespace {

struct CounterFamily {
  std::string help;
  std::map<MetricLabels, std::unique_ptr<Counter>> series;
};

struct CounterRegistry {
  std::mutex mutex;
  std::map<std::string, CounterFamily, std::less<>> families;
};

CounterRegistry& counterRegistry() {
  static CounterRegistry registry;  // never destroyed before a plugin thread stops counting
  return registry;
}

/// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels take no ':'.
bool validName(std::string_view name, bool label) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

Counter& counter(std::string_view name, std::string_view help, MetricLabels labels) {
  if (!validName(name, false)) throw std::invalid_argument("'" + std::string(name) + "' is not a metric name");
  if (name.starts_with("switchboard_")) {
    throw std::invalid_argument("metric names starting with switchboard_ are the bus's own: '" + std::string(name) +
                                "'");
  }
  for (const auto& [label, value] : labels) {
    if (!validName(label, true) || label.starts_with("__")) {
      throw std::invalid_argument("'" + label + "' is not a label name");
    }
  }
  std::sort(labels.begin(), labels.end());
  auto& registry = counterRegistry();
  std::lock_guard lock(registry.mutex);
  auto family = registry.families.find(name);
  if (family == registry.families.end()) {
    family = registry.families.emplace(std::string(name), CounterFamily{std::string(help), {}}).first;
  } else if (family->second.help != help) {
    throw std::invalid_argument("metric '" + std::string(name) + "' was made with another help text");
  }
  auto& slot = family->second.series[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

}  // namespace switchboard

namespace switchboard::core {

std::vector<PluginCounterFamily> pluginCounters() {
  auto& registry = counterRegistry();
  std::lock_guard lock(registry.mutex);
  std::vector<PluginCounterFamily> families;
  for (const auto& [name, family] : registry.families) {
    PluginCounterFamily copy{name, family.help, {}};
    for (const auto& [labels, counter] : family.series) copy.series.emplace_back(labels, counter->value());
    families.push_back(std::move(copy));
  }
  return families;
}

}  // namespace switchboard::core
