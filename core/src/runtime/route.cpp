#include "runtime/route.hpp"

#include "http/handover.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

namespace switchboard::core {

struct Route::Flight {
  Message message;
  Message original;  // as it entered, for the dead letter endpoint (kept only when there is one)
  Completion done;
  Scheduler::Clock::time_point deadline;
  std::size_t step = 0;  // the step to run next
  std::size_t next = 0;  // the outbound endpoint to run next
  int attempt = 0;       // attempts made at `next`
  Scheduler::Clock::time_point admitted_at;
  Scheduler::Clock::time_point sent_at;  // the current attempt's start
  std::optional<std::string> key;        // with `idempotent`: the item's key, once the message started
  bool holds_key = false;                // its key is in the route's keys_in_flight_
  bool skipped = false;                  // done before (idempotent): nothing to record
  bool answers_caller = false;           // offered by an inbound whose caller waits for the reply
  std::optional<Message> reply;
  bool child = false;  // a split's child: it runs in its parent's slot and is not admitted itself
  std::atomic<EndpointMetrics*> at{nullptr};  // the step or endpoint being called
  std::atomic<bool> abandoned{false};         // its call outlived the deadline; it ended without it
  std::atomic<bool> finished{false};
};

/// A worker thread and the message it runs, for the watchdog (guarded by the route's mutex).
struct Route::Worker {
  std::thread thread;
  std::shared_ptr<Flight> flight;
  Scheduler::Clock::time_point abandon_at{};
  bool abandoned = false;
};

/// The children of a split message, run one after another; the parent finishes with them.
struct Route::Split {
  std::shared_ptr<Flight> parent;
  std::vector<Message> children;
  std::mutex mutex;
  std::size_t next = 0;  // the child to start next
  std::size_t failed = 0;
  std::size_t dead_lettered = 0;
  std::optional<Status> first_failure;
  bool looping = false;         // runChildren is starting children
  bool child_finished = false;  // the child it started finished before process() returned
};

namespace {

/// How long past its message's deadline a call may run before it is abandoned: adapters'
/// own timeouts, which report better errors, come first.
constexpr std::chrono::seconds kAbandonGrace{1};

template <typename T, typename Component>
std::unique_ptr<T> instantiate(const EndpointConfig& endpoint, const Component& component, const Scope& scope,
                               Diagnostics& diagnostics) {
  try {
    auto instance = component.factory(Options(endpoint.options, scope));
    if (!instance) diagnostics.error(endpoint.where, "'" + endpoint.component + "' returned no instance");
    return instance;
  } catch (const OptionError& e) {
    SourceLocation where = endpoint.where;
    if (auto it = endpoint.option_locations.find(e.option()); it != endpoint.option_locations.end()) {
      where = it->second;
      if (e.columnOffset() >= 0) where.column += e.columnOffset();
    }
    diagnostics.error(where, e.what());
  } catch (const std::exception& e) {
    // Any other failure is the plugin's: say which one, so its author can be found.
    const auto file = std::filesystem::path(component.plugin_file).filename().string();
    diagnostics.error(endpoint.where,
                      "'" + endpoint.component + "' (plugin " + file + ") failed to start: " + e.what());
  }
  return nullptr;
}

/// 'name' (plugin libswitchboard-x.so): how errors name a step or endpoint.
std::string describe(const EndpointMetrics& endpoint) {
  return "'" + endpoint.label + "'" + (endpoint.plugin.empty() ? "" : " (plugin " + endpoint.plugin + ")");
}

std::string codeName(Status::Code code) {
  switch (code) {
    case Status::Code::Ok: return "ok";
    case Status::Code::Drop: return "drop";
    case Status::Code::BadInput: return "bad input";
    case Status::Code::Transient: return "transient";
    case Status::Code::Permanent: return "permanent";
    case Status::Code::Timeout: return "timeout";
  }
  return "?";
}

}  // namespace

Route::Route(const RouteConfig& config, Scheduler& scheduler) : config_(config), scheduler_(scheduler) {
  capacity_ = static_cast<std::size_t>(config_.queue) + static_cast<std::size_t>(config_.concurrency);
}

std::unique_ptr<Route> Route::create(const RouteConfig& config, const Registry& registry, Scheduler& scheduler,
                                     Diagnostics& diagnostics, const Substitutes* substitutes) {
  const auto before = diagnostics.size();
  std::unique_ptr<Route> route(new Route(config, scheduler));
  const Scope scope{config.id, config.timeout, config.concurrency};
  if (substitutes) {
    route->inbound_ = substitutes->inbound();
  } else if (const auto* component = registry.inbound(config.from.component)) {
    route->inbound_ = instantiate<InboundAdapter>(config.from, *component, scope, diagnostics);
  }
  // An unknown component was reported by the loader; such a route is never built.
  auto outbound = [&](const EndpointConfig& endpoint, const std::string& place) -> std::unique_ptr<OutboundAdapter> {
    if (substitutes) return substitutes->outbound(endpoint, place);
    const auto* component = registry.outbound(endpoint.component);
    return component ? instantiate<OutboundAdapter>(endpoint, *component, scope, diagnostics) : nullptr;
  };
  using Role = EndpointMetrics::Role;
  // Each endpoint's counters know the plugin file behind it, so errors can name it.
  auto metrics = [&](Role role, std::string id, const EndpointConfig& endpoint) {
    const std::string* file = nullptr;
    if (role == Role::Inbound) {
      if (const auto* c = registry.inbound(endpoint.component)) file = &c->plugin_file;
    } else if (role == Role::Step) {
      if (const auto* c = registry.transform(endpoint.component)) file = &c->plugin_file;
    } else if (const auto* c = registry.outbound(endpoint.component)) {
      file = &c->plugin_file;
    }
    auto plugin = file ? std::filesystem::path(*file).filename().string() : std::string();
    return std::make_unique<EndpointMetrics>(role, std::move(id), endpoint, std::move(plugin));
  };
  auto indexed = [](const char* list, std::size_t index) { return list + ("[" + std::to_string(index) + "]"); };
  route->inbound_metrics_ = metrics(Role::Inbound, "from", config.from);
  for (const auto& step : config.steps) {
    if (const auto* component = registry.transform(step.component)) {
      route->steps_.push_back({step, instantiate<Transform>(step, *component, scope, diagnostics), nullptr,
                               metrics(Role::Step, indexed("steps", route->steps_.size()), step)});
      route->splitters_.push_back(dynamic_cast<Splitter*>(route->steps_.back().instance.get()));
    }
  }
  for (const auto& target : config.to) {
    const auto place = indexed("to", route->to_.size());
    route->to_.push_back({target, outbound(target, place),
                          target.circuit_breaker ? std::make_unique<CircuitBreaker>(*target.circuit_breaker) : nullptr,
                          metrics(Role::Outbound, place, target)});
  }
  if (config.dead_letter) {
    route->dead_letter_.emplace(
        Endpoint<OutboundAdapter>{*config.dead_letter, outbound(*config.dead_letter, "dead_letter"), nullptr,
                                  metrics(Role::DeadLetter, "dead_letter", *config.dead_letter)});
  }
  if (config.idempotent) {
    try {
      route->seen_ = SeenStore::open(config.idempotent->store);
      route->seen_->expire(config.id, config.idempotent->expire);
    } catch (const std::exception& e) {
      diagnostics.error(config.idempotent->where, e.what());
    }
  }
  if (diagnostics.size() != before) return nullptr;
  // The store is a file: its calls stay off the event loops.
  route->inline_ =
      !route->seen_ && route->inbound_->eventDriven() &&
      !(route->dead_letter_ && route->dead_letter_->instance->blocks()) &&
      std::none_of(route->to_.begin(), route->to_.end(), [](const auto& e) { return e.instance->blocks(); });
  return route;
}

Route::~Route() {
  stopIntake();
  stopWorkers();
}

std::string Route::banner() const {
  std::string text = "route " + config_.id + ": " + inbound_->describe() + " -> ";
  if (to_.size() == 1) return text + to_[0].instance->describe();
  return text + std::to_string(to_.size()) + " outbound";
}

void Route::start() {
  {
    std::lock_guard lock(mutex_);
    intake_open_ = true;
    workers_stopping_ = false;
  }
  // Workers of an event-driven route never wait on I/O (its endpoints do not block): they
  // only take retries and messages that waited for a slot, so one per core is plenty.
  const int workers =
      inline_ ? std::min(config_.concurrency, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))
              : config_.concurrency;
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < workers; ++i) addWorker();
  }
  // Only calls on workers can hang a route; an event-driven route's endpoints never block.
  if (!inline_) watchdog_ = std::thread([this] { watchdogLoop(); });
  openIntake();
}

