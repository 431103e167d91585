// Entry point of libswitchboard-timer.so: the `timer` inbound adapter.
#include "timer_inbound.hpp"

namespace {
void registerTimer(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::timer;
  registrar.addInbound(TimerOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<TimerInbound>(TimerOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("timer", "0.1.0", registerTimer)
