#include "admin/admin_api.hpp"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace switchboard::core {

namespace {

using Role = EndpointMetrics::Role;

http::Response jsonResponse(unsigned status, const nlohmann::json& body) {
  http::Response response;
  response.status = status;
  response.headers.set("Content-Type", "application/json");
  response.body = body.dump(2) + "\n";
  return response;
}

std::string_view circuitName(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::Closed: return "closed";
    case CircuitBreaker::State::HalfOpen: return "half_open";
    case CircuitBreaker::State::Open: return "open";
  }
  return "?";
}

int circuitValue(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::Closed: return 0;
    case CircuitBreaker::State::HalfOpen: return 1;
    case CircuitBreaker::State::Open: return 2;
  }
  return -1;
}

/// Label values escape backslash, double quote and newline (the exposition format's rule).
std::string labelValue(std::string_view value) {
  std::string escaped;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      escaped += '\\';
      escaped += c;
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string routeLabel(const Route& route) {
  return "route=\"" + labelValue(route.id()) + "\"";
}

std::string endpointLabels(const Route& route, const EndpointMetrics& endpoint) {
  return routeLabel(route) + ",endpoint=\"" + labelValue(endpoint.id) + "\",name=\"" + labelValue(endpoint.label) +
         "\",adapter=\"" + labelValue(endpoint.adapter) + "\"";
}

bool sends(const EndpointMetrics& endpoint) {
  return endpoint.role == Role::Outbound || endpoint.role == Role::DeadLetter;
}

/// Bucket bounds print as written (0.025, not 0.025000000000000001); sums keep nanoseconds.
std::string seconds(double value, int precision) {
  std::ostringstream text;
  text.precision(precision);
  text << value;
  return text.str();
}

/// The families, each written once with its HELP and TYPE lines and every route's samples.
class Exposition {
 public:
  explicit Exposition(const std::vector<const Route*>& routes) : routes_(routes) {}

  void family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ';
    // HELP text escapes backslash and line feed (a plugin's text may hold them).
    for (const char* c = help; *c; ++c) {
      if (*c == '\\') {
        out_ << "\\\\";
      } else if (*c == '\n') {
        out_ << "\\n";
      } else {
        out_ << *c;
      }
    }
    out_ << "\n# TYPE " << name << ' ' << type << '\n';
  }
  template <typename Value>
  void sample(const char* name, const std::string& labels, Value value) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << value << '\n';
  }
  /// Calls `each` with every endpoint of every route that `wanted` selects.
  template <typename Wanted, typename Each>
  void endpoints(Wanted wanted, Each each) {
    for (const Route* route : routes_) {
      for (const EndpointMetrics* endpoint : route->endpointMetrics()) {
        if (wanted(*endpoint)) each(*route, *endpoint, endpointLabels(*route, *endpoint));
      }
    }
  }
  const std::vector<const Route*>& routes() const { return routes_; }
  std::string text() const { return out_.str(); }

 private:
  const std::vector<const Route*>& routes_;
  std::ostringstream out_;
};

