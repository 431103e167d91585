#pragma once

/// Route test cases (`switchboard test`, CONTRACT §7): each case sends one message through a
/// route's real steps and guards, with the outbound endpoints answered in-process by mocks,
/// and compares what each endpoint received (and the reply) with what the case expects.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/diagnostics.hpp"
#include "config/route_config.hpp"
#include "plugin/registry.hpp"

namespace switchboard::core {

/// What a mocked endpoint answers: a response that becomes the message (status, headers,
/// body), or a failure (`error`; a status of 500 and up is a retryable failure, 400-499 not).
struct MockAnswer {
  std::optional<int> status;
  std::map<std::string, std::string> headers;
  std::optional<std::string> body;
  std::optional<std::string> error;
};

/// Checks on one message: headers, the body (exact, contained, or equal as JSON).
struct MessageExpectation {
  std::map<std::string, std::string> headers;
  std::optional<std::string> body;
  std::vector<std::string> body_contains;
  std::optional<nlohmann::json> body_json;
  std::optional<int> status;  ///< the reply's http.status (200 when the reply has none)
};

struct EndpointExpectation {
  std::string endpoint;              ///< as written: an index into `to`, a name, an adapter, or dead_letter
  bool received = true;              ///< false: the endpoint must get no message
  std::size_t message = 0;           ///< which of its messages (a split sends several)
  std::optional<std::size_t> count;  ///< how many it must get
  MessageExpectation expect;
  SourceLocation where;
};

struct RouteCase {
  std::string name;
  std::string route;
  std::map<std::string, std::string> input_headers;
  std::string input_body;
  std::map<std::string, MockAnswer> mocks;  ///< by endpoint selector
  std::vector<EndpointExpectation> expect;
  std::optional<std::string> outcome;       ///< delivered, filtered, dead_lettered, failed
  std::optional<MessageExpectation> reply;  ///< the request-reply answer
  SourceLocation where;
};

/// Reads the case files; malformed cases, unknown routes and selectors that name no
/// endpoint are reported at their place.
std::vector<RouteCase> loadCases(const std::vector<std::filesystem::path>& files,
                                 const std::vector<RouteConfig>& routes, Diagnostics& diagnostics);

struct CaseResult {
  bool passed = false;
  std::vector<std::string> failures;  ///< each a line or a few (diffs)
};

/// Runs one case in-process: no inbound starts, no outbound endpoint is called.
CaseResult runCase(const RouteCase& test, const RouteConfig& route, const Registry& registry);

}  // namespace switchboard::core
