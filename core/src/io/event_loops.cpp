// The event loops: one single-threaded io_context per core.
#include "io/event_loops.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "switchboard/log.hpp"

namespace switchboard::io {

namespace asio = boost::asio;

namespace {

thread_local EventLoop* current_loop = nullptr;

class AsioWatch final : public EventLoop::Watch {
 public:
  AsioWatch(asio::io_context& io, int socket, std::function<void(unsigned)> ready)
      : state_(std::make_shared<State>(io, socket, std::move(ready))) {}
  ~AsioWatch() override {
    state_->closed = true;
    // Cancels the pending waits and leaves the socket open: it belongs to the plugin.
    state_->descriptor.release();
  }

  void want(unsigned events) override {
    state_->wanted = events;
    arm(state_, EventLoop::kReadable);
    arm(state_, EventLoop::kWritable);
  }

 private:
  struct State {
    State(asio::io_context& io, int socket, std::function<void(unsigned)> r)
        : descriptor(io, socket), ready(std::move(r)) {}
    asio::posix::stream_descriptor descriptor;
    std::function<void(unsigned)> ready;
    unsigned wanted = EventLoop::kNone;
    unsigned waiting = EventLoop::kNone;  // waits in progress
    bool closed = false;
  };

  // One wait per direction at a time; a wait that completes re-arms while still wanted. The
  // state outlives the watch while a wait is pending, since `ready` may destroy the watch.
  static void arm(const std::shared_ptr<State>& state, unsigned event) {
    if (!(state->wanted & event) || (state->waiting & event)) return;
    state->waiting |= event;
    const auto type = event == EventLoop::kReadable ? asio::posix::descriptor_base::wait_read
                                                    : asio::posix::descriptor_base::wait_write;
    state->descriptor.async_wait(type, [state, event](const boost::system::error_code& ec) {
      state->waiting &= ~event;
      if (state->closed || ec == asio::error::operation_aborted) return;
      if (!(state->wanted & event)) return;
      state->ready(ec ? EventLoop::kReadable | EventLoop::kWritable : event);
      if (!state->closed) arm(state, event);
    });
  }

  std::shared_ptr<State> state_;
};

// Moving the deadline later does not touch the Asio timer: when it fires early it sleeps
// again. Deadlines move with nearly every transfer step, so this saves most timer updates.
class AsioTimer final : public EventLoop::Timer {
 public:
  AsioTimer(asio::io_context& io, std::function<void()> expired)
      : state_(std::make_shared<State>(io, std::move(expired))) {}
  ~AsioTimer() override {
    state_->closed = true;
    state_->timer.cancel();
  }

  void at(EventLoop::Clock::time_point deadline) override {
    state_->deadline = deadline;
    if (state_->armed && state_->armed_for <= deadline) return;
    arm(state_, deadline);
  }
  void cancel() override { state_->deadline = EventLoop::Clock::time_point::max(); }

 private:
  struct State {
    State(asio::io_context& io, std::function<void()> e) : timer(io), expired(std::move(e)) {}
    asio::steady_timer timer;
    std::function<void()> expired;
    EventLoop::Clock::time_point deadline = EventLoop::Clock::time_point::max();
    EventLoop::Clock::time_point armed_for{};
    bool armed = false;
    unsigned generation = 0;  // tells a superseded wait from the current one
    bool closed = false;
  };

  static void arm(const std::shared_ptr<State>& state, EventLoop::Clock::time_point when) {
    state->armed = true;
    state->armed_for = when;
    const unsigned generation = ++state->generation;
    state->timer.expires_at(when);
    state->timer.async_wait([state, generation](const boost::system::error_code&) {
      if (state->closed || generation != state->generation) return;
      state->armed = false;
      if (state->deadline == EventLoop::Clock::time_point::max()) return;
      if (EventLoop::Clock::now() < state->deadline) return arm(state, state->deadline);
      state->deadline = EventLoop::Clock::time_point::max();
      state->expired();
    });
  }

  std::shared_ptr<State> state_;
};

class AsioLoop final : public EventLoop {
 public:
  // Concurrency hint 1: one thread runs this context, which spares Asio some locking.
  AsioLoop() : io_(1), guard_(asio::make_work_guard(io_)) {
    std::thread([this] {
      current_loop = this;
      for (;;) {
        try {
          io_.run();
          return;
        } catch (const std::exception& e) {
          log(LogLevel::Error, std::string("event loop: ") + e.what());
        }
      }
    }).detach();
  }

  void post(std::function<void()> task) override { asio::post(io_, std::move(task)); }
  std::unique_ptr<Watch> watch(int socket, std::function<void(unsigned)> ready) override {
    return std::make_unique<AsioWatch>(io_, socket, std::move(ready));
  }
  std::unique_ptr<Timer> timer(std::function<void()> expired) override {
    return std::make_unique<AsioTimer>(io_, std::move(expired));
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
};

// Never destroyed: connections and transfers may still run while the process ends.
std::vector<AsioLoop*>& allLoops() {
  static auto* loops = [] {
    auto* made = new std::vector<AsioLoop*>();
    const unsigned count = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < count; ++i) made->push_back(new AsioLoop());
    return made;
  }();
  return *loops;
}

}  // namespace

std::size_t loopCount() {
  return allLoops().size();
}

EventLoop& loop(std::size_t index) {
  return *allLoops().at(index);
}

asio::io_context& context(EventLoop& loop) {
  return static_cast<AsioLoop&>(loop).io();
}

}  // namespace switchboard::io

namespace switchboard {

EventLoop* EventLoop::current() noexcept {
  return io::current_loop;
}

EventLoop& EventLoop::any() {
  static std::atomic<std::size_t> turn{0};
  return io::loop(turn.fetch_add(1, std::memory_order_relaxed) % io::loopCount());
}

}  // namespace switchboard