void writeExposition(Exposition& out) {
  auto any = [](const EndpointMetrics&) { return true; };
  auto timed = [](const EndpointMetrics& e) { return e.role == Role::Inbound || e.role == Role::Outbound; };

  out.family("switchboard_messages_total", "counter",
             "Messages by how they ended: at the inbound (endpoint from: delivered, filtered, dead_lettered, "
             "failed, rejected with a full intake queue) and at each outbound endpoint (ok, or failed after "
             "its retries).");
  out.endpoints(any, [&](const Route& route, const EndpointMetrics& e, const std::string& labels) {
    if (e.role == Role::Inbound) {
      const auto& intake = route.intakeMetrics();
      for (std::size_t kind = 0; kind < intake.outcomes.size(); ++kind) {
        out.sample("switchboard_messages_total",
                   labels + ",outcome=\"" + std::string(outcomeName(static_cast<Outcome::Kind>(kind))) + "\"",
                   intake.outcomes[kind].load());
      }
      out.sample("switchboard_messages_total", labels + ",outcome=\"rejected\"", intake.rejected.load());
    } else if (sends(e)) {
      out.sample("switchboard_messages_total", labels + ",outcome=\"ok\"", e.ok.load());
      out.sample("switchboard_messages_total", labels + ",outcome=\"failed\"", e.failed.load());
    }
  });

  out.family("switchboard_errors_total", "counter",
             "Failed attempts at an endpoint or step by kind (bad_input, transient, permanent, timeout), retried "
             "ones included.");
  out.endpoints(any, [&](const Route&, const EndpointMetrics& e, const std::string& labels) {
    for (std::size_t i = 0; i < kErrorKinds.size(); ++i) {
      out.sample("switchboard_errors_total", labels + ",kind=\"" + std::string(errorKindName(kErrorKinds[i])) + "\"",
                 e.errors[i].load());
    }
  });

  out.family("switchboard_retries_total", "counter", "Attempts scheduled again after a retryable failure.");
  out.endpoints([](const EndpointMetrics& e) { return e.role == Role::Outbound; },
                [&](const Route&, const EndpointMetrics& e, const std::string& labels) {
                  out.sample("switchboard_retries_total", labels, e.retries.load());
                });

  out.family("switchboard_dead_letters_total", "counter",
             "Messages that failed at this endpoint or step and went to the route's dead letter endpoint.");
  out.endpoints([](const EndpointMetrics& e) { return e.role != Role::DeadLetter; },
                [&](const Route&, const EndpointMetrics& e, const std::string& labels) {
                  out.sample("switchboard_dead_letters_total", labels, e.dead_letters.load());
                });

  out.family("switchboard_abandoned_calls_total", "counter",
             "Calls still running a second past their message's deadline: given up on, the message failed "
             "with a timeout and the worker replaced.");
  out.endpoints([](const EndpointMetrics& e) { return e.role != Role::Inbound; },
                [&](const Route&, const EndpointMetrics& e, const std::string& labels) {
                  out.sample("switchboard_abandoned_calls_total", labels, e.abandoned.load());
                });

  out.family("switchboard_inflight", "gauge",
             "Messages admitted and not finished that are not waiting for a worker: running, or waiting for a "
             "retry.");
  for (const Route* route : out.routes()) {
    const auto admitted = route->inFlight();
    const auto queued = route->queued();
    out.sample("switchboard_inflight", routeLabel(*route), admitted > queued ? admitted - queued : 0);
  }
  out.family("switchboard_queue_depth", "gauge", "Messages admitted and waiting for a worker.");
  for (const Route* route : out.routes()) out.sample("switchboard_queue_depth", routeLabel(*route), route->queued());

  out.family("switchboard_duration_seconds", "histogram",
             "At the inbound (endpoint from): each message from admission to its end. At an outbound endpoint: "
             "each attempt's call.");
  out.endpoints(timed, [&](const Route&, const EndpointMetrics& e, const std::string& labels) {
    const auto snapshot = e.duration.snapshot();
    for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
      out.sample("switchboard_duration_seconds_bucket", labels + ",le=\"" + seconds(Histogram::kBounds[i], 6) + "\"",
                 snapshot.cumulative[i]);
    }
    out.sample("switchboard_duration_seconds_bucket", labels + ",le=\"+Inf\"", snapshot.count);
    out.sample("switchboard_duration_seconds_sum", labels, seconds(snapshot.sum, 12));
    out.sample("switchboard_duration_seconds_count", labels, snapshot.count);
  });

  out.family("switchboard_circuit_state", "gauge",
             "The circuit breaker of an outbound endpoint that has one: 0 closed, 1 half-open, 2 open.");
  for (const Route* route : out.routes()) {
    for (const auto& [endpoint, state] : route->circuits()) {
      out.sample("switchboard_circuit_state", endpointLabels(*route, *endpoint), circuitValue(state));
    }
  }

  out.family("switchboard_route_running", "gauge", "1 while the route takes messages, 0 while it is stopped.");
  for (const Route* route : out.routes()) {
    out.sample("switchboard_route_running", routeLabel(*route), route->running() ? 1 : 0);
  }

  // Counters plugins made (switchboard/metrics.hpp), after the bus's own.
  for (const auto& family : pluginCounters()) {
    out.family(family.name.c_str(), "counter", family.help.c_str());
    for (const auto& [labels, value] : family.series) {
      std::string text;
      for (const auto& [label, label_value] : labels) {
        text += (text.empty() ? "" : ",") + label + "=\"" + labelValue(label_value) + "\"";
      }
      out.sample(family.name.c_str(), text, value);
    }
  }
}

