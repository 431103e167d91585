#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "config/route_config.hpp"
#include "plugin/registry.hpp"
#include "runtime/circuit_breaker.hpp"
#include "runtime/metrics.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/seen_store.hpp"

namespace switchboard::core {

/// One running route: its inbound adapter feeds a bounded intake; `concurrency` workers run
/// each message through the steps and outbound endpoints, retrying through the scheduler and
/// ending at the dead letter endpoint; the inbound hears how each message ended.
class Route final : public Intake {
 public:
  /// Stand-ins for the route's adapters (`switchboard test` runs the real steps between a
  /// case's input and mocked outbound endpoints).
  struct Substitutes {
    std::function<std::unique_ptr<InboundAdapter>()> inbound;
    /// Called for each outbound endpoint and the dead letter endpoint, with its place (to[0], dead_letter).
    std::function<std::unique_ptr<OutboundAdapter>(const EndpointConfig&, const std::string& place)> outbound;
  };

  /// Constructs every adapter and transform of the route; reports what fails at its place.
  static std::unique_ptr<Route> create(const RouteConfig& config, const Registry& registry, Scheduler& scheduler,
                                       Diagnostics& diagnostics, const Substitutes* substitutes = nullptr);
  ~Route() override;

  const std::string& id() const noexcept { return config_.id; }
  const RouteConfig& config() const noexcept { return config_; }
  /// "route orders-in: file ./in/*.json -> 2 outbound"
  std::string banner() const;

  /// Starts the workers, then the inbound. Throws std::runtime_error when the inbound cannot start.
  void start();
  /// Stops the inbound and closes the intake: nothing new enters; messages in flight go on.
  void stopIntake();
  /// Opens the intake again and restarts the inbound after stopIntake() (an operator's
  /// stop and start). Throws std::runtime_error when the inbound cannot start.
  void restartIntake();
  /// Whether the inbound runs and the intake is open.
  bool running() const noexcept { return inbound_started_.load(); }
  /// Waits until every admitted message finished, or `deadline`; true when none is left.
  bool drain(Scheduler::Clock::time_point deadline);
  /// Stops the workers. Call after drain; a worker stuck in a plugin call is left behind.
  void stopWorkers();
  /// Whether a worker whose call was abandoned still runs it: the route must then outlive
  /// it (it is left behind, never destroyed).
  bool stuck() const;
  std::size_t inFlight() const;
  /// Messages waiting for a worker slot (the intake queue's depth).
  std::size_t queued() const;

  const IntakeMetrics& intakeMetrics() const noexcept { return intake_metrics_; }
  /// Every endpoint's counters in route order: the inbound, the steps, `to`, the dead letter endpoint.
  std::vector<const EndpointMetrics*> endpointMetrics() const;
  /// The circuit breaker state of each outbound endpoint that has one.
  std::vector<std::pair<const EndpointMetrics*, CircuitBreaker::State>> circuits() const;

  Message newMessage() override;
  Admission offer(Message message, Completion done) override;
  bool deliver(Message message, Completion done) override;
  bool waitForRoom() override;

 private:
  template <typename T>
  struct Endpoint {
    EndpointConfig config;
    std::unique_ptr<T> instance;
    std::unique_ptr<CircuitBreaker> breaker;  // outbound endpoints with a circuit_breaker
    std::unique_ptr<EndpointMetrics> metrics;
  };
  struct Flight;
  struct Worker;

  Route(const RouteConfig& config, Scheduler& scheduler);
  /// Opens the intake and starts the inbound, its HTTP endpoints registered for this route.
  void openIntake();
  /// Takes a message in; `answers_caller` when its inbound answers a waiting caller with the
  /// reply (offer), so an idempotent route keeps that reply for a repeated request.
  void admit(Message message, Completion done, bool answers_caller, std::unique_lock<std::mutex>& lock);
  /// With `idempotent`: marks an item's key in progress here; false when it already is.
  bool claimKey(const std::string& key);
  void releaseKey(const std::string& key);
  /// Gives a flight that holds a slot to the workers.
  void dispatch(std::shared_ptr<Flight> flight);
  /// Runs a flight whose retry delay passed, when a slot is free; else it waits for one.
  void activate(std::shared_ptr<Flight> flight);
  /// Frees the slot of a flight that finished or waits for a retry, and fills it.
  void releaseSlot(bool finished);
  void workerLoop(Worker& me);
  /// Starts a worker thread; call with mutex_ held.
  void addWorker();
  /// Abandons calls that outlived their message's deadline by kAbandonGrace: the message
  /// fails with a timeout, the worker is replaced, its thread left to return when it can.
  void watchdogLoop();
  void process(const std::shared_ptr<Flight>& flight);
  /// Handles the result of the endpoint at `flight->next`; true when the message goes on.
  bool afterSend(const std::shared_ptr<Flight>& flight, const Status& status);
  /// Feeds a send's result to the endpoint's circuit breaker and logs what that changed.
  const Status& observe(Endpoint<OutboundAdapter>& endpoint, const Status& status);
  /// Continues a message after an asynchronous send finished.
  void resume(const std::shared_ptr<Flight>& flight, const Status& status);
  /// Runs the rest of the route once per child, then finishes `parent` with them.
  void split(const std::shared_ptr<Flight>& parent, std::vector<Message> children);
  struct Split;
  void runChildren(const std::shared_ptr<Split>& split);
  void childFinished(const std::shared_ptr<Split>& split, Outcome outcome);
  /// Ends a message that failed at `endpoint` (a step or an outbound endpoint).
  void fail(const std::shared_ptr<Flight>& flight, const Status& status, EndpointMetrics& endpoint);
  void finish(Flight& flight, Outcome outcome);

  RouteConfig config_;
  Scheduler& scheduler_;
  std::unique_ptr<InboundAdapter> inbound_;
  std::unique_ptr<EndpointMetrics> inbound_metrics_;
  IntakeMetrics intake_metrics_;
  std::vector<Endpoint<Transform>> steps_;
  std::vector<Splitter*> splitters_;  // per step: the splitter it is, or nullptr
  std::vector<Endpoint<OutboundAdapter>> to_;
  std::optional<Endpoint<OutboundAdapter>> dead_letter_;
  std::shared_ptr<SeenStore> seen_;  // with `idempotent`
  std::mutex keys_mutex_;
  std::unordered_set<std::string> keys_in_flight_;  // with `idempotent`: items being processed here
  std::atomic<std::uint64_t> items_done_{0};

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable room_;                 // admission room, and the end of the drain
  std::deque<std::shared_ptr<Flight>> waiting_;  // admitted, waiting for a slot
  std::deque<std::shared_ptr<Flight>> ready_;    // holding a slot, waiting for a worker
  std::size_t admitted_ = 0;                     // waiting + active + waiting for a retry
  std::size_t active_ = 0;                       // holding one of the `concurrency` slots
  std::size_t capacity_ = 0;
  bool intake_open_ = false;
  bool workers_stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t abandoned_running_ = 0;  // abandoned workers whose call has not returned
  std::thread watchdog_;
  std::condition_variable watchdog_wake_;
  std::atomic<bool> inbound_started_{false};
  bool inline_ = false;  // messages run on the inbound's event loop thread, never queued
};

}  // namespace switchboard::core
