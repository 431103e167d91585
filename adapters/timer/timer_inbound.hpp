#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::timer {

struct TimerOptions {
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds delay{0};
  std::int64_t count = 0;  ///< 0: forever
  Template body;

  static ComponentSpec spec();
  static TimerOptions from(const Options& options);
};

/// Produces a message every `period`, `count` times or forever. A tick waits while the
/// route's queue is full rather than piling up messages.
class TimerInbound final : public InboundAdapter {
 public:
  explicit TimerInbound(TimerOptions options) : options_(std::move(options)) {}
  ~TimerInbound() override { stop(); }

  void start(Intake& intake) override;
  void stop() override;
  std::string describe() const override;

 private:
  void loop(Intake& intake);

  TimerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace switchboard::adapters::timer
