#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/diagnostics.hpp"
#include "switchboard/template.hpp"

namespace switchboard::core {

enum class EndpointRole { Inbound, Step, Outbound };

/// An outbound endpoint's `circuit_breaker`: open after `failures` retryable failures in a
/// row, probe again after `pause`.
struct CircuitBreakerPolicy {
  int failures = 5;
  std::chrono::milliseconds pause{30'000};
};

/// One `from`, step, `to` or dead letter entry, checked against its component's schema.
struct EndpointConfig {
  EndpointRole role = EndpointRole::Outbound;
  std::string component;  ///< adapter or transform name
  std::string label;      ///< `name:`, or the component name
  std::optional<Expression> guard;
  std::optional<CircuitBreakerPolicy> circuit_breaker;  ///< outbound endpoints only
  nlohmann::ordered_json options;  ///< normalised: defaults filled in, durations in ms, sizes in bytes
  SourceLocation where;            ///< the component key
  /// Where each option's value was written, by dotted path ("" for a value-form component).
  std::map<std::string, SourceLocation> option_locations;
};

struct RetryPolicy {
  int attempts = 1;  ///< tries in all, the first included
  std::chrono::milliseconds delay{200};
  double backoff = 2.0;
  std::chrono::milliseconds max_delay{10'000};
  double jitter = 0.2;  ///< each delay is drawn from ±jitter around it, so retries of many messages spread out
};

/// A route's `idempotent`: items are remembered by `key` in the SQLite file `store`, so one
/// delivered again is not sent again where it already succeeded.
struct IdempotencyPolicy {
  Template key;
  std::filesystem::path store = "switchboard-seen.db";
  std::chrono::milliseconds expire{7 * 24 * 3'600'000LL};
  SourceLocation where;
};

struct RouteConfig {
  std::string id;
  std::string description;
  SourceLocation where;
  EndpointConfig from;
  std::vector<EndpointConfig> steps;
  std::vector<EndpointConfig> to;
  std::optional<EndpointConfig> dead_letter;
  /// Index into `to` whose result answers a request-reply inbound; -1 for `last`, -2 for `none`.
  int reply = -1;
  int concurrency = 1;
  int queue = 1024;
  std::chrono::milliseconds timeout{30'000};
  RetryPolicy retry;
  std::optional<IdempotencyPolicy> idempotent;
};

inline constexpr int kReplyLast = -1;
inline constexpr int kReplyNone = -2;

}  // namespace switchboard::core