void Route::restartIntake() {
  if (inbound_started_) return;
  {
    std::lock_guard lock(mutex_);
    intake_open_ = true;
  }
  openIntake();
}

void Route::openIntake() {
  // HTTP endpoints the inbound registers belong to this route (a reload's handover).
  http::setRegistrant(config_.id);
  try {
    inbound_->start(*this);
  } catch (...) {
    http::setRegistrant({});
    {
      std::lock_guard lock(mutex_);
      intake_open_ = false;
    }
    throw;
  }
  http::setRegistrant({});
  inbound_started_ = true;
}

void Route::stopIntake() {
  {
    std::lock_guard lock(mutex_);
    intake_open_ = false;
  }
  room_.notify_all();
  if (inbound_started_) {
    inbound_->stop();
    inbound_started_ = false;
  }
}

bool Route::drain(Scheduler::Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return room_.wait_until(lock, deadline, [this] { return admitted_ == 0; });
}

void Route::stopWorkers() {
  {
    std::lock_guard lock(mutex_);
    workers_stopping_ = true;
  }
  work_ready_.notify_all();
  watchdog_wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  std::vector<std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(mutex_);
    const bool drained = admitted_ == 0;
    for (auto& worker : workers_) {
      if (worker->abandoned) {
        (void)worker.release();  // its thread still uses it; detached when abandoned
      } else if (!drained) {
        worker->thread.detach();  // it may be stuck in a plugin call; the process is about to end
        (void)worker.release();
      } else {
        workers.push_back(std::move(worker));
      }
    }
    workers_.clear();
  }
  for (auto& worker : workers) worker->thread.join();
}

