#include "runtime/bus.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "config/loader.hpp"
#include "http/handover.hpp"

namespace switchboard::core {

std::unique_ptr<Bus> Bus::create(const std::vector<RouteConfig>& routes, const Registry& registry,
                                 Diagnostics& diagnostics) {
  std::unique_ptr<Bus> bus(new Bus());
  bus->scheduler_ = std::make_unique<Scheduler>();
  for (const auto& config : routes) {
    if (auto route = Route::create(config, registry, *bus->scheduler_, diagnostics)) {
      bus->routes_.push_back(std::move(route));
    }
  }
  if (!diagnostics.empty()) return nullptr;
  return bus;
}

Bus::~Bus() {
  for (auto& route : routes_) route->stopIntake();
  // Pending retries point at routes: stop the scheduler before the routes go.
  scheduler_.reset();
  routes_.clear();
}

void Bus::start() {
  std::lock_guard control(control_);
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    try {
      routes_[i]->start();
    } catch (const std::exception& e) {
      for (std::size_t j = 0; j <= i; ++j) routes_[j]->stopIntake();
      throw std::runtime_error("route " + routes_[i]->id() + " cannot start: " + e.what());
    }
    log(LogLevel::Info, routes_[i]->banner(), {{"route", routes_[i]->id()}});
  }
  std::lock_guard lock(routes_lock_);
  started_ = true;
}

std::size_t Bus::stop(std::chrono::milliseconds drain_timeout) {
  std::lock_guard control(control_);
  {
    std::lock_guard lock(routes_lock_);
    started_ = false;
  }
  for (auto& route : routes_) route->stopIntake();
  const auto deadline = Scheduler::Clock::now() + drain_timeout;
  std::size_t left = 0;
  for (auto& route : routes_) {
    if (!route->drain(deadline)) {
      left += route->inFlight();
      log(LogLevel::Warn, "drain timeout: " + std::to_string(route->inFlight()) + " message(s) left unacknowledged",
          {{"route", route->id()}});
    }
  }
  for (auto& route : routes_) {
    route->stopWorkers();
    // A call abandoned and still running uses its route: count it as left behind.
    if (route->stuck()) ++left;
  }
  return left;
}

bool Bus::reload(const std::vector<RouteConfig>& routes, const Registry& registry, Diagnostics& diagnostics,
                 std::chrono::milliseconds drain_timeout) {
  std::lock_guard control(control_);
  std::map<std::string, std::unique_ptr<Route>*> running;
  for (auto& route : routes_) running[route->id()] = &route;

  // Build every new or changed route first: a configuration that cannot be built changes nothing.
  struct Slot {
    std::unique_ptr<Route> kept;   // unchanged, running
    std::unique_ptr<Route> fresh;  // new or changed, not started
  };
  std::vector<Slot> slots(routes.size());
  std::set<std::string> retiring;
  std::size_t unchanged = 0;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto it = running.find(routes[i].id);
    if (it != running.end() && fingerprint((*it->second)->config()) == fingerprint(routes[i])) {
      ++unchanged;
      continue;
    }
    if (it != running.end()) retiring.insert(routes[i].id);
    slots[i].fresh = Route::create(routes[i], registry, *scheduler_, diagnostics);
  }
  if (!diagnostics.empty()) return false;
  std::set<std::string> configured;
  for (const auto& config : routes) configured.insert(config.id);
  for (const auto& [id, route] : running) {
    if (!configured.count(id)) retiring.insert(id);
  }

  // Start the new routes while the old ones still serve; an HTTP path a new route takes over
  // answers from the new route from then on.
  http::setRetiring(retiring);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].fresh) continue;
    try {
      slots[i].fresh->start();
    } catch (const std::exception& e) {
      for (std::size_t j = 0; j <= i; ++j) {
        if (slots[j].fresh) slots[j].fresh->stopIntake();
      }
      http::setRetiring({});
      diagnostics.error(routes[i].where, "route " + routes[i].id + " cannot start: " + e.what());
      return false;
    }
    log(LogLevel::Info, slots[i].fresh->banner(), {{"route", routes[i].id}});
  }

  // Swap in the new set, keeping unchanged routes in the order of the new configuration;
  // then drain and stop what retires.
  std::vector<std::unique_ptr<Route>> old;
  {
    std::lock_guard lock(routes_lock_);
    for (std::size_t i = 0; i < routes.size(); ++i) {
      auto it = running.find(routes[i].id);
      if (it == running.end()) continue;
      if (slots[i].fresh) {
        old.push_back(std::move(*it->second));
      } else {
        slots[i].kept = std::move(*it->second);
      }
      running.erase(it);
    }
    for (auto& [id, route] : running) old.push_back(std::move(*route));
    routes_.clear();
    for (auto& slot : slots) routes_.push_back(slot.kept ? std::move(slot.kept) : std::move(slot.fresh));
  }
  for (auto& route : old) route->stopIntake();
  const auto deadline = Scheduler::Clock::now() + drain_timeout;
  bool stuck = false;
  for (auto& route : old) {
    if (!route->drain(deadline)) {
      stuck = true;
      log(LogLevel::Warn, "drain timeout: " + std::to_string(route->inFlight()) + " message(s) left unacknowledged",
          {{"route", route->id()}});
    }
  }
  for (auto& route : old) {
    route->stopWorkers();
    stuck = stuck || route->stuck();
  }
  http::setRetiring({});
  if (stuck) {
    // A worker is stuck in a plugin call: its route must outlive it.
    for (auto& route : old) (void)route.release();
  }
  log(LogLevel::Info, "reloaded: " + std::to_string(unchanged) + " unchanged, " +
                          std::to_string(routes.size() - unchanged) + " started, " + std::to_string(old.size()) +
                          " stopped");
  return true;
}

Bus::Control Bus::stopRoute(const std::string& id) {
  std::lock_guard control(control_);
  for (auto& route : routes_) {
    if (route->id() != id) continue;
    if (!route->running()) return Control::Unchanged;
    route->stopIntake();
    log(LogLevel::Info, "route stopped: intake closed, messages in flight go on", {{"route", id}});
    return Control::Done;
  }
  return Control::NotFound;
}

Bus::Control Bus::startRoute(const std::string& id, std::string& error) {
  std::lock_guard control(control_);
  for (auto& route : routes_) {
    if (route->id() != id) continue;
    if (route->running()) return Control::Unchanged;
    try {
      route->restartIntake();
    } catch (const std::exception& e) {
      error = e.what();
      log(LogLevel::Error, "route cannot start: " + error, {{"route", id}});
      return Control::Failed;
    }
    log(LogLevel::Info, route->banner(), {{"route", id}});
    return Control::Done;
  }
  return Control::NotFound;
}

bool Bus::ready() const {
  std::lock_guard lock(routes_lock_);
  return started_ && std::all_of(routes_.begin(), routes_.end(), [](const auto& route) { return route->running(); });
}

void Bus::withRoutes(const std::function<void(const std::vector<const Route*>&)>& visit) const {
  std::lock_guard lock(routes_lock_);
  std::vector<const Route*> routes;
  for (const auto& route : routes_) routes.push_back(route.get());
  visit(routes);
}

std::size_t Bus::routeCount() const {
  std::lock_guard lock(routes_lock_);
  return routes_.size();
}

}  // namespace switchboard::core
