#include "soap_envelope.hpp"

#include <pugixml.hpp>

#include <cstring>

#include "switchboard/status.hpp"
#include "switchboard/xml.hpp"

namespace switchboard::adapters::soap {

std::string_view versionName(Version version) {
  return version == Version::V11 ? "1.1" : "1.2";
}

std::string_view contentTypeFor(Version version) {
  return version == Version::V11 ? "text/xml; charset=utf-8" : "application/soap+xml; charset=utf-8";
}

namespace {

std::string_view localName(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The namespace URI of an element, from the declarations in scope.
std::string_view namespaceOf(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const auto colon = name.find(':');
  const std::string attribute =
      colon == std::string_view::npos ? std::string("xmlns") : "xmlns:" + std::string(name.substr(0, colon));
  for (auto scope = node; scope; scope = scope.parent()) {
    if (auto declared = scope.attribute(attribute.c_str())) return declared.value();
  }
  return {};
}

pugi::xml_node child(const pugi::xml_node& parent, std::string_view local, std::string_view uri) {
  for (auto node : parent.children()) {
    if (node.type() == pugi::node_element && localName(node) == local && namespaceOf(node) == uri) return node;
  }
  return {};
}

pugi::xml_node firstElement(const pugi::xml_node& parent) {
  for (auto node : parent.children()) {
    if (node.type() == pugi::node_element) return node;
  }
  return {};
}

// A header block's value: its text when it holds only text, else its XML.
std::string valueOf(const pugi::xml_node& block) {
  if (!firstElement(block)) return block.text().get();
  return standaloneXml(block);
}

}  // namespace

Envelope readEnvelope(std::string_view xml) {
  pugi::xml_document document;
  if (auto error = parseXml(xml, document); !error.empty()) throw MessageError(error);
  const auto root = document.document_element();
  const auto uri = namespaceOf(root);
  if (localName(root) != "Envelope" || (uri != kEnvelope11 && uri != kEnvelope12)) {
    throw MessageError("not a SOAP envelope: the root element is <" + std::string(root.name()) + ">" +
                       (uri.empty() ? "" : " in namespace " + std::string(uri)));
  }
  Envelope envelope;
  envelope.version = uri == kEnvelope11 ? Version::V11 : Version::V12;
  if (const auto header = child(root, "Header", uri)) {
    for (auto block : header.children()) {
      if (block.type() == pugi::node_element) envelope.header_blocks.emplace_back(localName(block), valueOf(block));
    }
  }
  const auto body = child(root, "Body", uri);
  if (!body) throw MessageError("SOAP envelope without a Body");
  const auto payload = firstElement(body);
  if (!payload) return envelope;
  if (localName(payload) == "Fault" && namespaceOf(payload) == uri) {
    envelope.fault = true;
    if (envelope.version == Version::V11) {
      envelope.fault_code = payload.child("faultcode").text().get();
      envelope.fault_string = payload.child("faultstring").text().get();
    } else {
      envelope.fault_code = child(child(payload, "Code", uri), "Value", uri).text().get();
      envelope.fault_string = child(child(payload, "Reason", uri), "Text", uri).text().get();
    }
    return envelope;
  }
  envelope.payload = standaloneXml(payload);
  envelope.payload_name = localName(payload);
  return envelope;
}

bool looksLikeEnvelope(std::string_view xml) {
  pugi::xml_document document;
  if (!parseXml(xml, document).empty()) return false;
  const auto root = document.document_element();
  const auto uri = namespaceOf(root);
  return localName(root) == "Envelope" && (uri == kEnvelope11 || uri == kEnvelope12);
}

std::string escapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string writeEnvelope(Version version, std::string_view payload, const std::vector<std::string>& header_blocks) {
  std::string element;
  if (!payload.empty()) {
    // Parsed, so the envelope is well-formed whatever the body was; its declaration goes.
    pugi::xml_document document;
    if (auto error = parseXml(payload, document); !error.empty()) throw MessageError("SOAP payload: " + error);
    element = standaloneXml(document.document_element());
  }
  std::string out = "<soap:Envelope xmlns:soap=\"";
  out += version == Version::V11 ? kEnvelope11 : kEnvelope12;
  out += "\">";
  if (!header_blocks.empty()) {
    out += "<soap:Header>";
    for (const auto& block : header_blocks) out += block;
    out += "</soap:Header>";
  }
  out += "<soap:Body>" + element + "</soap:Body></soap:Envelope>";
  return out;
}

std::string writeFault(Version version, bool sender, std::string_view text) {
  const std::string escaped = escapeXml(text);
  const std::string detail = "<sb:error xmlns:sb=\"urn:switchboard:error\">" + escaped + "</sb:error>";
  if (version == Version::V11) {
    return "<soap:Envelope xmlns:soap=\"" + std::string(kEnvelope11) + "\"><soap:Body><soap:Fault><faultcode>" +
           (sender ? "soap:Client" : "soap:Server") + "</faultcode><faultstring>" + escaped + "</faultstring><detail>" +
           detail + "</detail></soap:Fault></soap:Body></soap:Envelope>";
  }
  return "<soap:Envelope xmlns:soap=\"" + std::string(kEnvelope12) +
         "\"><soap:Body><soap:Fault><soap:Code><soap:Value>" + (sender ? "soap:Sender" : "soap:Receiver") +
         "</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"en\">" + escaped +
         "</soap:Text></soap:Reason><soap:Detail>" + detail + "</soap:Detail></soap:Fault></soap:Body></soap:Envelope>";
}

}  // namespace switchboard::adapters::soap