bool Route::stuck() const {
  std::lock_guard lock(mutex_);
  return abandoned_running_ > 0;
}

void Route::addWorker() {
  auto worker = std::make_unique<Worker>();
  Worker& me = *worker;
  worker->thread = std::thread([this, &me] { workerLoop(me); });
  workers_.push_back(std::move(worker));
}

void Route::watchdogLoop() {
  std::unique_lock lock(mutex_);
  while (!workers_stopping_) {
    watchdog_wake_.wait_for(lock, std::chrono::milliseconds(200));
    const auto now = Scheduler::Clock::now();
    std::vector<std::shared_ptr<Flight>> abandoned;
    const auto count = workers_.size();
    for (std::size_t i = 0; i < count; ++i) {
      Worker& worker = *workers_[i];
      if (worker.abandoned || !worker.flight || now < worker.abandon_at) continue;
      worker.abandoned = true;
      ++abandoned_running_;
      worker.thread.detach();
      abandoned.push_back(std::move(worker.flight));
      addWorker();  // the route keeps its concurrency
    }
    if (abandoned.empty()) continue;
    lock.unlock();
    for (const auto& flight : abandoned) {
      Flight& f = *flight;
      f.abandoned = true;
      EndpointMetrics* at = f.at.load();
      if (!at) at = inbound_metrics_.get();
      ++at->abandoned;
      const auto status =
          Status::timeout("a call to '" + at->label + "' did not return within the route timeout of " +
                          std::to_string(config_.timeout.count()) + "ms; it was abandoned and the message failed");
      at->countError(Status::Code::Timeout);
      ++at->failed;
      log(LogLevel::Error, status.message(),
          {{"route", config_.id}, {"message", f.message.id()}, {"endpoint", at->label}});
      // Not to the dead letter endpoint: the abandoned call may still succeed.
      finish(f, Outcome{Outcome::Kind::Failed, status, std::nullopt});
    }
    lock.lock();
  }
}

