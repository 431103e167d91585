// Entry point of libswitchboard-file.so: the `file` inbound and outbound adapters.
#include "file_inbound.hpp"
#include "file_outbound.hpp"

namespace {
void registerFile(switchboard::Registrar& registrar) {
  using namespace switchboard::adapters::file;
  registrar.addInbound(InboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<FileInbound>(InboundOptions::from(options));
  });
  registrar.addOutbound(OutboundOptions::spec(), [](const switchboard::Options& options) {
    return std::make_unique<FileOutbound>(OutboundOptions::from(options));
  });
}
}  // namespace

SWITCHBOARD_PLUGIN("file", "0.1.0", registerFile)
