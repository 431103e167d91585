#include "switchboard/xml.hpp"

#include <pugixml.hpp>

#include <optional>
#include <set>
#include <sstream>
#include <vector>

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
  // Depth by walking the tree without recursion: the walk must not be what a deep document breaks.
  std::size_t depth = 0;
  for (pugi::xml_node node = document.first_child(); node;) {
    if (node.first_child()) {
      node = node.first_child();
      if (++depth > kMaxXmlDepth) {
        return "XML nested deeper than " + std::to_string(kMaxXmlDepth) + " levels is not accepted";
      }
      continue;
    }
    while (node && !node.next_sibling()) {
      node = node.parent();
      if (node == document) return {};
      --depth;
    }
    if (node) node = node.next_sibling();
  }
  return {};
}

std::string standaloneXml(const pugi::xml_node& element) {
  // The prefixes the element and its descendants use ("" for the default namespace).
  std::set<std::string> used;
  auto prefixOf = [](std::string_view name, bool attribute) -> std::optional<std::string> {
    const auto colon = name.find(':');
    if (colon == std::string_view::npos) return attribute ? std::nullopt : std::optional<std::string>("");
    if (name.substr(0, colon) == "xmlns") return std::nullopt;
    return std::string(name.substr(0, colon));
  };
  std::vector<pugi::xml_node> stack{element};
  while (!stack.empty()) {
    const auto node = stack.back();
    stack.pop_back();
    if (auto prefix = prefixOf(node.name(), false)) used.insert(*prefix);
    for (auto attribute : node.attributes()) {
      if (auto prefix = prefixOf(attribute.name(), true)) used.insert(*prefix);
    }
    for (auto child : node.children()) {
      if (child.type() == pugi::node_element) stack.push_back(child);
    }
  }
  pugi::xml_document piece;
  auto root = piece.append_copy(element);
  for (auto ancestor = element.parent(); ancestor; ancestor = ancestor.parent()) {
    for (auto attribute : ancestor.attributes()) {
      const std::string name = attribute.name();
      if (name != "xmlns" && !name.starts_with("xmlns:")) continue;
      const std::string prefix = name == "xmlns" ? "" : name.substr(6);
      if (used.count(prefix) && !root.attribute(name.c_str())) {
        root.append_attribute(name.c_str()) = attribute.value();
      }
    }
  }
  std::ostringstream out;
  piece.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

}  // namespace switchboard