std::size_t Route::inFlight() const {
  std::lock_guard lock(mutex_);
  return admitted_;
}

std::size_t Route::queued() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

std::vector<const EndpointMetrics*> Route::endpointMetrics() const {
  std::vector<const EndpointMetrics*> all{inbound_metrics_.get()};
  for (const auto& step : steps_) all.push_back(step.metrics.get());
  for (const auto& target : to_) all.push_back(target.metrics.get());
  if (dead_letter_) all.push_back(dead_letter_->metrics.get());
  return all;
}

std::vector<std::pair<const EndpointMetrics*, CircuitBreaker::State>> Route::circuits() const {
  std::vector<std::pair<const EndpointMetrics*, CircuitBreaker::State>> states;
  for (const auto& target : to_) {
    if (target.breaker) states.emplace_back(target.metrics.get(), target.breaker->state());
  }
  return states;
}

Message Route::newMessage() {
  return Message(newUuid());
}

void Route::admit(Message message, Completion done, bool answers_caller, std::unique_lock<std::mutex>& lock) {
  auto flight = std::make_shared<Flight>();
  flight->answers_caller = answers_caller;
  if (dead_letter_) flight->original = message;  // only the dead letter endpoint needs it
  flight->message = std::move(message);
  flight->done = std::move(done);
  flight->admitted_at = Scheduler::Clock::now();
  flight->deadline = flight->admitted_at + config_.timeout;
  ++admitted_;
  if (active_ >= static_cast<std::size_t>(config_.concurrency)) {
    waiting_.push_back(std::move(flight));
    return;
  }
  ++active_;
  lock.unlock();
  if (inline_) {
    process(flight);  // on the inbound's event loop thread: nothing on this route blocks
  } else {
    dispatch(std::move(flight));
  }
}

Intake::Admission Route::offer(Message message, Completion done) {
  std::unique_lock lock(mutex_);
  if (!intake_open_) return Admission::Closed;
  if (admitted_ >= capacity_) {
    ++intake_metrics_.rejected;
    return Admission::Full;
  }
  admit(std::move(message), std::move(done), true, lock);
  return Admission::Accepted;
}

bool Route::deliver(Message message, Completion done) {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [this] { return !intake_open_ || admitted_ < capacity_; });
  if (!intake_open_) return false;
  admit(std::move(message), std::move(done), false, lock);
  return true;
}

bool Route::waitForRoom() {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [this] { return !intake_open_ || admitted_ < capacity_; });
  return intake_open_;
}

bool Route::claimKey(const std::string& key) {
  std::lock_guard lock(keys_mutex_);
  return keys_in_flight_.insert(key).second;
}

void Route::releaseKey(const std::string& key) {
  std::lock_guard lock(keys_mutex_);
  keys_in_flight_.erase(key);
}

void Route::dispatch(std::shared_ptr<Flight> flight) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(flight));
  }
  work_ready_.notify_one();
}

void Route::activate(std::shared_ptr<Flight> flight) {
  {
    std::lock_guard lock(mutex_);
    if (active_ >= static_cast<std::size_t>(config_.concurrency)) {
      waiting_.push_back(std::move(flight));
      return;
    }
    ++active_;
    ready_.push_back(std::move(flight));
  }
  work_ready_.notify_one();
}

void Route::releaseSlot(bool finished) {
  bool filled = false;
  {
    std::lock_guard lock(mutex_);
    if (finished) --admitted_;
    --active_;
    if (!waiting_.empty()) {
      ++active_;
      ready_.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
      filled = true;
    }
  }
  if (filled) work_ready_.notify_one();
  if (finished) room_.notify_all();
}

