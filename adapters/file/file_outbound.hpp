#pragma once

#include <filesystem>
#include <string>

#include "switchboard/plugin.hpp"

namespace switchboard::adapters::file {

struct OutboundOptions {
  enum class Mode { Write, Append };
  std::filesystem::path dir;
  Template name;
  Mode mode = Mode::Write;
  bool mkdirs = true;
  bool meta = false;
  bool fsync = false;

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// The path, relative to the endpoint's directory, that a rendered name stands for; an
/// error text when the name is empty, absolute or climbs out with `..`.
std::string checkRelativeName(const std::string& name);

/// The `<name>.meta.json` document: id, content type, headers and properties.
std::string metaDocument(const Message& message);

/// Writes each message's body to a file in a directory; in write mode through a temporary
/// file and a rename, so readers never see half a file.
class FileOutbound final : public OutboundAdapter {
 public:
  explicit FileOutbound(OutboundOptions options) : options_(std::move(options)) {}
  Status send(Message& message) override;
  std::string describe() const override;

 private:
  OutboundOptions options_;
};

}  // namespace switchboard::adapters::file
