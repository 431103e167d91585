#include "plugin_fixture.hpp"

#include <condition_variable>
#include <mutex>

using namespace switchboard;
using namespace switchboard::testing;
using namespace std::chrono_literals;

namespace {
class CountingIntake final : public Intake {
 public:
  Message newMessage() override { return Message(newUuid()); }
  Admission offer(Message message, Completion) override {
    record(std::move(message));
    return Admission::Accepted;
  }
  bool deliver(Message message, Completion) override {
    record(std::move(message));
    return true;
  }
  bool waitForRoom() override { return true; }
  std::vector<Message> waitFor(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
    return messages_;
  }

 private:
  void record(Message message) {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(message));
    changed_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Message> messages_;
};
}  // namespace

TEST_CASE("the timer fires count times with the rendered body", "[timer]") {
  auto timer = makeInbound("timer", {{"period", 20}, {"count", 3}, {"body", "tick ${route.id}"}});
  CountingIntake intake;
  timer->start(intake);
  const auto messages = intake.waitFor(3, 2s);
  // No fourth message after count was reached.
  CHECK(intake.waitFor(4, 100ms).size() == 3);
  timer->stop();
  REQUIRE(messages.size() == 3);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    CHECK(messages[i].body() == "tick test-route");
    CHECK(*messages[i].headers().find("timer.count") == std::to_string(i + 1));
  }
  CHECK(messages[0].id() != messages[1].id());
}

TEST_CASE("stop ends a timer that would run forever", "[timer]") {
  auto timer = makeInbound("timer", {{"period", 10000}});
  CountingIntake intake;
  timer->start(intake);
  CHECK(intake.waitFor(1, 2s).size() == 1);  // the first tick comes at once (delay 0s)
  const auto started = std::chrono::steady_clock::now();
  timer->stop();
  CHECK(std::chrono::steady_clock::now() - started < 1s);
}

TEST_CASE("a period of zero is refused", "[timer]") {
  CHECK_THROWS_AS(makeInbound("timer", {{"period", 0}}), OptionError);
}