void Route::workerLoop(Worker& me) {
  for (;;) {
    std::shared_ptr<Flight> flight;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return workers_stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopping, and nothing left
      flight = std::move(ready_.front());
      ready_.pop_front();
      me.flight = flight;
      me.abandon_at = flight->deadline + kAbandonGrace;
    }
    process(flight);
    std::lock_guard lock(mutex_);
    me.flight.reset();
    if (me.abandoned) {
      // The call came back after all; a replacement took this worker's place.
      --abandoned_running_;
      return;
    }
  }
}

void Route::process(const std::shared_ptr<Flight>& flight) {
  Flight& f = *flight;
  EndpointMetrics* at = inbound_metrics_.get();  // where a failure happens
  try {
    if (seen_ && !f.child && !f.key) {
      f.key = config_.idempotent->key.render(f.message);
      if (f.key->empty()) throw MessageError("the idempotent key is empty for this message");
      if (!claimKey(*f.key)) {
        // Running both would do the item twice; the later one fails unacknowledged (a
        // caller gets a 5xx and repeats it, a poller redelivers it) and finds it done then.
        log(LogLevel::Info, "item '" + *f.key + "' is in progress in another message (idempotent)",
            {{"route", config_.id}, {"message", f.message.id()}});
        finish(f, Outcome{Outcome::Kind::Failed,
                          Status::transient("item '" + *f.key +
                                            "' is in progress in another message (idempotent): try again later"),
                          std::nullopt});
        return;
      }
      f.holds_key = true;
      if (seen_->contains(config_.id, *f.key, SeenStore::kDone)) {
        f.skipped = true;
        auto reply = f.answers_caller ? seen_->reply(config_.id, *f.key, f.message.id()) : std::nullopt;
        log(LogLevel::Info,
            "skipped: item '" + *f.key + "' was done before (idempotent)" +
                (reply ? "; answered with its first reply" : ""),
            {{"route", config_.id}, {"message", f.message.id()}});
        if (reply) {
          finish(f, Outcome{Outcome::Kind::Delivered, Status::ok(), std::move(reply)});
        } else {
          finish(f, Outcome{Outcome::Kind::Filtered, Status::ok(), std::nullopt});
        }
        return;
      }
    }
    while (f.step < steps_.size()) {
      auto& step = steps_[f.step];
      Splitter* splitter = splitters_[f.step];
      ++f.step;
      at = step.metrics.get();
      f.at = at;
      if (step.config.guard && !step.config.guard->test(f.message)) continue;
      if (splitter) {
        split(flight, splitter->split(f.message));
        return;
      }
      const Status status = step.instance->apply(f.message);
      if (f.abandoned) return;
      if (status.code() == Status::Code::Drop) {
        log(LogLevel::Debug, "message dropped by a filter", {{"route", config_.id}, {"message", f.message.id()}});
        finish(f, Outcome{Outcome::Kind::Filtered, Status::ok(), std::nullopt});
        return;
      }
      if (!status.isOk()) {
        at->countError(status.code());
        fail(flight, status, *at);
        return;
      }
    }
    while (f.next < to_.size()) {
      auto& endpoint = to_[f.next];
      at = endpoint.metrics.get();
      f.at = at;
      if (f.attempt == 0 && endpoint.config.guard && !endpoint.config.guard->test(f.message)) {
        ++f.next;
        continue;
      }
      if (Scheduler::Clock::now() >= f.deadline) {
        at->countError(Status::Code::Timeout);
        fail(flight, Status::timeout("route timeout of " + std::to_string(config_.timeout.count()) + "ms exceeded"),
             *at);
        return;
      }
      if (f.attempt == 0 && f.key && !f.child && seen_->contains(config_.id, *f.key, static_cast<int>(f.next))) {
        log(LogLevel::Info, "skipped '" + at->label + "': it took item '" + *f.key + "' before (idempotent)",
            {{"route", config_.id}, {"message", f.message.id()}});
        ++f.next;
        continue;
      }
      ++f.attempt;
      if (endpoint.breaker && !endpoint.breaker->allow(Scheduler::Clock::now())) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            endpoint.breaker->untilProbe(Scheduler::Clock::now()));
        afterSend(flight, Status::transient(
                              "circuit breaker open after " + std::to_string(endpoint.breaker->policy().failures) +
                              " failures in a row; next probe in " + std::to_string(wait.count()) + "ms"));
        return;
      }
      auto& instance = *endpoint.instance;
      f.sent_at = Scheduler::Clock::now();
      if (instance.sendAsync(f.message, [this, flight](Status status) { resume(flight, status); })) return;
      if (!afterSend(flight, observe(endpoint, instance.send(f.message)))) return;
    }
    if (config_.reply == kReplyLast) f.reply = std::move(f.message);  // the message is done: no copy
    log(LogLevel::Debug, "delivered", {{"route", config_.id}, {"message", f.reply ? f.reply->id() : f.message.id()}});
    finish(f, Outcome{Outcome::Kind::Delivered, Status::ok(), std::move(f.reply)});
  } catch (const MessageError& e) {
    if (f.abandoned) return;
    if (f.sent_at != Scheduler::Clock::time_point{}) at->duration.observe(Scheduler::Clock::now() - f.sent_at);
    at->countError(Status::Code::BadInput);
    fail(flight, Status::badInput(e.what()), *at);
  } catch (const std::exception& e) {
    if (f.abandoned) return;
    if (f.sent_at != Scheduler::Clock::time_point{}) at->duration.observe(Scheduler::Clock::now() - f.sent_at);
    at->countError(Status::Code::Permanent);
    fail(flight, Status::permanent(describe(*at) + " threw: " + e.what()), *at);
  } catch (...) {
    if (f.abandoned) return;
    if (f.sent_at != Scheduler::Clock::time_point{}) at->duration.observe(Scheduler::Clock::now() - f.sent_at);
    at->countError(Status::Code::Permanent);
    fail(flight, Status::permanent(describe(*at) + " threw a non-standard exception"), *at);
  }
}

