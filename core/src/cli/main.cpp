// The `switchboard` command: run, validate, plugins, version.
#include <signal.h>
#include <unistd.h>
#include <csignal>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>

#include <boost/program_options.hpp>

#include "admin/admin_api.hpp"
#include "config/loader.hpp"
#include "runtime/bus.hpp"
#include "testing/route_cases.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace switchboard;
using namespace switchboard::core;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalidConfig = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

constexpr const char* kVersion = SWITCHBOARD_VERSION;

const char* kUsage =
    "usage: switchboard <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [PATH...]            run the routes in PATH (files or directories; default ./routes)\n"
    "  validate PATH...         check route files as a start would, start nothing\n"
    "  test PATH... --cases FILE...  run route test cases in-process, outbound endpoints mocked\n"
    "  plugins [--describe NAME]  list plugins, or every option of one adapter or transform\n"
    "  version                  print the version\n"
    "\n"
    "Run 'switchboard <command> --help' for a command's options.\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

fs::path binaryDirectory() {
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

/// Plugin directories in search order: --plugins, route files' `plugins:`,
/// $SWITCHBOARD_PLUGIN_PATH, the installed plugin directory (<prefix>/<libdir>/switchboard/plugins,
/// found from the binary's own location), <binary dir>/plugins (a build tree).
std::vector<fs::path> pluginSearchPath(const std::vector<std::string>& cli_dirs,
                                       const std::vector<fs::path>& file_dirs) {
  std::vector<fs::path> dirs(cli_dirs.begin(), cli_dirs.end());
  dirs.insert(dirs.end(), file_dirs.begin(), file_dirs.end());
  if (const char* env = std::getenv("SWITCHBOARD_PLUGIN_PATH")) {
    std::stringstream list(env);
    for (std::string dir; std::getline(list, dir, ':');) {
      if (!dir.empty()) dirs.emplace_back(dir);
    }
  }
  const auto bin = binaryDirectory();
  dirs.push_back(bin.parent_path() / SWITCHBOARD_PLUGIN_INSTALL_DIR);
  dirs.push_back(bin / "plugins");
  return dirs;
}

struct Loaded {
  std::unique_ptr<Registry> registry = std::make_unique<Registry>();
  std::vector<RouteConfig> routes;
  std::size_t files = 0;
  Diagnostics diagnostics;
};

void loadConfiguration(Loaded& loaded, const std::vector<std::string>& paths,
                       const std::vector<std::string>& plugin_dirs) {
  const auto files = routeFiles(paths, loaded.diagnostics);
  loaded.files = files.size();
  const auto documents = parseRouteFiles(files, loaded.diagnostics);
  const auto file_dirs = pluginDirectories(documents, loaded.diagnostics);
  loaded.registry->loadDirectories(pluginSearchPath(plugin_dirs, file_dirs));
  for (const auto& failure : loaded.registry->failures()) {
    log(LogLevel::Warn, "plugin not loaded: " + failure.error, {{"file", failure.file}});
  }
  loaded.routes = buildRoutes(documents, *loaded.registry, loaded.diagnostics);
}

void printDiagnostics(const Diagnostics& diagnostics) {
  for (const auto& diagnostic : diagnostics.items()) std::cerr << diagnostic << '\n';
  std::cerr << diagnostics.size() << (diagnostics.size() == 1 ? " error\n" : " errors\n");
}

po::variables_map parse(const std::vector<std::string>& args, po::options_description& options,
                        const char* positional_name, const char* usage) {
  options.add_options()("help,h", "show this help");
  po::options_description hidden;
  hidden.add_options()(positional_name, po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add(positional_name, -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (vm.count("help")) {
    std::cout << usage << "\n" << options;
    std::exit(kExitOk);
  }
  return vm;
}

std::vector<std::string> strings(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
}

void configureLogging(const std::string& level_text, const std::string& format) {
  const auto level = parseLogLevel(level_text);
  if (!level) throw UsageError("--log-level must be trace, debug, info, warn or error, not '" + level_text + "'");
  bool json = !isatty(STDERR_FILENO);
  if (format == "json") {
    json = true;
  } else if (format == "text") {
    json = false;
  } else if (!format.empty()) {
    throw UsageError("--log-format must be text or json, not '" + format + "'");
  }
  Logger::instance().configure(*level, json);
}

int commandValidate(const std::vector<std::string>& args) {
  po::options_description options("validate options");
  options.add_options()("plugins", po::value<std::vector<std::string>>(), "add a plugin directory (repeatable)");
  const auto vm = parse(args, options, "path", "usage: switchboard validate PATH...");
  const auto paths = strings(vm, "path");
  if (paths.empty()) throw UsageError("validate needs at least one route file or directory");
  Logger::instance().configure(LogLevel::Error, false);
  Loaded loaded;
  loadConfiguration(loaded, paths, strings(vm, "plugins"));
  // The routes the loader kept are built too, so the components' own checks report as well.
  Bus::create(loaded.routes, *loaded.registry, loaded.diagnostics);
  if (!loaded.diagnostics.empty()) {
    printDiagnostics(loaded.diagnostics);
    return kExitInvalidConfig;
  }
  std::cout << "ok: " << loaded.routes.size() << " route(s) in " << loaded.files << " file(s)\n";
  return kExitOk;
}

int commandTest(const std::vector<std::string>& args) {
  po::options_description options("test options");
  options.add_options()("plugins", po::value<std::vector<std::string>>(), "add a plugin directory (repeatable)")(
      "cases", po::value<std::vector<std::string>>()->multitoken(), "case files (YAML, `cases:`)");
  const auto vm = parse(args, options, "path", "usage: switchboard test PATH... --cases FILE...");
  const auto paths = strings(vm, "path");
  const auto case_files = strings(vm, "cases");
  if (paths.empty()) throw UsageError("test needs the route files or directories the cases run against");
  if (case_files.empty()) throw UsageError("test needs --cases FILE (one or more)");
  Logger::instance().configure(LogLevel::Error, false);
  Loaded loaded;
  loadConfiguration(loaded, paths, strings(vm, "plugins"));
  const std::vector<fs::path> files(case_files.begin(), case_files.end());
  const auto cases = loadCases(files, loaded.routes, loaded.diagnostics);
  if (!loaded.diagnostics.empty()) {
    printDiagnostics(loaded.diagnostics);
    return kExitInvalidConfig;
  }
  std::size_t passed = 0;
  for (const auto& test : cases) {
    const auto route = std::find_if(loaded.routes.begin(), loaded.routes.end(),
                                    [&](const RouteConfig& config) { return config.id == test.route; });
    const auto result = runCase(test, *route, *loaded.registry);
    std::cout << (result.passed ? "PASS  " : "FAIL  ") << test.route << ": " << test.name << "\n";
    for (const auto& failure : result.failures) {
      // A failure's first line under the case, the lines of its diff or body further in.
      std::istringstream lines(failure);
      std::string line;
      for (bool first = true; std::getline(lines, line); first = false) {
        std::cout << (first ? "      " : "        ") << line << "\n";
      }
    }
    if (result.passed) ++passed;
  }
  std::cout << passed << " passed, " << cases.size() - passed << " failed\n";
  return passed == cases.size() ? kExitOk : kExitInvalidConfig;
}

void printSpec(const char* kind, const ComponentSpec& spec, const std::string& file) {
  std::cout << spec.name << " (" << kind << ", " << file << ")\n  " << spec.summary << "\n";
  if (spec.valueForm()) {
    const auto& only = spec.options[0];
    std::cout << "  value: " << optionTypeName(only.type) << (only.required ? ", required" : "") << " - " << only.doc
              << "\n";
    return;
  }
  if (spec.options.empty()) std::cout << "  (no options)\n";
  for (const auto& option : spec.options) {
    std::cout << "  " << option.name << ": " << optionTypeName(option.type);
    if (!option.choices.empty()) {
      std::cout << " (";
      for (std::size_t i = 0; i < option.choices.size(); ++i) std::cout << (i ? "|" : "") << option.choices[i];
      std::cout << ")";
    }
    if (option.required) std::cout << ", required";
    if (!option.default_value.empty()) std::cout << ", default " << option.default_value;
    std::cout << " - " << option.doc << "\n";
  }
}

/// The same schema as a Markdown table, the form the adapter READMEs and docs embed.
void printSpecMarkdown(const char* kind, const ComponentSpec& spec) {
  std::cout << "### `" << spec.name << "` " << kind << "\n\n" << spec.summary << "\n\n";
  if (spec.options.empty()) {
    std::cout << "No options.\n\n";
    return;
  }
  std::cout << "| option | type | default | description |\n|---|---|---|---|\n";
  for (const auto& option : spec.options) {
    std::string type(optionTypeName(option.type));
    for (std::size_t i = 0; i < option.choices.size(); ++i) type += (i ? " \\| " : ": ") + option.choices[i];
    const std::string name = option.name.empty() ? "(value)" : "`" + option.name + "`";
    const std::string fallback = option.required                ? "required"
                                 : option.default_value.empty() ? "-"
                                                                : "`" + option.default_value + "`";
    std::cout << "| " << name << " | " << type << " | " << fallback << " | " << option.doc << " |\n";
  }
  std::cout << "\n";
}

int commandPlugins(const std::vector<std::string>& args) {
  po::options_description options("plugins options");
  options.add_options()("plugins", po::value<std::vector<std::string>>(), "add a plugin directory (repeatable)")(
      "describe", po::value<std::string>(), "print every option of the named adapter or transform")(
      "markdown", "with --describe: print the options as Markdown tables");
  const auto vm = parse(args, options, "unexpected", "usage: switchboard plugins [--describe NAME]");
  if (vm.count("unexpected")) throw UsageError("plugins takes no positional arguments");
  Logger::instance().configure(LogLevel::Error, false);
  Registry registry;
  registry.loadDirectories(pluginSearchPath(strings(vm, "plugins"), {}));
  if (vm.count("describe")) {
    const auto name = vm["describe"].as<std::string>();
    const bool markdown = vm.count("markdown") > 0;
    bool found = false;
    auto print = [&](const char* kind, const auto* component) {
      if (!component) return;
      found = true;
      if (markdown) {
        printSpecMarkdown(kind, component->spec);
      } else {
        printSpec(kind, component->spec, component->plugin_file);
      }
    };
    print("inbound", registry.inbound(name));
    print("outbound", registry.outbound(name));
    print("transform", registry.transform(name));
    if (!found) {
      std::cerr << "no adapter or transform named '" << name << "'";
      if (const auto* failure = registry.failureFor(name))
        std::cerr << ": plugin " << failure->file << " " << failure->error;
      std::cerr << "\n";
      return kExitInvalidConfig;
    }
    return kExitOk;
  }
  for (const auto& plugin : registry.plugins()) {
    std::cout << plugin.name << " " << plugin.version << " " << plugin.file << "\n";
    for (const auto& component : plugin.components) std::cout << "  " << component << "\n";
  }
  for (const auto& failure : registry.failures())
    std::cout << "not loaded: " << failure.file << ": " << failure.error << "\n";
  return kExitOk;
}

sigset_t handledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

int commandRun(const std::vector<std::string>& args) {
  po::options_description options("run options");
  options.add_options()("plugins", po::value<std::vector<std::string>>(), "add a plugin directory (repeatable)")(
      "log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error")(
      "log-format", po::value<std::string>()->default_value(""), "text|json (default: text on a terminal, else json)")(
      "drain-timeout", po::value<std::string>()->default_value("10s"),
      "on SIGTERM/SIGINT, how long to let messages in flight finish")(
      "admin", po::value<std::string>()->default_value("127.0.0.1:9090"),
      "HOST:PORT of the admin API (health, metrics, routes, reload), or off");
  const auto vm = parse(args, options, "path", "usage: switchboard run [PATH...]");
  configureLogging(vm["log-level"].as<std::string>(), vm["log-format"].as<std::string>());
  std::chrono::milliseconds drain_timeout{};
  try {
    drain_timeout = parseDuration(vm["drain-timeout"].as<std::string>());
  } catch (const std::exception&) {
    throw UsageError("--drain-timeout must be a duration like 10s, not '" + vm["drain-timeout"].as<std::string>() +
                     "'");
  }
  auto paths = strings(vm, "path");
  if (paths.empty()) paths.push_back("routes");
  const auto plugin_dirs = strings(vm, "plugins");
  const auto admin_listen = vm["admin"].as<std::string>();
  if (admin_listen != "off" && admin_listen.find(':') == std::string::npos) {
    throw UsageError("--admin must be HOST:PORT or off, not '" + admin_listen + "'");
  }

  // Signals are taken by sigwait on this thread; block them before any other thread starts.
  const sigset_t signals = handledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer that resets a connection must cost an error on that connection, not the process:
  // TLS libraries write with plain write(2), which raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<Loaded>> retired;  // registries of replaced configurations; outlive the bus
  auto loaded = std::make_unique<Loaded>();
  loadConfiguration(*loaded, paths, plugin_dirs);
  auto bus = Bus::create(loaded->routes, *loaded->registry, loaded->diagnostics);
  if (!loaded->diagnostics.empty()) {
    printDiagnostics(loaded->diagnostics);
    return kExitInvalidConfig;
  }

  // Reload (SIGHUP or POST /reload): the new configuration is built and checked first; only
  // a valid one replaces the changed routes, and unchanged ones run on untouched.
  std::mutex reload_mutex;
  auto reload = [&](const char* cause) {
    std::lock_guard lock(reload_mutex);
    log(LogLevel::Info, std::string("reload requested (") + cause + ")");
    auto next = std::make_unique<Loaded>();
    loadConfiguration(*next, paths, plugin_dirs);
    if (next->diagnostics.empty()) bus->reload(next->routes, *next->registry, next->diagnostics, drain_timeout);
    ReloadResult result;
    if (!next->diagnostics.empty()) {
      for (const auto& d : next->diagnostics.items()) {
        std::ostringstream text;
        text << d;
        result.errors.push_back(text.str());
        log(LogLevel::Error, "reload rejected, the running routes are unchanged: " + text.str());
      }
      return result;
    }
    // Routes kept from before hold code of the plugins the old registry loaded: it stays.
    retired.push_back(std::move(loaded));
    loaded = std::move(next);
    result.applied = true;
    return result;
  };

  // The admin API answers before the routes start, so /ready says 503 until they are up.
  std::unique_ptr<AdminApi> admin;
  if (admin_listen != "off") {
    AdminOptions admin_options;
    admin_options.listen = admin_listen;
    if (const char* token = std::getenv("SWITCHBOARD_ADMIN_TOKEN")) admin_options.token = token;
    try {
      admin = std::make_unique<AdminApi>(admin_options, *bus, [&] { return reload("POST /reload"); });
    } catch (const std::exception& e) {
      log(LogLevel::Error, std::string("admin API cannot start: ") + e.what());
      return kExitRuntime;
    }
    log(LogLevel::Info, "admin API on http://" + admin_listen + " (/health, /ready, /metrics, /routes, /reload)");
  }
  try {
    bus->start();
  } catch (const std::exception& e) {
    log(LogLevel::Error, e.what());
    admin.reset();
    bus->stop(drain_timeout);
    return kExitRuntime;
  }
  log(LogLevel::Info, "ready: " + std::to_string(bus->routeCount()) + " route(s) running", {{"version", kVersion}});

  for (;;) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    reload("SIGHUP");
  }

  admin.reset();  // no control action runs from here on
  log(LogLevel::Info, "stopping: intake closed, draining messages in flight");
  const auto left = bus->stop(drain_timeout);
  log(LogLevel::Info,
      left == 0 ? "stopped" : "stopped with messages left unacknowledged; they are redelivered at the next start");
  if (left != 0) std::_Exit(kExitOk);  // workers stuck in plugin calls still use the routes
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "run") return commandRun(args);
    if (command == "validate") return commandValidate(args);
    if (command == "test") return commandTest(args);
    if (command == "plugins") return commandPlugins(args);
    if (command == "version" || command == "--version") {
      std::cout << "switchboard " << kVersion << " (plugin ABI " << SWITCHBOARD_ABI_MAJOR << "."
                << SWITCHBOARD_ABI_MINOR << ")\n";
      return kExitOk;
    }
    throw UsageError("unknown command '" + command + "'");
  } catch (const UsageError& e) {
    std::cerr << "switchboard: " << e.what() << "\n\n" << kUsage;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "switchboard: " << e.what() << "\n";
    return kExitRuntime;
  }
}
