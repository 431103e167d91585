#pragma once

/// The bus's HTTP server, shared by every adapter that listens (rest, soap) and by the admin
/// API: endpoints register a path pattern and methods on a listen address; several routes
/// may share one address. HTTP/1.1 with keep-alive; requests on one connection are answered
/// in order (pipelining-safe); optional TLS and mutual TLS.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchboard/message.hpp"

namespace switchboard::http {

struct Request {
  std::string method;
  std::string target;                                      ///< as sent: path and query
  std::string path;                                        ///< percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded, in order
  std::map<std::string, std::string> path_params;          ///< from `{name}` segments
  Headers headers;
  std::string body;
  std::string remote;  ///< peer address
};

struct Response {
  unsigned status = 200;
  Headers headers;
  std::string body;
};

/// Answers a request; call exactly once, from any thread.
using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Respond)>;

struct Tls {
  std::string cert;       ///< PEM certificate chain file
  std::string key;        ///< PEM private key file
  std::string client_ca;  ///< when set, clients must present a certificate signed by it
  bool enabled() const noexcept { return !cert.empty(); }
};

struct Endpoint {
  std::string listen;  ///< host:port
  std::string path = "/";
  std::vector<std::string> methods = {"POST"};
  std::uint64_t max_body = 10 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{30'000};  ///< a whole request must arrive within it
  std::chrono::milliseconds idle_timeout{60'000};  ///< a kept-alive connection may idle this long
  std::chrono::milliseconds answer_timeout{0};     ///< 0: none; else 504 when the handler is slower
  Tls tls;
};

/// Serves an endpoint while it lives.
class Registration {
 public:
  virtual ~Registration() = default;
};

/// Starts serving `endpoint`, binding its address unless another endpoint already did.
/// Throws std::runtime_error when the address cannot be bound, the TLS files cannot be read,
/// or the address is already served with different TLS settings or the same path and method.
std::unique_ptr<Registration> serve(const Endpoint& endpoint, Handler handler);

/// An error text for a path pattern that cannot be served, empty when it is fine.
std::string checkPathPattern(const std::string& pattern);

/// A JSON error answer: {"error": text, "status": status}.
Response errorResponse(unsigned status, const std::string& text);

}  // namespace switchboard::http
