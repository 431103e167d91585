#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/plugin.hpp"

namespace switchboard::core {

/// A loaded plugin file.
struct PluginInfo {
  std::string name;
  std::string version;
  std::string file;
  std::vector<std::string> components;  ///< "inbound file", "transform set-body", ...
};

/// A plugin file that could not be used, and why.
struct PluginFailure {
  std::string file;
  std::string error;
};

template <typename Factory>
struct Component {
  ComponentSpec spec;
  Factory factory;
  std::string plugin_file;
};

/// Every adapter and transform known to the bus, from the plugin files it loaded. Plugin
/// libraries stay loaded until the registry is destroyed, after every instance is gone.
class Registry final : public Registrar {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry() override;

  /// Loads every `libswitchboard-<name>.so` in `dirs`. A file name found in an earlier
  /// directory shadows the same name in later ones. Failures are recorded, not thrown:
  /// a broken plugin matters only when a route uses what it would have provided.
  void loadDirectories(const std::vector<std::filesystem::path>& dirs);
  /// Loads one plugin file; returns false and records the failure when it cannot.
  bool loadFile(const std::filesystem::path& file);

  const Component<InboundFactory>* inbound(std::string_view name) const;
  const Component<OutboundFactory>* outbound(std::string_view name) const;
  const Component<TransformFactory>* transform(std::string_view name) const;
  std::vector<std::string> inboundNames() const;
  std::vector<std::string> outboundNames() const;
  std::vector<std::string> transformNames() const;

  /// The failure of the plugin file that would provide `component` (by its file name).
  const PluginFailure* failureFor(std::string_view component) const;
  const std::vector<PluginInfo>& plugins() const noexcept { return plugins_; }
  const std::vector<PluginFailure>& failures() const noexcept { return failures_; }

  void addInbound(ComponentSpec spec, InboundFactory factory) override;
  void addOutbound(ComponentSpec spec, OutboundFactory factory) override;
  void addTransform(ComponentSpec spec, TransformFactory factory) override;

 private:
  template <typename Factory>
  void add(std::map<std::string, Component<Factory>, std::less<>>& registered, std::vector<Component<Factory>>& pending,
           std::string_view kind, ComponentSpec spec, Factory factory);

  /// What the plugin being loaded registered; it joins the registry only if all of it can.
  struct Pending {
    std::vector<Component<InboundFactory>> inbound;
    std::vector<Component<OutboundFactory>> outbound;
    std::vector<Component<TransformFactory>> transforms;
    std::vector<std::string> errors;
  };

  // Declared first so that it is destroyed last: the components below hold plugin code.
  std::vector<std::unique_ptr<void, int (*)(void*)>> handles_;
  std::map<std::string, Component<InboundFactory>, std::less<>> inbound_;
  std::map<std::string, Component<OutboundFactory>, std::less<>> outbound_;
  std::map<std::string, Component<TransformFactory>, std::less<>> transforms_;
  std::vector<PluginInfo> plugins_;
  std::vector<PluginFailure> failures_;
  std::vector<std::string> seen_file_names_;
  PluginInfo* loading_ = nullptr;  // the plugin whose register function is running
  Pending pending_;
};

}  // namespace switchboard::core
