#include "switchboard/xml.hpp"

#include <pugixml.hpp>

namespace switchboard {

std::string parseXml(std::string_view body, pugi::xml_document& document) {
  // parse_doctype keeps a DOCTYPE as a node, so it can be seen and refused.
  const auto result = document.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_doctype);
  if (!result) {
    return "body is not valid XML: " + std::string(result.description()) + " at offset " +
           std::to_string(result.offset);
  }
  std::size_t roots = 0;
  for (auto node : document.children()) {
    if (node.type() == pugi::node_doctype) return "XML with a DOCTYPE is not accepted";
    if (node.type() == pugi::node_element) ++roots;
  }
  if (roots != 1) return "body is not valid XML: it needs exactly one root element";
  return {};
}

}  // namespace switchboard
