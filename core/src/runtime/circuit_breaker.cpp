#include "runtime/circuit_breaker.hpp"

namespace switchboard::core {

bool CircuitBreaker::allow(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case State::Closed: return true;
    case State::Open:
      if (now - opened_at_ < policy_.pause) return false;
      state_ = State::HalfOpen;
      probing_ = true;
      return true;
    case State::HalfOpen:
      if (probing_) return false;
      probing_ = true;
      return true;
  }
  return true;
}

std::optional<CircuitBreaker::State> CircuitBreaker::record(bool failed, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case State::Closed:
      if (!failed) {
        consecutive_failures_ = 0;
        return std::nullopt;
      }
      if (++consecutive_failures_ < policy_.failures) return std::nullopt;
      state_ = State::Open;
      opened_at_ = now;
      return state_;
    case State::HalfOpen:
      probing_ = false;
      consecutive_failures_ = 0;
      state_ = failed ? State::Open : State::Closed;
      if (failed) opened_at_ = now;
      return state_;
    case State::Open:
      // A call that went out before the circuit opened: it changes nothing.
      return std::nullopt;
  }
  return std::nullopt;
}

CircuitBreaker::Clock::duration CircuitBreaker::untilProbe(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  const auto due = opened_at_ + policy_.pause;
  return due > now ? due - now : Clock::duration::zero();
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

}  // namespace switchboard::core
