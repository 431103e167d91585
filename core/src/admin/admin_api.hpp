#pragma once

/// The operator's HTTP API (CONTRACT §8), served by the bus's HTTP server: /health, /ready,
/// /metrics (Prometheus text), /routes, POST /routes/{id}/stop|start and POST /reload.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/bus.hpp"
#include "switchboard/http.hpp"

namespace switchboard::core {

struct AdminOptions {
  std::string listen = "127.0.0.1:9090";
  /// When set, every endpoint but /health and /ready wants `Authorization: Bearer <token>`.
  std::string token;
};

/// What a reload did: applied, or refused with the reasons (the running routes unchanged).
struct ReloadResult {
  bool applied = false;
  std::vector<std::string> errors;
};

class AdminApi {
 public:
  using Reload = std::function<ReloadResult()>;

  /// Serves the API while it lives. Throws std::runtime_error when the address cannot be bound.
  AdminApi(AdminOptions options, Bus& bus, Reload reload);
  /// Stops serving; waits for a control action in progress (a reload drains routes).
  ~AdminApi();

 private:
  void serve(const std::string& path, const std::string& method, bool open, http::Handler handler);
  /// Runs `action` on the control thread: a stop, start or reload may wait for messages in
  /// flight, which must not hold up the HTTP event loop that serves them.
  void control(std::function<void()> action);
  void controlLoop();

  AdminOptions options_;
  Bus& bus_;
  Reload reload_;
  std::vector<std::unique_ptr<http::Registration>> registrations_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> actions_;
  bool stopping_ = false;
  std::thread control_thread_;
};

/// The Prometheus text exposition (format 0.0.4) of every route's counters.
std::string prometheusText(const Bus& bus);
/// The /routes document: per route its id, state, counters and endpoints.
std::string routesJson(const Bus& bus);

}  // namespace switchboard::core
