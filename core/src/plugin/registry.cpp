#include "plugin/registry.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <fstream>

namespace switchboard::core {

namespace {
constexpr std::string_view kPrefix = "libswitchboard-";
constexpr std::string_view kSuffix = ".so";

bool isPluginFileName(const std::string& name) {
  return name.size() > kPrefix.size() + kSuffix.size() && name.starts_with(kPrefix) && name.ends_with(kSuffix);
}

std::string componentNameOf(const std::string& file_name) {
  return file_name.substr(kPrefix.size(), file_name.size() - kPrefix.size() - kSuffix.size());
}

// dlopen's message for a file that is not a shared object is long and technical; say it plainly.
std::string describeOpenFailure(const std::filesystem::path& file, const char* dl_error) {
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  if (!in || magic[0] != 0x7f || magic[1] != 'E' || magic[2] != 'L' || magic[3] != 'F') {
    return "not a shared library (no ELF header)";
  }
  return std::string("cannot be loaded: ") + (dl_error ? dl_error : "unknown dlopen error");
}
}  // namespace

Registry::~Registry() {
  // Components hold code of the plugins; drop them before the libraries go.
  inbound_.clear();
  outbound_.clear();
  transforms_.clear();
}

void Registry::loadDirectories(const std::vector<std::filesystem::path>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const auto name = entry.path().filename().string();
      if (isPluginFileName(name)) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const auto name = file.filename().string();
      if (std::find(seen_file_names_.begin(), seen_file_names_.end(), name) != seen_file_names_.end()) continue;
      seen_file_names_.push_back(name);
      loadFile(file);
    }
  }
}

bool Registry::loadFile(const std::filesystem::path& file) {
  const std::string path = file.string();
  auto fail = [&](std::string error) {
    failures_.push_back(PluginFailure{path, std::move(error)});
    return false;
  };
  dlerror();
  // RTLD_NODELETE: code of a plugin stays mapped even after its registry is gone, since a
  // connection or timer of the process may still run into it while the process ends.
  void* raw = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!raw) return fail(describeOpenFailure(file, dlerror()));
  std::unique_ptr<void, int (*)(void*)> handle(raw, &dlclose);

  using EntryPoint = const switchboard_plugin_descriptor* (*)();
  auto entry = reinterpret_cast<EntryPoint>(dlsym(handle.get(), "switchboard_plugin_v1"));
  if (!entry) return fail("not a Switchboard plugin: it does not export 'switchboard_plugin_v1'");
  const switchboard_plugin_descriptor* descriptor = entry();
  if (!descriptor) return fail("'switchboard_plugin_v1' returned no descriptor");
  if (descriptor->abi_major != SWITCHBOARD_ABI_MAJOR || descriptor->abi_minor > SWITCHBOARD_ABI_MINOR) {
    return fail("built for plugin ABI " + std::to_string(descriptor->abi_major) + "." +
                std::to_string(descriptor->abi_minor) + ", but this bus has ABI " +
                std::to_string(SWITCHBOARD_ABI_MAJOR) + "." + std::to_string(SWITCHBOARD_ABI_MINOR) +
                ": rebuild the plugin against this Switchboard's SDK");
  }
  const std::string build_key = descriptor->build_key ? descriptor->build_key : "";
  if (build_key != SWITCHBOARD_BUILD_KEY) {
    return fail("built with an incompatible C++ standard library (plugin: '" + build_key + "', bus: '" +
                SWITCHBOARD_BUILD_KEY + "'): rebuild the plugin with the same toolchain settings");
  }
  if (!descriptor->name || !descriptor->register_components) return fail("descriptor has no name or register function");
  for (const auto& plugin : plugins_) {
    if (plugin.name == descriptor->name) {
      return fail("duplicate plugin name '" + plugin.name + "': already loaded from " + plugin.file);
    }
  }

  PluginInfo info{descriptor->name, descriptor->version ? descriptor->version : "", path, {}};
  loading_ = &info;
  pending_ = Pending{};
  try {
    descriptor->register_components(*this);
  } catch (const std::exception& e) {
    pending_.errors.push_back(std::string("register function threw: ") + e.what());
  } catch (...) {
    pending_.errors.push_back("register function threw a non-standard exception");
  }
  loading_ = nullptr;
  Pending pending = std::move(pending_);
  if (!pending.errors.empty()) {
    // All or nothing: a plugin that cannot register everything registers nothing.
    std::string error;
    for (const auto& e : pending.errors) error += (error.empty() ? "" : "; ") + e;
    return fail(error);
  }
  for (auto& c : pending.inbound) inbound_.emplace(c.spec.name, std::move(c));
  for (auto& c : pending.outbound) outbound_.emplace(c.spec.name, std::move(c));
  for (auto& c : pending.transforms) transforms_.emplace(c.spec.name, std::move(c));
  plugins_.push_back(std::move(info));
  handles_.push_back(std::move(handle));
  return true;
}