bool Route::afterSend(const std::shared_ptr<Flight>& flight, const Status& status) {
  Flight& f = *flight;
  if (f.abandoned) return false;  // it ended without this call
  auto& endpoint = to_[f.next];
  const auto& where = endpoint.config.label;
  // Timed only when the call was made (not when an open circuit refused it).
  if (f.sent_at != Scheduler::Clock::time_point{}) {
    endpoint.metrics->duration.observe(Scheduler::Clock::now() - f.sent_at);
    f.sent_at = {};
  }
  if (!status.isOk()) {
    endpoint.metrics->countError(status.code());
    if (status.retryable() && f.attempt < config_.retry.attempts) {
      const double factor = std::pow(config_.retry.backoff, f.attempt - 1);
      const double base = std::min(static_cast<double>(config_.retry.delay.count()) * factor,
                                   static_cast<double>(config_.retry.max_delay.count()));
      thread_local std::mt19937 random{std::random_device{}()};
      std::uniform_real_distribution<double> spread(1.0 - config_.retry.jitter, 1.0 + config_.retry.jitter);
      const auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(base * spread(random)));
      if (Scheduler::Clock::now() + delay < f.deadline) {
        log(LogLevel::Warn,
            "attempt " + std::to_string(f.attempt) + " failed, retrying in " + std::to_string(delay.count()) +
                "ms: " + status.message(),
            {{"route", config_.id}, {"message", f.message.id()}, {"endpoint", where}});
        ++endpoint.metrics->retries;
        releaseSlot(false);
        scheduler_.at(Scheduler::Clock::now() + delay, [this, flight] { activate(flight); });
        return false;
      }
    }
    fail(flight, status, *endpoint.metrics);
    return false;
  }
  ++endpoint.metrics->ok;
  if (f.attempt > 1) {
    log(LogLevel::Info, "delivered after " + std::to_string(f.attempt) + " attempts",
        {{"route", config_.id}, {"message", f.message.id()}, {"endpoint", where}});
  }
  if (f.key && !f.child) seen_->record(config_.id, *f.key, static_cast<int>(f.next));
  if (config_.reply == static_cast<int>(f.next)) f.reply = f.message;
  ++f.next;
  f.attempt = 0;
  return true;
}