nlohmann::json routeDocument(const Route& route) {
  const auto& intake = route.intakeMetrics();
  nlohmann::json counters = nlohmann::json::object();
  for (std::size_t kind = 0; kind < intake.outcomes.size(); ++kind) {
    counters[std::string(outcomeName(static_cast<Outcome::Kind>(kind)))] = intake.outcomes[kind].load();
  }
  counters["rejected"] = intake.rejected.load();
  // As the gauges: in flight (running or waiting for a retry) and queued (waiting for a worker) apart.
  const auto admitted = route.inFlight();
  const auto queued = route.queued();
  counters["inflight"] = admitted > queued ? admitted - queued : 0;
  counters["queued"] = queued;

  std::map<const EndpointMetrics*, CircuitBreaker::State> circuits;
  for (const auto& [endpoint, state] : route.circuits()) circuits[endpoint] = state;
  nlohmann::json endpoints = nlohmann::json::array();
  for (const EndpointMetrics* e : route.endpointMetrics()) {
    nlohmann::json entry = {{"endpoint", e->id},
                            {"name", e->label},
                            {"adapter", e->adapter},
                            {"plugin", e->plugin},
                            {"role", roleName(e->role)}};
    nlohmann::json errors = nlohmann::json::object();
    for (std::size_t i = 0; i < kErrorKinds.size(); ++i)
      errors[std::string(errorKindName(kErrorKinds[i]))] = e->errors[i].load();
    entry["errors"] = errors;
    if (sends(*e)) {
      entry["ok"] = e->ok.load();
      entry["failed"] = e->failed.load();
    }
    if (e->role == Role::Outbound) entry["retries"] = e->retries.load();
    if (e->role != Role::DeadLetter) entry["dead_letters"] = e->dead_letters.load();
    if (e->role != Role::Inbound) entry["abandoned"] = e->abandoned.load();
    if (auto it = circuits.find(e); it != circuits.end()) entry["circuit"] = circuitName(it->second);
    endpoints.push_back(std::move(entry));
  }
  return {{"id", route.id()},
          {"state", route.running() ? "running" : "stopped"},
          {"description", route.config().description},
          {"banner", route.banner()},
          {"counters", counters},
          {"endpoints", endpoints}};
}

bool authorized(const http::Request& request, const std::string& token) {
  if (token.empty()) return true;
  const std::string* header = request.headers.find("Authorization");
  const std::string expected = "Bearer " + token;
  return header && header->size() == expected.size() &&
         CRYPTO_memcmp(header->data(), expected.data(), expected.size()) == 0;
}

}  // namespace

std::string prometheusText(const Bus& bus) {
  std::string text;
  bus.withRoutes([&](const std::vector<const Route*>& routes) {
    Exposition out(routes);
    writeExposition(out);
    text = out.text();
  });
  return text;
}

std::string routesJson(const Bus& bus) {
  nlohmann::json document = nlohmann::json::array();
  bus.withRoutes([&](const std::vector<const Route*>& routes) {
    for (const Route* route : routes) document.push_back(routeDocument(*route));
  });
  return document.dump(2) + "\n";
}

