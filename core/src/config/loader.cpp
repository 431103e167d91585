#include "config/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <thread>

#include "util/suggest.hpp"

namespace switchboard::core {

namespace {

std::string kindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string withSuggestion(std::string message, const std::string& name, const std::vector<std::string>& known) {
  if (auto near = closestName(name, known)) message += "; did you mean '" + *near + "'?";
  return message;
}

/// Walks one document, producing locations and errors as it goes.
class Checker {
 public:
  Checker(const std::string& file, Diagnostics& diagnostics) : file_(file), diagnostics_(diagnostics) {}

  SourceLocation at(const YAML::Node& node, const std::string& path, const SourceLocation* fallback = nullptr) const {
    const auto mark = node.Mark();
    if (mark.line < 0) {
      if (fallback) return SourceLocation{fallback->file, fallback->line, fallback->column, path};
      return SourceLocation{file_, 0, 0, path};
    }
    return SourceLocation{file_, mark.line + 1, mark.column + 1, path};
  }

  /// Where the text of a scalar starts, so that an offset into it is a column: yaml-cpp marks
  /// the opening quote of a quoted scalar and the `|` or `>` of a block scalar, whose text
  /// starts on the next line that is not blank.
  SourceLocation textAt(const YAML::Node& node, const std::string& path, const SourceLocation* fallback = nullptr) {
    auto where = at(node, path, fallback);
    if (!node.IsScalar() || node.Tag() != "!" || node.Mark().line < 0) return where;
    const auto* line = sourceLine(where.line);
    if (!line || where.column > static_cast<int>(line->size())) {
      ++where.column;  // no source to look at (a document not read from a file): most likely a quote
      return where;
    }
    const char first = (*line)[where.column - 1];
    if (first == '"' || first == '\'') {
      ++where.column;
    } else if (first == '|' || first == '>') {
      for (int number = where.line + 1; (line = sourceLine(number)) != nullptr; ++number) {
        const auto indent = line->find_first_not_of(' ');
        if (indent == std::string::npos) continue;
        where.line = number;
        where.column = static_cast<int>(indent) + 1;
        break;
      }
    }
    return where;
  }

  /// Line `number` (1-based) of the file, read when first needed; null when there is none.
  const std::string* sourceLine(int number) {
    if (!source_) {
      source_.emplace();
      std::ifstream in(file_);
      for (std::string line; std::getline(in, line);) source_->push_back(line);
    }
    if (number < 1 || number > static_cast<int>(source_->size())) return nullptr;
    return &(*source_)[number - 1];
  }

  void error(const SourceLocation& where, std::string message) { diagnostics_.error(where, std::move(message)); }

