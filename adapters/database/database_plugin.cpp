// Entry point of libswitchboard-database.so: the `database` inbound and outbound adapters.
#include "database_inbound.hpp"
#include "database_outbound.hpp"

namespace {
void registerDatabase(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::database;
  registrar.addInbound(InboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<DatabaseInbound>(InboundOptions::from(options));
  });
  registrar.addOutbound(OutboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<DatabaseOutbound>(OutboundOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("database", "0.1.0", registerDatabase)