const Status& Route::observe(Endpoint<OutboundAdapter>& endpoint, const Status& status) {
  if (!endpoint.breaker) return status;
  // Only failures that say the peer is unwell count; an answer refusing the message is an answer.
  const auto changed = endpoint.breaker->record(status.retryable(), Scheduler::Clock::now());
  if (!changed) return status;
  const auto& label = endpoint.config.label;
  const auto pause = std::to_string(endpoint.breaker->policy().pause.count()) + "ms";
  switch (*changed) {
    case CircuitBreaker::State::Open:
      log(LogLevel::Warn,
          "circuit breaker open: calls fail at once, next probe in " + pause + " (" + status.message() + ")",
          {{"route", config_.id}, {"endpoint", label}});
      break;
    case CircuitBreaker::State::Closed:
      log(LogLevel::Info, "circuit breaker closed: the probe succeeded", {{"route", config_.id}, {"endpoint", label}});
      break;
    case CircuitBreaker::State::HalfOpen: break;
  }
  return status;
}

void Route::resume(const std::shared_ptr<Flight>& flight, const Status& status) {
  observe(to_[flight->next], status);
  if (!afterSend(flight, status)) return;
  // An event-driven route goes on here, on the thread that finished the send; any other
  // goes back to the workers, since its next endpoint may block.
  if (inline_) {
    process(flight);
  } else {
    dispatch(flight);
  }
}

void Route::fail(const std::shared_ptr<Flight>& flight, const Status& status, EndpointMetrics& at) {
  Flight& f = *flight;
  const std::string& endpoint = at.label;
  const std::string attempts = std::to_string(std::max(f.attempt, 1));
  ++at.failed;
  log(LogLevel::Warn, "failed (" + codeName(status.code()) + ") after " + attempts + " attempt(s): " + status.message(),
      {{"route", config_.id}, {"message", f.message.id()}, {"endpoint", endpoint}});
  if (!dead_letter_) {
    finish(f, Outcome{Outcome::Kind::Failed, status, std::nullopt});
    return;
  }
  // The letter lives with the flight until the dead letter endpoint is done with it.
  f.original.headers().set("error.message", status.message());
  f.original.headers().set("error.endpoint", endpoint);
  f.original.headers().set("error.attempts", attempts);
  f.original.headers().set("error.route", config_.id);
  for (const auto& [name, value] : status.details()) f.original.headers().set(name, value);
  auto settle = [this, flight, status, &at](const Status& letter_status) {
    Flight& done = *flight;
    if (letter_status.isOk()) {
      ++dead_letter_->metrics->ok;
      ++at.dead_letters;
      log(LogLevel::Warn, "sent to the dead letter endpoint",
          {{"route", config_.id}, {"message", done.message.id()}, {"endpoint", dead_letter_->config.label}});
      finish(done, Outcome{Outcome::Kind::DeadLettered, status, std::nullopt});
    } else {
      ++dead_letter_->metrics->failed;
      dead_letter_->metrics->countError(letter_status.code());
      log(LogLevel::Error, "dead letter endpoint failed, message left unacknowledged: " + letter_status.message(),
          {{"route", config_.id}, {"message", done.message.id()}, {"endpoint", dead_letter_->config.label}});
      finish(done, Outcome{Outcome::Kind::Failed, status, std::nullopt});
    }
  };
  try {
    if (dead_letter_->instance->sendAsync(f.original, settle)) return;
    settle(dead_letter_->instance->send(f.original));
  } catch (const std::exception& e) {
    settle(Status::permanent(std::string("dead letter endpoint threw: ") + e.what()));
  }
}

