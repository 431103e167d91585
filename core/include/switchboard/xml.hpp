#pragma once

#include <string>
#include <string_view>

namespace pugi {
class xml_document;
}

namespace switchboard {

/// Parses an XML message body the one way the bus accepts XML: well-formed, one root element,
/// and no DOCTYPE (so no entity expansion and no external entities). Returns an error text
/// for the message, empty on success. Plugins that use it link pugixml themselves.
std::string parseXml(std::string_view body, pugi::xml_document& document);

}  // namespace switchboard
