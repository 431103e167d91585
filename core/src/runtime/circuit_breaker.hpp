#pragma once

#include <chrono>
#include <mutex>
#include <optional>

#include "config/route_config.hpp"

namespace switchboard::core {

/// Stops calling an outbound endpoint that keeps failing: after `failures` retryable
/// failures in a row the circuit opens and calls fail at once, without reaching the peer;
/// after `pause` one call goes through as a probe (half-open), and its result closes or
/// reopens the circuit. Answers that say the peer is up (a 4xx, a rejected row) count as
/// successes. Thread-safe.
class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { Closed, Open, HalfOpen };

  explicit CircuitBreaker(CircuitBreakerPolicy policy) : policy_(policy) {}

  /// Whether a call may go out at `now`; in half-open state only the probe may.
  bool allow(Clock::time_point now);
  /// Records the result of an allowed call; returns the new state when it changed.
  std::optional<State> record(bool failed, Clock::time_point now);
  /// How long until the next probe may go, while open.
  Clock::duration untilProbe(Clock::time_point now) const;
  State state() const;
  const CircuitBreakerPolicy& policy() const noexcept { return policy_; }

 private:
  CircuitBreakerPolicy policy_;
  mutable std::mutex mutex_;
  State state_ = State::Closed;
  int consecutive_failures_ = 0;
  Clock::time_point opened_at_{};
  bool probing_ = false;
};

}  // namespace switchboard::core
