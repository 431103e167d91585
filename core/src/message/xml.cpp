#include "switchboard/xml.hpp"

#include <pugixml.hpp>

#include <optional>
#include <set>
#include <sstream>
#include <vector>

namespace switchboard {

namespace {

// The offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or npos.
std::size_t invalidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (byte >= 0xC2 && byte <= 0xDF) {
      length = 2;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      length = 3;
      if (byte == 0xE0) low = 0xA0;
      if (byte == 0xED) high = 0x9F;
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      length = 4;
      if (byte == 0xF0) low = 0x90;
      if (byte == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (next < low || next > high) : (next < 0x80 || next > 0xBF)) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

// Whether the XML declaration names an encoding other than UTF-8 (which pugixml converts).
bool declaresOtherEncoding(std::string_view body) {
  if (!body.starts_with("<?xml")) return false;
  const auto declaration = body.substr(0, body.find("?>"));
  const auto at = declaration.find("encoding");
  if (at == std::string_view::npos) return false;
  const auto value = declaration.substr(at);
  return value.find("UTF-8") == std::string_view::npos && value.find("utf-8") == std::string_view::npos;
}

}  // namespace

std::string parseXml(std::string_view body, pugi::xml_document& document) {
  if (const auto bad = invalidUtf8(body); bad != std::string_view::npos && !declaresOtherEncoding(body)) {
    return "body is not valid XML: invalid UTF-8 at offset " + std::to_string(bad);
  }
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