void Route::split(const std::shared_ptr<Flight>& parent, std::vector<Message> children) {
  log(LogLevel::Debug, "split into " + std::to_string(children.size()) + " messages",
      {{"route", config_.id}, {"message", parent->message.id()}});
  if (children.empty()) {
    finish(*parent, Outcome{Outcome::Kind::Filtered, Status::ok(), std::nullopt});
    return;
  }
  auto state = std::make_shared<Split>();
  state->parent = parent;
  state->children = std::move(children);
  runChildren(state);
}

// Children that finish at once (synchronous endpoints) return here and the loop starts the
// next; one that finishes later starts the next from its completion. Either way the stack
// stays flat however many children there are.
void Route::runChildren(const std::shared_ptr<Split>& split) {
  for (;;) {
    auto child = std::make_shared<Flight>();
    {
      std::lock_guard lock(split->mutex);
      if (split->next == split->children.size()) break;
      child->message = std::move(split->children[split->next]);
      split->looping = true;
      split->child_finished = false;
    }
    const Flight& parent = *split->parent;
    if (dead_letter_) child->original = child->message;
    child->deadline = parent.deadline;
    child->step = parent.step;
    child->child = true;
    child->done = [this, split](Outcome outcome) { childFinished(split, std::move(outcome)); };
    process(child);
    std::lock_guard lock(split->mutex);
    if (!split->child_finished) {
      split->looping = false;
      return;
    }
  }
  Outcome outcome;
  if (split->failed > 0 || split->dead_lettered > 0) {
    outcome.kind = split->failed > 0 ? Outcome::Kind::Failed : Outcome::Kind::DeadLettered;
    outcome.status = split->first_failure->withMessage(
        std::to_string(split->failed + split->dead_lettered) + " of " + std::to_string(split->children.size()) +
        " split messages failed; the first: " + split->first_failure->message());
  }
  finish(*split->parent, std::move(outcome));
}

void Route::childFinished(const std::shared_ptr<Split>& split, Outcome outcome) {
  {
    std::lock_guard lock(split->mutex);
    if (outcome.kind == Outcome::Kind::Failed) ++split->failed;
    if (outcome.kind == Outcome::Kind::DeadLettered) ++split->dead_lettered;
    if (!outcome.status.isOk() && !split->first_failure) split->first_failure = outcome.status;
    ++split->next;
    if (split->looping) {
      split->child_finished = true;
      return;
    }
  }
  runChildren(split);
}

void Route::finish(Flight& flight, Outcome outcome) {
  if (flight.finished.exchange(true)) return;  // abandoned, and its call came back later
  if (flight.key && !flight.child && !flight.skipped && outcome.acknowledge()) {
    // Recorded before the inbound acknowledges: a crash in between redelivers an item
    // that is then skipped, never one that is lost.
    if (flight.answers_caller && outcome.reply) {
      seen_->recordDone(config_.id, *flight.key, *outcome.reply);
    } else {
      seen_->record(config_.id, *flight.key, SeenStore::kDone);
    }
    if (++items_done_ % 10'000 == 0) seen_->expire(config_.id, config_.idempotent->expire);
  }
  if (flight.holds_key) releaseKey(*flight.key);
  // Counted before the caller hears the answer, so a scrape after it sees this message.
  if (!flight.child) {
    intake_metrics_.countOutcome(outcome.kind);
    inbound_metrics_->duration.observe(Scheduler::Clock::now() - flight.admitted_at);
  }
  try {
    if (flight.done) flight.done(std::move(outcome));
  } catch (const std::exception& e) {
    log(LogLevel::Error, std::string("inbound completion threw: ") + e.what(),
        {{"route", config_.id}, {"message", flight.message.id()}});
  }
  if (!flight.child) releaseSlot(true);  // a child's slot is its parent's, which goes on
}

}  // namespace switchboard::core
