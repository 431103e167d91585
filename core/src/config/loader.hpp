#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/diagnostics.hpp"
#include "config/route_config.hpp"
#include "plugin/registry.hpp"

namespace switchboard::core {

/// One parsed route file.
struct RouteDocument {
  std::string file;
  YAML::Node root;
};

/// The route files named by `paths`: files as given, directories' *.yaml / *.yml sorted.
std::vector<std::filesystem::path> routeFiles(const std::vector<std::string>& paths, Diagnostics& diagnostics);

/// Parses each file; a syntax error is reported at its line and column.
std::vector<RouteDocument> parseRouteFiles(const std::vector<std::filesystem::path>& files, Diagnostics& diagnostics);

/// The `plugins:` directories of every document, relative to its file.
std::vector<std::filesystem::path> pluginDirectories(const std::vector<RouteDocument>& documents,
                                                     Diagnostics& diagnostics);

/// Checks every route against the route schema and every endpoint against its component's
/// option schema, resolving ${env.*}. Routes with errors are left out.
std::vector<RouteConfig> buildRoutes(const std::vector<RouteDocument>& documents, const Registry& registry,
                                     Diagnostics& diagnostics);

/// Everything that makes a route what it is, as text: two configurations of one route with
/// the same fingerprint behave the same (a reload keeps such a route running).
std::string fingerprint(const RouteConfig& route);

}  // namespace switchboard::core
