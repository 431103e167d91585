// split: one message per element of a JSON array or per node of an XPath node set.
#include <pugixml.hpp>

#include "switchboard/xml.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

Message childOf(const Message& parent, std::size_t index, std::size_t size) {
  Message child(newUuid());
  child.headers() = parent.headers();
  child.properties() = parent.properties();
  child.headers().set("split.index", std::to_string(index));
  child.headers().set("split.size", std::to_string(size));
  child.headers().set("split.parent", parent.id());
  return child;
}

const char* kindOf(const nlohmann::json& value) {
  return value.is_object() ? "an object" : value.is_string() ? "a string" : value.is_null() ? "null" : "a scalar";
}

class JsonSplit final : public Splitter {
 public:
  JsonSplit(JsonPath path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}

  std::vector<Message> split(const Message& message) override {
    const auto* array = path_.find(message.jsonBody());
    if (!array) throw MessageError("split: the body has no '" + text_ + "'");
    if (!array->is_array()) throw MessageError("split: '" + text_ + "' is " + kindOf(*array) + ", not an array");
    std::vector<Message> children;
    children.reserve(array->size());
    for (const auto& element : *array) {
      auto child = childOf(message, children.size(), array->size());
      child.setBody(element.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
      children.push_back(std::move(child));
    }
    return children;
  }

 private:
  JsonPath path_;
  std::string text_;
};

// Position of `node` among its parent's children, from the root down: the same node in a
// second parse of the same text.
std::vector<std::size_t> positionOf(pugi::xml_node node) {
  std::vector<std::size_t> position;
  for (; node.parent(); node = node.parent()) {
    std::size_t index = 0;
    for (auto sibling = node.previous_sibling(); sibling; sibling = sibling.previous_sibling()) ++index;
    position.insert(position.begin(), index);
  }
  return position;
}

pugi::xml_node at(pugi::xml_document& document, const std::vector<std::size_t>& position) {
  pugi::xml_node node = document;
  for (const auto index : position) {
    node = node.first_child();
    for (std::size_t i = 0; i < index; ++i) node = node.next_sibling();
  }
  return node;
}

class XPathSplit final : public Splitter {
 public:
  XPathSplit(std::shared_ptr<pugi::xpath_query> query, std::map<std::string, std::string> prefix_for_uri)
      : query_(std::move(query)), prefix_for_uri_(std::move(prefix_for_uri)) {}

  std::vector<Message> split(const Message& message) override {
    pugi::xml_document document;
    if (auto error = parseXml(message.body(), document); !error.empty()) throw MessageError(error);
    // Queries run on a copy whose names carry the declared prefixes; children are cut from
    // the document as written, so their own prefixes and declarations stay intact.
    pugi::xml_document renamed;
    if (!prefix_for_uri_.empty()) {
      renamed.reset(document);
      applyPrefixes(renamed.document_element(), {}, prefix_for_uri_);
    }
    const auto nodes = query_->evaluate_node_set(prefix_for_uri_.empty() ? document : renamed);
    std::vector<Message> children;
    children.reserve(nodes.size());
    for (const auto& selected : nodes) {
      auto child = childOf(message, children.size(), nodes.size());
      if (selected.attribute()) {
        child.setBody(selected.attribute().value(), "text/plain");
      } else {
        const auto node = prefix_for_uri_.empty() ? selected.node() : at(document, positionOf(selected.node()));
        if (node.type() == pugi::node_element) {
          child.setBody(standaloneXml(node), "application/xml");
        } else {
          child.setBody(node.value(), "text/plain");
        }
      }
      children.push_back(std::move(child));
    }
    return children;
  }

 private:
  std::shared_ptr<pugi::xpath_query> query_;
  std::map<std::string, std::string> prefix_for_uri_;
};

}  // namespace

void registerSplit(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"split",
                    "One message per element of a JSON array (`path`) or per node of an XPath node set "
                    "(`xpath`), with headers split.index, split.size and split.parent; the steps and endpoints "
                    "after it run once per child, and the message is done when every child is.",
                    {
                        {"path", OptionType::String, false, "",
                         "JSON path of the array (\".\": the body is the array); give path or xpath"},
                        {"xpath", OptionType::String, false, "", "XPath of the nodes; give path or xpath"},
                        {"namespaces", OptionType::StringMap, false, "", "map of prefix to namespace URI, for xpath"},
                    }},
      [](const Options& options) -> std::unique_ptr<Transform> {
        if (options.has("path") == options.has("xpath")) throw OptionError("", "split takes either path or xpath");
        if (options.has("path")) {
          const auto text = options.string("path");
          JsonPath path;
          if (text != ".") {
            try {
              path = JsonPath::parse(text);
            } catch (const SyntaxError& e) {
              throw OptionError("path", e.what(), static_cast<int>(e.offset()));
            }
          }
          return std::make_unique<JsonSplit>(std::move(path), text);
        }
        std::shared_ptr<pugi::xpath_query> query;
        try {
          query = std::make_shared<pugi::xpath_query>(options.string("xpath").c_str());
        } catch (const pugi::xpath_exception& e) {
          throw OptionError("xpath", std::string("invalid XPath: ") + e.result().description(),
                            static_cast<int>(e.result().offset));
        }
        if (query->return_type() != pugi::xpath_type_node_set) {
          throw OptionError("xpath", "the XPath gives no node set: split needs nodes to cut out");
        }
        std::map<std::string, std::string> prefix_for_uri;
        if (options.has("namespaces")) {
          for (const auto& [prefix, uri] : options.map("namespaces")) prefix_for_uri[uri] = prefix;
        }
        return std::make_unique<XPathSplit>(std::move(query), std::move(prefix_for_uri));
      });
}

}  // namespace switchboard::transforms
