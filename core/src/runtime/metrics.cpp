#include "runtime/metrics.hpp"

#include <algorithm>

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
