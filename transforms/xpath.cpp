// xpath: headers from XPath queries on an XML body, with declared namespace prefixes.
#include <pugixml.hpp>

#include <map>

#include "switchboard/xml.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

// A default namespace counts as a prefix too: its elements get the declared one.
void applyPrefixes(pugi::xml_node node, std::map<std::string, std::string> in_scope,
                   const std::map<std::string, std::string>& prefix_for_uri) {
  for (auto attribute : node.attributes()) {
    const std::string name = attribute.name();
    if (name == "xmlns") in_scope[""] = attribute.value();
    if (name.starts_with("xmlns:")) in_scope[name.substr(6)] = attribute.value();
  }
  auto rename = [&](const std::string& name, bool is_attribute) -> std::string {
    const auto colon = name.find(':');
    const std::string prefix = colon == std::string::npos ? "" : name.substr(0, colon);
    if (is_attribute && prefix.empty()) return {};  // unprefixed attributes are in no namespace
    const auto uri = in_scope.find(prefix);
    if (uri == in_scope.end()) return {};
    const auto declared = prefix_for_uri.find(uri->second);
    if (declared == prefix_for_uri.end()) return {};
    return declared->second + ":" + (colon == std::string::npos ? name : name.substr(colon + 1));
  };
  if (const auto renamed = rename(node.name(), false); !renamed.empty()) node.set_name(renamed.c_str());
  for (auto attribute : node.attributes()) {
    const std::string name = attribute.name();
    if (name == "xmlns" || name.starts_with("xmlns:")) continue;
    if (const auto renamed = rename(name, true); !renamed.empty()) attribute.set_name(renamed.c_str());
  }
  for (auto child : node.children()) {
    if (child.type() == pugi::node_element) applyPrefixes(child, in_scope, prefix_for_uri);
  }
}

namespace {

class XPath final : public Transform {
 public:
  XPath(std::vector<std::pair<std::string, std::shared_ptr<pugi::xpath_query>>> headers,
        std::map<std::string, std::string> prefix_for_uri)
      : headers_(std::move(headers)), prefix_for_uri_(std::move(prefix_for_uri)) {}

  Status apply(Message& message) override {
    pugi::xml_document document;
    if (auto error = parseXml(message.body(), document); !error.empty()) return Status::badInput(error);
    if (!prefix_for_uri_.empty()) applyPrefixes(document.document_element(), {}, prefix_for_uri_);
    for (const auto& [header, query] : headers_) {
      // An empty node set sets no header, so exists(${header.X}) tells a missing value apart.
      if (query->return_type() == pugi::xpath_type_node_set && query->evaluate_node_set(document).empty()) {
        message.headers().remove(header);
        continue;
      }
      message.headers().set(header, query->evaluate_string(document));
    }
    return Status::ok();
  }

 private:
  std::vector<std::pair<std::string, std::shared_ptr<pugi::xpath_query>>> headers_;
  std::map<std::string, std::string> prefix_for_uri_;
};

}  // namespace

void registerXPath(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"xpath",
                    "Sets headers from XPath queries on an XML body; prefixes in the queries mean the namespaces "
                    "declared in `namespaces`, whatever prefixes the document uses.",
                    {
                        {"headers", OptionType::StringMap, true, "", "map of header name to XPath"},
                        {"namespaces", OptionType::StringMap, false, "", "map of prefix to namespace URI"},
                    }},
      [](const Options& options) {
        std::vector<std::pair<std::string, std::shared_ptr<pugi::xpath_query>>> headers;
        for (const auto& [header, text] : options.map("headers")) {
          try {
            headers.emplace_back(header, std::make_shared<pugi::xpath_query>(text.c_str()));
          } catch (const pugi::xpath_exception& e) {
            throw OptionError("headers." + header, std::string("invalid XPath: ") + e.result().description(),
                              static_cast<int>(e.result().offset));
          }
        }
        std::map<std::string, std::string> prefix_for_uri;
        if (options.has("namespaces")) {
          for (const auto& [prefix, uri] : options.map("namespaces")) prefix_for_uri[uri] = prefix;
        }
        return std::make_unique<XPath>(std::move(headers), std::move(prefix_for_uri));
      });
}

}  // namespace switchboard::transforms
