// libswitchboard-testkit.so: outbound endpoints that misbehave on purpose, for tests.
//   flaky:   fails (transient) the first `fail_times` attempts of each message, then succeeds;
//            appends "<message id> <attempt>" to <state_dir>/attempts.log for every attempt.
//   explode: throws from send() when the body contains `marker`.
//   hang:    blocks in send() for `seconds` when the body contains `marker` (a stuck call).
//   refuse:  its factory throws `reason`, as a plugin that cannot start.
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "switchboard/plugin.hpp"

namespace {

using namespace switchboard;

class Flaky final : public OutboundAdapter {
 public:
  Flaky(std::int64_t fail_times, std::string state_dir) : fail_times_(fail_times), state_dir_(std::move(state_dir)) {}
  Status send(Message& message) override {
    std::lock_guard lock(mutex_);
    const auto attempt = ++attempts_[message.id()];
    if (!state_dir_.empty()) {
      std::ofstream(state_dir_ + "/attempts.log", std::ios::app) << message.id() << ' ' << attempt << '\n';
    }
    if (attempt <= fail_times_) return Status::transient("flaky: attempt " + std::to_string(attempt) + " fails");
    return Status::ok();
  }
  std::string describe() const override { return "flaky"; }

 private:
  std::int64_t fail_times_;
  std::string state_dir_;
  std::mutex mutex_;
  std::map<std::string, std::int64_t> attempts_;
};

class Explode final : public OutboundAdapter {
 public:
  explicit Explode(std::string marker) : marker_(std::move(marker)) {}
  Status send(Message& message) override {
    if (message.body().find(marker_) != std::string::npos) throw std::runtime_error("explode: marker found");
    return Status::ok();
  }
  std::string describe() const override { return "explode"; }

 private:
  std::string marker_;
};

class Hang final : public OutboundAdapter {
 public:
  Hang(std::string marker, std::int64_t seconds) : marker_(std::move(marker)), seconds_(seconds) {}
  Status send(Message& message) override {
    if (message.body().find(marker_) != std::string::npos) std::this_thread::sleep_for(std::chrono::seconds(seconds_));
    return Status::ok();
  }
  std::string describe() const override { return "hang"; }

 private:
  std::string marker_;
  std::int64_t seconds_;
};

void registerTestkit(Registrar& registrar) {
  registrar.addOutbound(ComponentSpec{"flaky",
                                      "Fails the first attempts of each message.",
                                      {{"fail_times", OptionType::Int, false, "2", "attempts that fail per message"},
                                       {"state_dir", OptionType::String, false, "", "directory for attempts.log"}}},
                        [](const Options& options) {
                          return std::make_unique<Flaky>(options.integer("fail_times"),
                                                         options.has("state_dir") ? options.string("state_dir") : "");
                        });
  registrar.addOutbound(ComponentSpec{"explode",
                                      "Throws on messages whose body contains the marker.",
                                      {{"marker", OptionType::String, false, "BOOM", "text that makes send() throw"}}},
                        [](const Options& options) { return std::make_unique<Explode>(options.string("marker")); });
  registrar.addOutbound(ComponentSpec{"hang",
                                      "Blocks in send() on messages whose body contains the marker.",
                                      {{"marker", OptionType::String, false, "HANG", "text that makes send() block"},
                                       {"seconds", OptionType::Int, false, "3600", "how long send() blocks"}}},
                        [](const Options& options) {
                          return std::make_unique<Hang>(options.string("marker"), options.integer("seconds"));
                        });
  registrar.addOutbound(ComponentSpec{"refuse",
                                      "Cannot be constructed: its factory throws.",
                                      {{"reason", OptionType::String, false, "no licence", "what it throws"}}},
                        [](const Options& options) -> std::unique_ptr<OutboundAdapter> {
                          throw std::runtime_error(options.string("reason"));
                        });
}

}  // namespace

SWITCHBOARD_PLUGIN("testkit", "0.1.0", registerTestkit)
