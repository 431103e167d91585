#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "runtime/route.hpp"

namespace switchboard::core {

/// Every route of one configuration, and the scheduler they share.
class Bus {
 public:
  /// Constructs every route; nullptr (with diagnostics) when any endpoint cannot be built.
  static std::unique_ptr<Bus> create(const std::vector<RouteConfig>& routes, const Registry& registry,
                                     Diagnostics& diagnostics);
  ~Bus();

  /// Starts every route and logs its banner. Throws std::runtime_error naming the route that
  /// could not start, after stopping those already started.
  void start();
  /// Stops intake everywhere, then waits up to `drain_timeout` for messages in flight.
  /// Returns the number of messages still in flight (left unacknowledged).
  std::size_t stop(std::chrono::milliseconds drain_timeout);

  /// Replaces the running configuration by `routes` route by route: a route whose
  /// configuration did not change keeps running untouched; a changed one is started anew and
  /// then the old one drained (an HTTP path passes to the new route without a moment unserved);
  /// a new one starts; one no longer configured is drained and stopped. Nothing changes when
  /// any new route cannot be built or started: the errors are in `diagnostics` and the result
  /// is false. Old routes whose messages outlast `drain_timeout` are left behind running their
  /// stuck calls, as stop() does.
  bool reload(const std::vector<RouteConfig>& routes, const Registry& registry, Diagnostics& diagnostics,
              std::chrono::milliseconds drain_timeout);

  const std::vector<std::unique_ptr<Route>>& routes() const noexcept { return routes_; }

 private:
  Bus() = default;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace switchboard::core
