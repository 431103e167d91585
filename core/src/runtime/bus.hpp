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

  const std::vector<std::unique_ptr<Route>>& routes() const noexcept { return routes_; }

 private:
  Bus() = default;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace switchboard::core
