// Entry point of libswitchboard-log.so: the `log` outbound adapter and the `log` transform.
#include "log_endpoint.hpp"

namespace {
void registerLog(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::log;
  registrar.addOutbound(LogOptions::spec("Writes a log line per message."), [](const switchboard::Options& options) {
    return std::make_unique<LogEndpoint>(LogOptions::from(options), options.scope().route_id);
  });
  registrar.addTransform(LogOptions::spec("Writes a log line per message and passes it on unchanged."),
                         [](const switchboard::Options& options) {
                           return std::make_unique<LogEndpoint>(LogOptions::from(options), options.scope().route_id);
                         });
}
}  // namespace

SWITCHBOARD_PLUGIN("log", "0.1.0", registerLog)
