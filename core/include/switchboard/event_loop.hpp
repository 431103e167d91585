#pragma once

/// The bus's I/O threads, for plugins that wait on sockets without a thread of their own: an
/// HTTP client, a broker connection. Each loop is one thread, and everything a loop calls back
/// runs on that thread, one callback at a time: state touched only from one loop's callbacks
/// needs no lock. The HTTP server serves its connections on the same loops, so a route that
/// answers a request after calling another system runs from end to end on one thread.

#include <chrono>
#include <functional>
#include <memory>

namespace switchboard {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  /// What a watch waits for, and what happened: a bit set.
  enum Events : unsigned { kNone = 0, kReadable = 1, kWritable = 2 };

  /// Watches a socket the plugin owns, until destroyed; destroy it before closing the socket.
  /// Make, change and destroy it on its loop's thread only.
  class Watch {
   public:
    virtual ~Watch() = default;
    /// What to wait for from now on (kReadable | kWritable, or kNone to pause).
    virtual void want(unsigned events) = 0;
  };

  /// A deadline that calls back once when it passes; setting it again moves it.
  /// Make, set and destroy it on its loop's thread only.
  class Timer {
   public:
    virtual ~Timer() = default;
    virtual void at(Clock::time_point deadline) = 0;
    virtual void cancel() = 0;
  };

  virtual ~EventLoop() = default;

  /// The loop of the calling thread, or nullptr when it is not one of the bus's I/O threads.
  static EventLoop* current() noexcept;
  /// A loop for work that begins elsewhere; the loops take turns. Thread-safe.
  static EventLoop& any();

  /// Runs `task` on this loop's thread, after the callback running now. Thread-safe.
  virtual void post(std::function<void()> task) = 0;
  /// Calls `ready` with what happened (an error or hang-up counts as both) each time the
  /// socket is ready for what the watch wants; it starts wanting nothing.
  virtual std::unique_ptr<Watch> watch(int socket, std::function<void(unsigned events)> ready) = 0;
  virtual std::unique_ptr<Timer> timer(std::function<void()> expired) = 0;
};

}  // namespace switchboard