AdminApi::AdminApi(AdminOptions options, Bus& bus, Reload reload)
    : options_(std::move(options)), bus_(bus), reload_(std::move(reload)) {
  control_thread_ = std::thread([this] { controlLoop(); });
  try {
    serve("/health", "GET", true, [](http::Request&&, http::Respond respond) {
      respond(jsonResponse(200, {{"status", "up"}}));
    });
    serve("/ready", "GET", true, [this](http::Request&&, http::Respond respond) {
      const bool ready = bus_.ready();
      respond(jsonResponse(ready ? 200 : 503, {{"status", ready ? "ready" : "not ready"}}));
    });
    serve("/metrics", "GET", false, [this](http::Request&&, http::Respond respond) {
      http::Response response;
      response.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      response.body = prometheusText(bus_);
      respond(std::move(response));
    });
    serve("/routes", "GET", false, [this](http::Request&&, http::Respond respond) {
      http::Response response;
      response.headers.set("Content-Type", "application/json");
      response.body = routesJson(bus_);
      respond(std::move(response));
    });
    serve("/routes/{id}/stop", "POST", false, [this](http::Request&& request, http::Respond respond) {
      control([this, id = request.path_params["id"], respond] {
        if (bus_.stopRoute(id) == Bus::Control::NotFound) {
          return respond(http::errorResponse(404, "no route '" + id + "'"));
        }
        respond(jsonResponse(200, {{"id", id}, {"state", "stopped"}}));
      });
    });
    serve("/routes/{id}/start", "POST", false, [this](http::Request&& request, http::Respond respond) {
      control([this, id = request.path_params["id"], respond] {
        std::string error;
        switch (bus_.startRoute(id, error)) {
          case Bus::Control::NotFound: return respond(http::errorResponse(404, "no route '" + id + "'"));
          case Bus::Control::Failed:
            return respond(http::errorResponse(500, "route '" + id + "' cannot start: " + error));
          default: return respond(jsonResponse(200, {{"id", id}, {"state", "running"}}));
        }
      });
    });
    serve("/reload", "POST", false, [this](http::Request&&, http::Respond respond) {
      control([this, respond] {
        const auto result = reload_();
        if (result.applied) return respond(jsonResponse(200, {{"reloaded", true}}));
        respond(jsonResponse(400, {{"reloaded", false},
                                   {"error", "the new configuration is invalid; the running routes are unchanged"},
                                   {"errors", result.errors}}));
      });
    });
  } catch (...) {
    registrations_.clear();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    control_thread_.join();
    throw;
  }
}

AdminApi::~AdminApi() {
  registrations_.clear();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  control_thread_.join();
}

void AdminApi::serve(const std::string& path, const std::string& method, bool open, http::Handler handler) {
  http::Endpoint endpoint;
  endpoint.listen = options_.listen;
  endpoint.path = path;
  endpoint.methods = {method};
  endpoint.max_body = 64 * 1024;
  if (open || options_.token.empty()) {
    registrations_.push_back(http::serve(endpoint, std::move(handler)));
    return;
  }
  registrations_.push_back(
      http::serve(endpoint, [this, handler = std::move(handler)](http::Request&& request, http::Respond respond) {
        if (!authorized(request, options_.token)) {
          auto response = http::errorResponse(401, "a bearer token is required");
          response.headers.set("WWW-Authenticate", "Bearer realm=\"switchboard admin\"");
          return respond(std::move(response));
        }
        handler(std::move(request), std::move(respond));
      }));
}

void AdminApi::control(std::function<void()> action) {
  {
    std::lock_guard lock(mutex_);
    actions_.push_back(std::move(action));
  }
  wake_.notify_one();
}

void AdminApi::controlLoop() {
  for (;;) {
    std::function<void()> action;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !actions_.empty(); });
      if (actions_.empty()) return;
      action = std::move(actions_.front());
      actions_.pop_front();
    }
    action();
  }
}

}  // namespace switchboard::core
