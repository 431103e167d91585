#include "runtime/bus.hpp"

#include <stdexcept>

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
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    try {
      routes_[i]->start();
    } catch (const std::exception& e) {
      for (std::size_t j = 0; j <= i; ++j) routes_[j]->stopIntake();
      throw std::runtime_error("route " + routes_[i]->id() + " cannot start: " + e.what());
    }
    log(LogLevel::Info, routes_[i]->banner(), {{"route", routes_[i]->id()}});
  }
}

std::size_t Bus::stop(std::chrono::milliseconds drain_timeout) {
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
  for (auto& route : routes_) route->stopWorkers();
  return left;
}

}  // namespace switchboard::core
