#pragma once
// An intake for testing inbound adapters without a route: each message is answered, from a
// thread of its own, with the outcome the test picks for it.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "switchboard/plugin.hpp"

namespace switchboard::testing {

class ScriptedIntake final : public Intake {
 public:
  using Decide = std::function<Outcome::Kind(const Message&)>;
  explicit ScriptedIntake(Decide decide) : decide_(std::move(decide)) {}
  /// Every message gets the same outcome.
  explicit ScriptedIntake(Outcome::Kind answer) : decide_([answer](const Message&) { return answer; }) {}
  ~ScriptedIntake() override {
    for (auto& t : threads_) t.join();
  }
  Message newMessage() override { return Message(newUuid()); }
  Admission offer(Message message, Completion done) override {
    deliver(std::move(message), std::move(done));
    return Admission::Accepted;
  }
  bool deliver(Message message, Completion done) override {
    std::lock_guard lock(mutex_);
    const auto kind = decide_(message);
    received_.push_back(message);
    threads_.emplace_back([this, kind, done = std::move(done)] {
      done(Outcome{kind, Status::ok(), std::nullopt});
      std::lock_guard lock(mutex_);
      ++completed_;
      changed_.notify_all();
    });
    return true;
  }
  bool waitForRoom() override { return true; }
  /// The messages received once `count` of them were answered.
  std::vector<Message> waitFor(std::size_t count) {
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, std::chrono::seconds(10), [&] { return completed_ >= count; }));
    return received_;
  }

 private:
  Decide decide_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Message> received_;
  std::vector<std::thread> threads_;
  std::size_t completed_ = 0;
};

}  // namespace switchboard::testing
