#pragma once

#include <curl/curl.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "switchboard/event_loop.hpp"

namespace switchboard::adapters::rest {

/// Initialises libcurl once, before its first use rather than at start: its TLS library then
/// stays untouched in a bus that sends no HTTP (about 2 MiB less memory). Thread-safe.
void initCurl();

/// Runs libcurl transfers on one of the bus's event loops, through libcurl's socket
/// interface: no thread of its own, and a route served on that loop continues on it when a
/// transfer finishes. One per loop, shared by every rest endpoint, so kept-alive connections
/// serve them all. Everything here runs on the loop's thread.
class CurlMulti {
 public:
  using Completion = std::function<void(CURL* handle, CURLcode result)>;

  /// The calling loop's multi handle, made on first use; it lives as long as the process.
  static CurlMulti& of(EventLoop& loop);

  /// A reset easy handle from the pool (a new one when the pool is empty); nullptr when
  /// libcurl cannot make one.
  CURL* acquire();
  /// Starts `handle`, fully set up; `done` runs once it finished, after which the handle
  /// goes back to the pool.
  void start(CURL* handle, Completion done);

 private:
  explicit CurlMulti(EventLoop& loop);
  static int onSocket(CURL* handle, curl_socket_t socket, int what, void* self, void* socket_data);
  static int onTimer(CURLM* multi, long timeout_ms, void* self);
  static int onClose(void* self, curl_socket_t socket);
  void act(curl_socket_t socket, int events);
  void finishDone();

  EventLoop& loop_;
  CURLM* multi_;
  std::unique_ptr<EventLoop::Timer> timer_;
  std::unordered_map<curl_socket_t, std::unique_ptr<EventLoop::Watch>> watches_;
  std::unordered_map<CURL*, Completion> running_;
  std::vector<CURL*> idle_;
  bool kick_posted_ = false;
};

}  // namespace switchboard::adapters::rest
