#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pugi {
class xml_document;
class xml_node;
}  // namespace pugi

namespace switchboard {

/// Elements may nest this deep in a message: enough for any real document, and a bound for
/// the code that walks a tree recursively.
constexpr std::size_t kMaxXmlDepth = 256;

/// Parses an XML message body the one way the bus accepts XML: well-formed, one root element,
/// no DOCTYPE (so no entity expansion and no external entities), and at most kMaxXmlDepth
/// levels of elements. Returns an error text for the message, empty on success. Plugins that
/// use it link pugixml themselves.
std::string parseXml(std::string_view body, pugi::xml_document& document);

/// An element as a document of its own: its XML, with the inherited namespace declarations it
/// uses copied onto it, so its prefixes still mean what they meant.
std::string standaloneXml(const pugi::xml_node& element);

}  // namespace switchboard
