#pragma once

#include <pugixml.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "switchboard/plugin.hpp"

namespace switchboard::transforms {

/// Text read from XML or CSV as a typed JSON value: `true`, `false`, and numbers written
/// exactly as JSON writes them ("-12", "2.5"; not "007" or "1.50", which stay text).
nlohmann::ordered_json typedScalar(const std::string& text);

/// Renames every element and attribute in a declared namespace (`prefix_for_uri`: URI to
/// prefix) to `<declared prefix>:<local name>`, so XPath queries written with the declared
/// prefixes match by namespace whatever prefixes the document uses.
void applyPrefixes(pugi::xml_node node, std::map<std::string, std::string> in_scope,
                   const std::map<std::string, std::string>& prefix_for_uri);
/// How deeply a document the converters take may nest (jq's own limit): they recurse per
/// level, so an unbounded depth lets a small body exhaust the stack and end the bus.
constexpr std::size_t kMaxNesting = 256;

/// Whether JSON text nests arrays and objects deeper than kMaxNesting. A scan of the text,
/// without parsing it, so it runs before anything recursive does.
bool nestedTooDeep(std::string_view json);

// Each transform registers itself through one of these, called by the plugin's entry point.
void registerSetHeader(Registrar& registrar);
void registerRemoveHeader(Registrar& registrar);
void registerSetBody(Registrar& registrar);
void registerFilter(Registrar& registrar);
void registerMap(Registrar& registrar);
void registerTemplate(Registrar& registrar);
void registerJsonXml(Registrar& registrar);
void registerCsv(Registrar& registrar);
void registerValidate(Registrar& registrar);
void registerJq(Registrar& registrar);
void registerXPath(Registrar& registrar);
void registerSplit(Registrar& registrar);

}  // namespace switchboard::transforms
