#include "timer_inbound.hpp"

namespace switchboard::adapters::timer {

ComponentSpec TimerOptions::spec() {
  return ComponentSpec{"timer",
                       "Produces a message every period.",
                       {
                           {"period", OptionType::Duration, true, "", "time between messages"},
                           {"delay", OptionType::Duration, false, "0s", "wait before the first message"},
                           {"count", OptionType::Int, false, "0", "number of messages, 0 for no end"},
                           {"body", OptionType::Template, false, "", "body of each message"},
                       }};
}

TimerOptions TimerOptions::from(const Options& options) {
  TimerOptions o;
  o.period = options.duration("period");
  if (o.period.count() <= 0) throw OptionError("period", "period must be longer than 0ms");
  o.delay = options.duration("delay");
  o.count = options.integer("count");
  if (o.count < 0) throw OptionError("count", "count must be 0 (no end) or more");
  o.body = options.has("body") ? options.templ("body") : Template::compile("", options.scope());
  return o;
}

std::string TimerInbound::describe() const {
  return "timer every " + std::to_string(options_.period.count()) + "ms" +
         (options_.count > 0 ? ", " + std::to_string(options_.count) + " times" : "");
}

void TimerInbound::start(Intake& intake) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this, &intake] { loop(intake); });
}

void TimerInbound::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimerInbound::loop(Intake& intake) {
  auto next = std::chrono::steady_clock::now() + options_.delay;
  for (std::int64_t fired = 0; options_.count == 0 || fired < options_.count;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
    }
    Message message = intake.newMessage();
    message.headers().set("timer.count", std::to_string(++fired));
    message.setBody(options_.body.render(message), "text/plain");
    if (!intake.deliver(std::move(message), nullptr)) return;
    // Fixed rate: the next tick is a period after the previous one was due, not after it ran.
    next += options_.period;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
  }
}

}  // namespace switchboard::adapters::timer