  /// The entries of a map node in order, reporting duplicate keys.
  std::vector<std::pair<YAML::Node, YAML::Node>> entries(const YAML::Node& map, const std::string& path) {
    std::vector<std::pair<YAML::Node, YAML::Node>> out;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const auto key = it->first.Scalar();
      if (!seen.insert(key).second) {
        error(at(it->first, join(path, key)), "duplicate key '" + key + "'");
        continue;
      }
      out.emplace_back(it->first, it->second);
    }
    return out;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  /// Resolves ${env.NAME} and ${env.NAME:-default}. In template text an inserted value's
  /// `${` is escaped so it stays literal; in plain text `$${` becomes `${`.
  std::optional<std::string> resolveEnv(const std::string& text, bool template_text, const SourceLocation& where) {
    std::string out;
    bool ok = true;
    std::size_t i = 0;
    while (i < text.size()) {
      if (text.compare(i, 3, "$${") == 0) {
        out += template_text ? "$${" : "${";
        i += 3;
      } else if (text.compare(i, 6, "${env.") == 0) {
        const auto close = text.find('}', i);
        if (close == std::string::npos) {
          error(where, "unterminated '${env.': expected '}'");
          return std::nullopt;
        }
        const auto spec = text.substr(i + 6, close - i - 6);
        const auto dash = spec.find(":-");
        const auto name = spec.substr(0, dash);
        const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
        std::string resolved;
        if (value) {
          resolved = value;
        } else if (dash != std::string::npos) {
          resolved = spec.substr(dash + 2);
        } else {
          error(where, "environment variable '" + name + "' is not set; set it, or write ${env." + name +
                           ":-default} to give a default");
          ok = false;
        }
        if (template_text) {
          for (std::size_t p = resolved.find("${"); p != std::string::npos; p = resolved.find("${", p + 3)) {
            resolved.insert(p, "$");
          }
        }
        out += resolved;
        i = close + 1;
      } else {
        out += text[i++];
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::string> scalar(const YAML::Node& node, const SourceLocation& where, const std::string& expected,
                                    bool template_text = false) {
    if (!node.IsScalar()) {
      error(where, "expected " + expected + ", got " + kindOf(node));
      return std::nullopt;
    }
    return resolveEnv(node.Scalar(), template_text, where);
  }

  std::optional<std::int64_t> integer(const YAML::Node& node, const SourceLocation& where, std::int64_t min) {
    auto text = scalar(node, where, "an integer");
    if (!text) return std::nullopt;
    try {
      std::size_t used = 0;
      const auto value = std::stoll(*text, &used);
      if (used == text->size() && value >= min) return value;
    } catch (const std::exception&) {
    }
    const bool bounded = min > std::numeric_limits<std::int64_t>::min();
    error(where, "expected an integer" + (bounded ? " of at least " + std::to_string(min) : std::string()) + ", got '" +
                     *text + "'");
    return std::nullopt;
  }

  std::optional<std::chrono::milliseconds> duration(const YAML::Node& node, const SourceLocation& where) {
    auto text = scalar(node, where, "a duration like 250ms, 10s, 5m or 1h");
    if (!text) return std::nullopt;
    try {
      return parseDuration(*text);
    } catch (const std::exception& e) {
      error(where, "expected a duration like 250ms, 10s, 5m or 1h, got '" + *text + "' (" + e.what() + ")");
      return std::nullopt;
    }
  }

  /// Converts any YAML value to JSON; plain scalars that read as numbers, booleans or null
  /// keep that type, quoted ones stay strings.
  std::optional<nlohmann::ordered_json> toJson(const YAML::Node& node, const SourceLocation& where) {
    switch (node.Type()) {
      case YAML::NodeType::Scalar: {
        auto text = resolveEnv(node.Scalar(), true, where);
        if (!text) return std::nullopt;
        if (node.Tag() == "!") return nlohmann::ordered_json(*text);
        if (*text == "true" || *text == "false") return nlohmann::ordered_json(*text == "true");
        if (*text == "null" || *text == "~") return nlohmann::ordered_json(nullptr);
        try {
          std::size_t used = 0;
          const auto integer = std::stoll(*text, &used);
          if (used == text->size()) return nlohmann::ordered_json(integer);
          const auto real = std::stod(*text, &used);
          if (used == text->size()) return nlohmann::ordered_json(real);
        } catch (const std::exception&) {
        }
        return nlohmann::ordered_json(*text);
      }
      case YAML::NodeType::Sequence: {
        auto array = nlohmann::ordered_json::array();
        std::size_t index = 0;
        for (const auto& item : node) {
          auto value = toJson(item, at(item, where.path + "[" + std::to_string(index++) + "]", &where));
          if (!value) return std::nullopt;
          array.push_back(std::move(*value));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        auto object = nlohmann::ordered_json::object();
        for (const auto& [key, value] : entries(node, where.path)) {
          auto converted = toJson(value, at(value, join(where.path, key.Scalar()), &where));
          if (!converted) return std::nullopt;
          object[key.Scalar()] = std::move(*converted);
        }
        return object;
      }
      default: return nlohmann::ordered_json(nullptr);
    }
  }

  /// Converts one option value to its normalised JSON form according to its declared type.
  std::optional<nlohmann::ordered_json> option(const OptionSpec& spec, const YAML::Node& node,
                                               const SourceLocation& where,
                                               std::map<std::string, SourceLocation>& locations,
                                               const std::string& key) {
    const bool template_text = spec.type == OptionType::Template || spec.type == OptionType::Expression ||
                               spec.type == OptionType::TemplateMap;
    switch (spec.type) {
      case OptionType::String:
      case OptionType::Template:
      case OptionType::Expression: {
        auto text = scalar(node, where, "a string", template_text);
        if (!text) return std::nullopt;
        return nlohmann::ordered_json(*text);
      }
      case OptionType::Bool: {
        auto text = scalar(node, where, "true or false");
        if (!text) return std::nullopt;
        if (*text == "true" || *text == "false") return nlohmann::ordered_json(*text == "true");
        error(where, "expected true or false, got '" + *text + "'");
        return std::nullopt;
      }
      case OptionType::Int: {
        auto value = integer(node, where, std::numeric_limits<std::int64_t>::min());
        if (!value) return std::nullopt;
        return nlohmann::ordered_json(*value);
      }
      case OptionType::Number: {
        auto text = scalar(node, where, "a number");
        if (!text) return std::nullopt;
        try {
          std::size_t used = 0;
          const auto value = std::stod(*text, &used);
          if (used == text->size()) return nlohmann::ordered_json(value);
        } catch (const std::exception&) {
        }
        error(where, "expected a number, got '" + *text + "'");
        return std::nullopt;
      }
      case OptionType::Duration: {
        auto value = duration(node, where);
        if (!value) return std::nullopt;
        return nlohmann::ordered_json(value->count());
      }
      case OptionType::Size: {
        auto text = scalar(node, where, "a size like 512KiB or 10MiB");
        if (!text) return std::nullopt;
        try {
          return nlohmann::ordered_json(parseSize(*text));
        } catch (const std::exception& e) {
          error(where, "expected a size like 512KiB or 10MiB, got '" + *text + "' (" + e.what() + ")");
          return std::nullopt;
        }
      }
      case OptionType::Enum: {
        auto text = scalar(node, where, "one of " + joinNames(spec.choices));
        if (!text) return std::nullopt;
        if (std::find(spec.choices.begin(), spec.choices.end(), *text) != spec.choices.end()) {
          return nlohmann::ordered_json(*text);
        }
        error(where, withSuggestion("expected one of " + joinNames(spec.choices) + ", got '" + *text + "'", *text,
                                    spec.choices));
        return std::nullopt;
      }
      case OptionType::StringList: {
        auto list = nlohmann::ordered_json::array();
        if (node.IsScalar()) {
          auto text = scalar(node, where, "a string or a list of strings");
          if (!text) return std::nullopt;
          list.push_back(*text);
          return list;
        }
        if (!node.IsSequence()) {
          error(where, "expected a list of strings, got " + kindOf(node));
          return std::nullopt;
        }
        bool ok = true;
        std::size_t index = 0;
        for (const auto& item : node) {
          auto item_where = textAt(item, where.path + "[" + std::to_string(index++) + "]", &where);
          auto text = scalar(item, item_where, "a string");
          if (text) {
            list.push_back(*text);
          } else {
            ok = false;
          }
        }
        if (!ok) return std::nullopt;
        return list;
      }
      case OptionType::StringMap:
      case OptionType::TemplateMap: {
        if (!node.IsMap()) {
          error(where, "expected a map of names to strings, got " + kindOf(node));
          return std::nullopt;
        }
        auto object = nlohmann::ordered_json::object();
        bool ok = true;
        for (const auto& [k, v] : entries(node, where.path)) {
          auto item_where = textAt(v, join(where.path, k.Scalar()), &where);
          locations[key.empty() ? k.Scalar() : key + "." + k.Scalar()] = item_where;
          auto text = scalar(v, item_where, "a string", template_text);
          if (text) {
            object[k.Scalar()] = *text;
          } else {
            ok = false;
          }
        }
        if (!ok) return std::nullopt;
        return object;
      }
      case OptionType::Object: return toJson(node, where);
    }
    return std::nullopt;
  }

  /// Normalises the default of an option that was not written.
  nlohmann::ordered_json defaultValue(const OptionSpec& spec) {
    std::map<std::string, SourceLocation> unused;
    // Lists and maps are written in YAML flow style ("[POST]"); everything else is one scalar.
    const bool structured = spec.type == OptionType::StringList || spec.type == OptionType::StringMap ||
                            spec.type == OptionType::TemplateMap || spec.type == OptionType::Object;
    YAML::Node node = structured ? YAML::Load(spec.default_value) : YAML::Node(spec.default_value);
    Diagnostics scratch;
    Checker inner(file_, scratch);
    auto value = inner.option(spec, node, SourceLocation{}, unused, spec.name);
    return value ? *value : nlohmann::ordered_json(nullptr);
  }

  /// Checks an endpoint's component options against its schema.
  bool componentOptions(const ComponentSpec& spec, const YAML::Node& node, const SourceLocation& where,
                        EndpointConfig& endpoint) {
    const auto before = diagnostics_.size();
    if (spec.valueForm()) {
      const auto& only = spec.options[0];
      if (node.IsNull() && only.required) {
        error(where, "'" + spec.name + "' needs a value: " + only.doc);
        return false;
      }
      endpoint.option_locations[""] = textAt(node, where.path, &where);
      auto value = node.IsNull() ? nlohmann::ordered_json(nullptr)
                                 : option(only, node, endpoint.option_locations[""], endpoint.option_locations, "");
      if (value) endpoint.options = std::move(*value);
      return diagnostics_.size() == before;
    }
    endpoint.options = nlohmann::ordered_json::object();
    if (!node.IsNull() && !node.IsMap()) {
      error(where, "expected a map of options for '" + spec.name + "', got " + kindOf(node));
      return false;
    }
    std::vector<std::string> names;
    for (const auto& option_spec : spec.options) names.push_back(option_spec.name);
    std::set<std::string> written;  // reported where written when invalid, not again as missing
    if (node.IsMap()) {
      for (const auto& [key, value] : entries(node, where.path)) {
        const auto name = key.Scalar();
        const auto* option_spec = spec.find(name);
        const auto option_where = textAt(value, join(where.path, name), &where);
        if (!option_spec) {
          error(at(key, join(where.path, name)),
                withSuggestion("unknown option '" + name + "' for '" + spec.name + "'", name, names) +
                    (names.empty() ? " (it takes no options)" : " (options: " + joinNames(names) + ")"));
          continue;
        }
        written.insert(name);
        endpoint.option_locations[name] = option_where;
        auto converted = option(*option_spec, value, option_where, endpoint.option_locations, name);
        if (converted) endpoint.options[name] = std::move(*converted);
      }
    }
    for (const auto& option_spec : spec.options) {
      if (endpoint.options.contains(option_spec.name) || written.count(option_spec.name)) continue;
      if (option_spec.required) {
        error(where,
              "missing required option '" + option_spec.name + "' for '" + spec.name + "' (" + option_spec.doc + ")");
      } else if (!option_spec.default_value.empty()) {
        endpoint.options[option_spec.name] = defaultValue(option_spec);
      }
    }
    return diagnostics_.size() == before;
  }

  std::optional<CircuitBreakerPolicy> circuitBreaker(const YAML::Node& key, const YAML::Node& value,
                                                     const std::string& path, EndpointRole role) {
    if (role != EndpointRole::Outbound) {
      error(at(key, path), "'circuit_breaker' guards outbound endpoints, not steps or the inbound 'from'");
      return std::nullopt;
    }
    if (!value.IsMap()) {
      error(at(value, path), "expected a map (failures, pause), got " + kindOf(value));
      return std::nullopt;
    }
    static const std::vector<std::string> kKeys = {"failures", "pause"};
    CircuitBreakerPolicy policy;
    for (const auto& [k, v] : entries(value, path)) {
      const auto name = k.Scalar();
      const auto where = at(v, join(path, name));
      if (name == "failures") {
        if (auto n = integer(v, where, 1)) policy.failures = static_cast<int>(*n);
      } else if (name == "pause") {
        if (auto d = duration(v, where)) policy.pause = *d;
      } else {
        error(at(k, join(path, name)), withSuggestion("unknown circuit_breaker key '" + name + "'", name, kKeys) +
                                           " (circuit_breaker keys: failures, pause)");
      }
    }
    return policy;
  }

  std::optional<EndpointConfig> endpoint(const YAML::Node& node, const std::string& path, EndpointRole role,
                                         const Registry& registry, const std::string& route_id) {
    const auto where = at(node, path);
    if (!node.IsMap()) {
      error(where, "expected a map with one adapter key (for example 'file: {dir: ./out}'), got " + kindOf(node));
      return std::nullopt;
    }
    EndpointConfig endpoint;
    endpoint.role = role;
    std::vector<std::pair<YAML::Node, YAML::Node>> components;
    for (const auto& [key, value] : entries(node, path)) {
      const auto name = key.Scalar();
      if (name == "when") {
        const auto when_where = textAt(value, join(path, "when"));
        if (role == EndpointRole::Inbound) {
          error(at(key, join(path, "when")), "'when' guards steps and outbound endpoints, not the inbound 'from'");
          continue;
        }
        auto text = scalar(value, when_where, "a guard expression", true);
        if (!text) continue;
        try {
          endpoint.guard = Expression::compile(*text, Scope{route_id});
        } catch (const SyntaxError& e) {
          auto at_offset = when_where;
          at_offset.column += static_cast<int>(e.offset());
          error(at_offset, std::string("invalid expression: ") + e.what());
        }
      } else if (name == "name") {
        if (auto text = scalar(value, at(value, join(path, "name")), "a label")) endpoint.label = *text;
      } else if (name == "circuit_breaker") {
        endpoint.circuit_breaker = circuitBreaker(key, value, join(path, "circuit_breaker"), role);
      } else {
        components.emplace_back(key, value);
      }
    }
    if (components.empty()) {
      error(where, "expected one adapter key besides 'when', 'name' and 'circuit_breaker'");
      return std::nullopt;
    }
    if (components.size() > 1) {
      error(at(components[1].first, join(path, components[1].first.Scalar())),
            "an endpoint has exactly one adapter key, found '" + components[0].first.Scalar() + "' and '" +
                components[1].first.Scalar() + "'; write each as its own list item");
      return std::nullopt;
    }
    const auto& [key, value] = components[0];
    endpoint.component = key.Scalar();
    endpoint.where = at(key, join(path, endpoint.component));
    if (endpoint.label.empty()) endpoint.label = endpoint.component;

    const ComponentSpec* spec = nullptr;
    std::vector<std::string> known;
    std::string kind;
    switch (role) {
      case EndpointRole::Inbound:
        if (const auto* c = registry.inbound(endpoint.component)) spec = &c->spec;
        known = registry.inboundNames();
        kind = "inbound adapter";
        break;
      case EndpointRole::Outbound:
        if (const auto* c = registry.outbound(endpoint.component)) spec = &c->spec;
        known = registry.outboundNames();
        kind = "outbound adapter";
        break;
      case EndpointRole::Step:
        if (const auto* c = registry.transform(endpoint.component)) spec = &c->spec;
        known = registry.transformNames();
        kind = "transform";
        break;
    }
    if (!spec) {
      std::string message = "unknown " + kind + " '" + endpoint.component + "'";
      if (const auto* failure = registry.failureFor(endpoint.component)) {
        message = kind + " '" + endpoint.component + "' is unavailable: plugin " + failure->file + " " + failure->error;
      } else if (role == EndpointRole::Step &&
                 (registry.inbound(endpoint.component) || registry.outbound(endpoint.component))) {
        message += ": '" + endpoint.component + "' is an adapter; adapters go in 'from' and 'to', 'steps' take " +
                   "transforms (known: " + joinNames(known) + ")";
      } else if (role != EndpointRole::Inbound && registry.inbound(endpoint.component)) {
        message += ": '" + endpoint.component + "' is an inbound adapter, it can only be used in 'from'";
      } else if (role == EndpointRole::Inbound && registry.outbound(endpoint.component)) {
        message += ": '" + endpoint.component + "' is an outbound adapter, it can only be used in 'to'";
      } else {
        message = withSuggestion(message, endpoint.component, known) + " (known: " + joinNames(known) + ")";
      }
      error(endpoint.where, message);
      return std::nullopt;
    }
    if (!componentOptions(*spec, value, endpoint.where, endpoint)) return std::nullopt;
    return endpoint;
  }

 private:
  std::string file_;
  Diagnostics& diagnostics_;
  std::optional<std::vector<std::string>> source_;
};

const std::vector<std::string> kRouteKeys = {"id",          "description", "from",    "steps",    "to",        "reply",
                                             "concurrency", "queue",       "timeout", "on_error", "idempotent"};
const std::vector<std::string> kTopKeys = {"routes", "plugins"};

}  // namespace

std::vector<std::filesystem::path> routeFiles(const std::vector<std::string>& paths, Diagnostics& diagnostics) {
  std::vector<std::filesystem::path> files;
  for (const auto& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::filesystem::path> found;
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        const auto ext = entry.path().extension();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml")) found.push_back(entry.path());
      }
      std::sort(found.begin(), found.end());
      if (found.empty())
        diagnostics.error(SourceLocation{path, 0, 0, ""}, "no route files (*.yaml, *.yml) in this directory");
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(path, ec)) {
      files.emplace_back(path);
    } else {
      diagnostics.error(SourceLocation{path, 0, 0, ""}, "no such file or directory");
    }
  }
  return files;
}

std::vector<RouteDocument> parseRouteFiles(const std::vector<std::filesystem::path>& files, Diagnostics& diagnostics) {
  std::vector<RouteDocument> documents;
  for (const auto& file : files) {
    try {
      documents.push_back(RouteDocument{file.string(), YAML::LoadFile(file.string())});
    } catch (const YAML::ParserException& e) {
      diagnostics.error(SourceLocation{file.string(), e.mark.line + 1, e.mark.column + 1, ""},
                        "invalid YAML: " + e.msg);
    } catch (const YAML::Exception& e) {
      diagnostics.error(SourceLocation{file.string(), 0, 0, ""}, std::string("cannot read: ") + e.what());
    }
  }
  return documents;
}

std::vector<std::filesystem::path> pluginDirectories(const std::vector<RouteDocument>& documents,
                                                     Diagnostics& diagnostics) {
  std::vector<std::filesystem::path> dirs;
  for (const auto& document : documents) {
    if (!document.root.IsMap() || !document.root["plugins"]) continue;
    Checker checker(document.file, diagnostics);
    const auto node = document.root["plugins"];
    const auto where = checker.at(node, "plugins");
    if (!node.IsSequence()) {
      checker.error(where, "expected a list of plugin directories, got " + kindOf(node));
      continue;
    }
    std::size_t index = 0;
    for (const auto& item : node) {
      const auto item_where = checker.at(item, "plugins[" + std::to_string(index++) + "]", &where);
      if (auto text = checker.scalar(item, item_where, "a directory")) {
        std::filesystem::path dir(*text);
        dirs.push_back(dir.is_absolute() ? dir : std::filesystem::path(document.file).parent_path() / dir);
      }
    }
  }
  return dirs;
}

std::vector<RouteConfig> buildRoutes(const std::vector<RouteDocument>& documents, const Registry& registry,
                                     Diagnostics& diagnostics) {
  static const std::regex kIdPattern("[a-z0-9][a-z0-9_-]*");
  std::vector<RouteConfig> routes;
  std::map<std::string, SourceLocation> ids;
  for (const auto& document : documents) {
    Checker c(document.file, diagnostics);
    const auto& root = document.root;
    if (!root.IsMap()) {
      c.error(c.at(root, ""), "expected a map with a 'routes' list, got " + kindOf(root));
      continue;
    }
    for (const auto& [key, value] : c.entries(root, "")) {
      if (std::find(kTopKeys.begin(), kTopKeys.end(), key.Scalar()) == kTopKeys.end()) {
        c.error(c.at(key, key.Scalar()),
                withSuggestion("unknown top-level key '" + key.Scalar() + "'", key.Scalar(), kTopKeys) +
                    " (expected 'routes' and optionally 'plugins')");
      }
    }
    const auto list = root["routes"];
    if (!list) {
      c.error(c.at(root, "routes"), "expected a 'routes' list");
      continue;
    }
    if (!list.IsSequence()) {
      c.error(c.at(list, "routes"), "expected a list of routes, got " + kindOf(list));
      continue;
    }
    std::size_t index = 0;
    for (const auto& node : list) {
      const std::string path = "routes[" + std::to_string(index++) + "]";
      const auto where = c.at(node, path);
      if (!node.IsMap()) {
        c.error(where, "expected a route (a map with id, from and to), got " + kindOf(node));
        continue;
      }
      const auto before = diagnostics.size();
      RouteConfig route;
      route.where = where;
      route.concurrency = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()) * 2);
      std::map<std::string, YAML::Node> fields;
      for (const auto& [key, value] : c.entries(node, path)) {
        const auto name = key.Scalar();
        if (std::find(kRouteKeys.begin(), kRouteKeys.end(), name) == kRouteKeys.end()) {
          c.error(c.at(key, path + "." + name), withSuggestion("unknown route key '" + name + "'", name, kRouteKeys) +
                                                    " (route keys: " + joinNames(kRouteKeys) + ")");
          continue;
        }
        fields[name] = value;
      }
      if (!fields.count("id")) {
        c.error(where, "missing route 'id'");
      } else if (auto id = c.scalar(fields["id"], c.at(fields["id"], path + ".id"), "a route id")) {
        const auto id_where = c.at(fields["id"], path + ".id");
        if (!std::regex_match(*id, kIdPattern)) {
          c.error(id_where, "route id '" + *id + "' must match [a-z0-9][a-z0-9_-]*");
        } else if (auto seen = ids.find(*id); seen != ids.end()) {
          c.error(id_where, "duplicate route id '" + *id + "' (first defined at " + seen->second.file + ":" +
                                std::to_string(seen->second.line) + ":" + std::to_string(seen->second.column) + ")");
        } else {
          ids.emplace(*id, id_where);
        }
        route.id = *id;
      }
      if (fields.count("description")) {
        route.description =
            c.scalar(fields["description"], c.at(fields["description"], path + ".description"), "a string")
                .value_or("");
      }
      if (!fields.count("from")) {
        c.error(where, "missing 'from': a route needs one inbound endpoint");
      } else if (auto from = c.endpoint(fields["from"], path + ".from", EndpointRole::Inbound, registry, route.id)) {
        route.from = std::move(*from);
      }
      if (fields.count("steps")) {
        const auto& steps = fields["steps"];
        if (!steps.IsSequence() && !steps.IsNull()) {
          c.error(c.at(steps, path + ".steps"), "expected a list of steps, got " + kindOf(steps));
        } else {
          std::size_t i = 0;
          for (const auto& step : steps) {
            const auto step_path = path + ".steps[" + std::to_string(i++) + "]";
            if (auto e = c.endpoint(step, step_path, EndpointRole::Step, registry, route.id)) {
              route.steps.push_back(std::move(*e));
            }
          }
        }
      }
      if (!fields.count("to")) {
        c.error(where, "missing 'to': a route needs at least one outbound endpoint");
      } else {
        const auto& to = fields["to"];
        if (!to.IsSequence() || to.size() == 0) {
          c.error(c.at(to, path + ".to", &where), "expected a non-empty list of outbound endpoints, got " +
                                                      (to.IsSequence() ? std::string("an empty list") : kindOf(to)));
        } else {
          std::size_t i = 0;
          for (const auto& target : to) {
            const auto target_path = path + ".to[" + std::to_string(i++) + "]";
            if (auto e = c.endpoint(target, target_path, EndpointRole::Outbound, registry, route.id)) {
              route.to.push_back(std::move(*e));
            }
          }
        }
      }
      if (fields.count("reply")) {
        const auto& reply = fields["reply"];
        const auto reply_where = c.at(reply, path + ".reply");
        if (auto text = c.scalar(reply, reply_where, "last, none or an index into 'to'")) {
          const auto size = fields.count("to") && fields["to"].IsSequence() ? fields["to"].size() : 0;
          if (*text == "last") {
            route.reply = kReplyLast;
          } else if (*text == "none") {
            route.reply = kReplyNone;
          } else if (!text->empty() && std::all_of(text->begin(), text->end(), ::isdigit) && std::stoul(*text) < size) {
            route.reply = static_cast<int>(std::stoul(*text));
          } else {
            c.error(reply_where, "expected last, none or an index into 'to' (0.." +
                                     std::to_string(size == 0 ? 0 : size - 1) + "), got '" + *text + "'");
          }
        }
      }
      if (fields.count("concurrency")) {
        if (auto v = c.integer(fields["concurrency"], c.at(fields["concurrency"], path + ".concurrency"), 1)) {
          route.concurrency = static_cast<int>(*v);
        }
      }
      if (fields.count("queue")) {
        if (auto v = c.integer(fields["queue"], c.at(fields["queue"], path + ".queue"), 1)) {
          route.queue = static_cast<int>(*v);
        }
      }
      if (fields.count("timeout")) {
        if (auto v = c.duration(fields["timeout"], c.at(fields["timeout"], path + ".timeout"))) route.timeout = *v;
      }
      if (fields.count("idempotent")) {
        const auto& node = fields["idempotent"];
        const auto ipath = path + ".idempotent";
        if (!node.IsMap()) {
          c.error(c.at(node, ipath), "expected a map (key, store, expire), got " + kindOf(node));
        } else {
          static const std::vector<std::string> kKeys = {"key", "store", "expire"};
          IdempotencyPolicy policy;
          policy.where = c.at(node, ipath);
          bool has_key = false;
          for (const auto& [key, value] : c.entries(node, ipath)) {
            const auto name = key.Scalar();
            const auto where = c.at(value, ipath + "." + name);
            if (name == "key") {
              if (auto text = c.scalar(value, where, "a template such as ${header.file.name}")) {
                try {
                  policy.key = Template::compile(*text, Scope{route.id, route.timeout});
                  has_key = true;
                } catch (const SyntaxError& e) {
                  auto at_offset = c.textAt(value, ipath + ".key");
                  at_offset.column += static_cast<int>(e.offset());
                  c.error(at_offset, std::string("invalid template: ") + e.what());
                }
              }
            } else if (name == "store") {
              if (auto text = c.scalar(value, where, "a file name")) policy.store = *text;
            } else if (name == "expire") {
              if (auto v = c.duration(value, where)) policy.expire = *v;
            } else {
              c.error(c.at(key, ipath + "." + name),
                      withSuggestion("unknown idempotent key '" + name + "'", name, kKeys) +
                          " (idempotent keys: key, store, expire)");
            }
          }
          if (!has_key) {
            c.error(policy.where, "idempotent needs a 'key' template naming each item, such as ${header.file.name}");
          } else if (policy.key.isConstant()) {
            c.error(policy.where, "idempotent 'key' must reference the message (${...}): a constant key is one item");
          } else {
            route.idempotent = std::move(policy);
          }
        }
      }
      if (fields.count("on_error")) {
        const auto& on_error = fields["on_error"];
        const auto on_error_path = path + ".on_error";
        if (!on_error.IsMap()) {
          c.error(c.at(on_error, on_error_path),
                  "expected a map with 'retry' and/or 'dead_letter', got " + kindOf(on_error));
        } else {
          for (const auto& [key, value] : c.entries(on_error, on_error_path)) {
            const auto name = key.Scalar();
            const auto key_path = on_error_path + "." + name;
            if (name == "dead_letter") {
              if (auto e = c.endpoint(value, key_path, EndpointRole::Outbound, registry, route.id)) {
                if (e->guard) {
                  c.error(c.at(value, key_path), "the dead letter endpoint takes every failed message: no 'when'");
                } else {
                  route.dead_letter = std::move(*e);
                }
              }
            } else if (name == "retry") {
              if (!value.IsMap()) {
                c.error(c.at(value, key_path),
                        "expected a map (attempts, delay, backoff, max_delay, jitter), got " + kindOf(value));
                continue;
              }
              route.retry.attempts = 3;
              static const std::vector<std::string> kRetryKeys = {"attempts", "delay", "backoff", "max_delay",
                                                                  "jitter"};
              for (const auto& [rkey, rvalue] : c.entries(value, key_path)) {
                const auto rname = rkey.Scalar();
                const auto rwhere = c.at(rvalue, key_path + "." + rname);
                if (rname == "attempts") {
                  if (auto v = c.integer(rvalue, rwhere, 1)) route.retry.attempts = static_cast<int>(*v);
                } else if (rname == "delay") {
                  if (auto v = c.duration(rvalue, rwhere)) route.retry.delay = *v;
                } else if (rname == "max_delay") {
                  if (auto v = c.duration(rvalue, rwhere)) route.retry.max_delay = *v;
                } else if (rname == "jitter") {
                  auto text = c.scalar(rvalue, rwhere, "a fraction from 0 to 1");
                  try {
                    if (text) route.retry.jitter = std::stod(*text);
                    if (text && (route.retry.jitter < 0.0 || route.retry.jitter > 1.0)) {
                      throw std::invalid_argument("out of range");
                    }
                  } catch (const std::exception&) {
                    c.error(rwhere, "expected a fraction from 0 to 1, got '" + text.value_or("") + "'");
                  }
                } else if (rname == "backoff") {
                  auto text = c.scalar(rvalue, rwhere, "a number of at least 1.0");
                  try {
                    if (text) route.retry.backoff = std::stod(*text);
                    if (text && route.retry.backoff < 1.0) throw std::invalid_argument("less than 1");
                  } catch (const std::exception&) {
                    c.error(rwhere, "expected a number of at least 1.0, got '" + text.value_or("") + "'");
                  }
                } else {
                  c.error(c.at(rkey, key_path + "." + rname),
                          withSuggestion("unknown retry key '" + rname + "'", rname, kRetryKeys) +
                              " (retry keys: attempts, delay, backoff, max_delay, jitter)");
                }
              }
            } else {
              c.error(c.at(key, key_path),
                      withSuggestion("unknown on_error key '" + name + "'", name, {"retry", "dead_letter"}) +
                          " (expected retry and/or dead_letter)");
            }
          }
        }
      }
      if (diagnostics.size() == before) routes.push_back(std::move(route));
    }
  }
  return routes;
}

namespace {
nlohmann::ordered_json describeEndpoint(const EndpointConfig& e) {
  nlohmann::ordered_json out{{"component", e.component}, {"label", e.label}, {"options", e.options}};
  if (e.guard) out["when"] = e.guard->text();
  if (e.circuit_breaker) out["circuit_breaker"] = {e.circuit_breaker->failures, e.circuit_breaker->pause.count()};
  return out;
}
}  // namespace

std::string fingerprint(const RouteConfig& route) {
  nlohmann::ordered_json out{{"id", route.id},
                             {"from", describeEndpoint(route.from)},
                             {"reply", route.reply},
                             {"concurrency", route.concurrency},
                             {"queue", route.queue},
                             {"timeout", route.timeout.count()},
                             {"retry",
                              {route.retry.attempts, route.retry.delay.count(), route.retry.backoff,
                               route.retry.max_delay.count(), route.retry.jitter}}};
  auto& steps = out["steps"] = nlohmann::ordered_json::array();
  for (const auto& step : route.steps) steps.push_back(describeEndpoint(step));
  auto& to = out["to"] = nlohmann::ordered_json::array();
  for (const auto& target : route.to) to.push_back(describeEndpoint(target));
  if (route.dead_letter) out["dead_letter"] = describeEndpoint(*route.dead_letter);
  if (route.idempotent) {
    out["idempotent"] = {route.idempotent->key.text(), route.idempotent->store.string(),
                         route.idempotent->expire.count()};
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace switchboard::core