template <typename Factory>
void Registry::add(std::map<std::string, Component<Factory>, std::less<>>& registered,
                   std::vector<Component<Factory>>& pending, std::string_view kind, ComponentSpec spec,
                   Factory factory) {
  const std::string file = loading_ ? loading_->file : std::string("(built in)");
  if (auto it = registered.find(spec.name); it != registered.end()) {
    pending_.errors.push_back("duplicate " + std::string(kind) + " '" + spec.name + "': already provided by " +
                              it->second.plugin_file);
    return;
  }
  for (const auto& other : pending) {
    if (other.spec.name == spec.name) {
      pending_.errors.push_back("registers " + std::string(kind) + " '" + spec.name + "' twice");
      return;
    }
  }
  if (loading_) loading_->components.push_back(std::string(kind) + " " + spec.name);
  pending.push_back(Component<Factory>{std::move(spec), std::move(factory), file});
  // Components added outside a plugin's register function (tests, embedding) join at once.
  if (!loading_) {
    auto component = std::move(pending.back());
    pending.pop_back();
    auto name = component.spec.name;
    registered.emplace(std::move(name), std::move(component));
  }
}

void Registry::addInbound(ComponentSpec spec, InboundFactory factory) {
  add(inbound_, pending_.inbound, "inbound", std::move(spec), std::move(factory));
}
void Registry::addOutbound(ComponentSpec spec, OutboundFactory factory) {
  add(outbound_, pending_.outbound, "outbound", std::move(spec), std::move(factory));
}
void Registry::addTransform(ComponentSpec spec, TransformFactory factory) {
  add(transforms_, pending_.transforms, "transform", std::move(spec), std::move(factory));
}

namespace {
template <typename Map>
auto findIn(const Map& map, std::string_view name) -> decltype(&map.begin()->second) {
  auto it = map.find(name);
  return it == map.end() ? nullptr : &it->second;
}
template <typename Map>
std::vector<std::string> namesOf(const Map& map) {
  std::vector<std::string> names;
  for (const auto& [name, _] : map) names.push_back(name);
  return names;
}
}  // namespace

const Component<InboundFactory>* Registry::inbound(std::string_view name) const {
  return findIn(inbound_, name);
}
const Component<OutboundFactory>* Registry::outbound(std::string_view name) const {
  return findIn(outbound_, name);
}
const Component<TransformFactory>* Registry::transform(std::string_view name) const {
  return findIn(transforms_, name);
}
std::vector<std::string> Registry::inboundNames() const {
  return namesOf(inbound_);
}
std::vector<std::string> Registry::outboundNames() const {
  return namesOf(outbound_);
}
std::vector<std::string> Registry::transformNames() const {
  return namesOf(transforms_);
}

const PluginFailure* Registry::failureFor(std::string_view component) const {
  for (const auto& failure : failures_) {
    const auto name = std::filesystem::path(failure.file).filename().string();
    if (isPluginFileName(name) && componentNameOf(name) == component) return &failure;
  }
  return nullptr;
}

}  // namespace switchboard::core

namespace switchboard {

// Defined here, once, so every plugin's splitter shares this type's identity with the route.
Splitter::~Splitter() = default;

Status Splitter::apply(Message&) {
  return Status::permanent("split runs only as a step of a route");
}

}  // namespace switchboard
