#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
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
  /// Returns the number of messages still in flight (left unacknowledged), plus one per
  /// route with an abandoned call still running: then the process must end without
  /// destroying the routes.
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

  /// The operator's stop and start of one route (the admin API): stop closes its intake and
  /// leaves messages in flight to finish; start opens it again.
  enum class Control { Done, Unchanged, NotFound, Failed };
  Control stopRoute(const std::string& id);
  Control startRoute(const std::string& id, std::string& error);

  /// True once start() succeeded, while every route takes messages.
  bool ready() const;
  /// Calls `visit` with the routes, which no reload can replace meanwhile.
  void withRoutes(const std::function<void(const std::vector<const Route*>&)>& visit) const;
  std::size_t routeCount() const;

 private:
  Bus() = default;
  std::unique_ptr<Scheduler> scheduler_;
  std::mutex control_;              // one start, stop, reload or route control at a time
  mutable std::mutex routes_lock_;  // guards routes_ (the vector; the routes guard themselves)
  std::vector<std::unique_ptr<Route>> routes_;
  bool started_ = false;
};

}  // namespace switchboard::core
