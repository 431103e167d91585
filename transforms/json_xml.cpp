// json-to-xml and xml-to-json, with one set of conventions both ways:
//   "@name" keys are attributes, "#text" is text beside attributes or children,
//   a JSON array is the element repeated, null is an empty element.
#include <pugixml.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "switchboard/json_parse.hpp"
#include "switchboard/xml.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

bool validXmlName(const std::string& name) {
  if (name.empty()) return false;
  const auto first = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(first) || first == '_' || first >= 0x80)) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '_' || c == '-' || c == '.' || c == ':' || u >= 0x80)) return false;
  }
  return name.size() < 3 || !(std::tolower(static_cast<unsigned char>(name[0])) == 'x' &&
                              std::tolower(static_cast<unsigned char>(name[1])) == 'm' &&
                              std::tolower(static_cast<unsigned char>(name[2])) == 'l' && name.find(':') == 3);
}

std::string scalarText(const nlohmann::ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return {};
  return value.dump();
}

/// XML 1.0 cannot carry control characters other than tab and line ends, not even as
/// references, so a document holding one would be refused by the reader; an error text or "".
std::string unwritable(const std::string& text, const std::string& where) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      char code[8];
      std::snprintf(code, sizeof code, "%04X", u);
      return where + ": character U+" + code + " cannot be written in XML";
    }
  }
  return {};
}

class JsonToXml final : public Transform {
 public:
  JsonToXml(std::string root, std::string array_item, bool declaration)
      : root_(std::move(root)), array_item_(std::move(array_item)), declaration_(declaration) {}

  Status apply(Message& message) override {
    // Parsed here with its key order, since element order matters in XML.
    if (nestedTooDeep(message.body())) {
      return Status::badInput("body is nested deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    nlohmann::ordered_json json;
    try {
      json = json::parse<nlohmann::ordered_json>(message.body());
    } catch (const nlohmann::json::exception& e) {
      return Status::badInput(std::string("body is not valid JSON: ") + e.what());
    }
    std::string root = root_;
    const nlohmann::ordered_json* content = &json;
    if (root.empty()) {
      if (const auto* from_xml = message.headers().find("xml.root")) {
        root = *from_xml;
      } else if (json.is_object() && json.size() == 1) {
        root = json.begin().key();
        content = &json.begin().value();
      } else {
        return Status::badInput("json-to-xml needs `root`: the body is not an object with exactly one key");
      }
    }
    pugi::xml_document document;
    if (declaration_) {
      auto decl = document.append_child(pugi::node_declaration);
      decl.append_attribute("version") = "1.0";
      decl.append_attribute("encoding") = "UTF-8";
    }
    if (!validXmlName(root)) return Status::badInput("'" + root + "' is not a valid XML element name");
    auto element = document.append_child(root.c_str());
    if (content->is_array()) {
      for (const auto& item : *content) {
        if (auto error = fill(element.append_child(array_item_.c_str()), item, "[]"); !error.empty()) {
          return Status::badInput(error);
        }
      }
    } else if (auto error = fill(element, *content, root); !error.empty()) {
      return Status::badInput(error);
    }
    std::ostringstream out;
    document.save(out, "", pugi::format_raw | (declaration_ ? 0u : pugi::format_no_declaration), pugi::encoding_utf8);
    message.setBody(out.str(), "application/xml");
    return Status::ok();
  }

 private:
  /// Writes `value` into `element`; an error text, empty on success.
  std::string fill(pugi::xml_node element, const nlohmann::ordered_json& value, const std::string& where) const {
    if (!value.is_object() && !value.is_array()) {
      const auto text = scalarText(value);
      if (auto error = unwritable(text, where); !error.empty()) return error;
      if (!value.is_null()) element.text().set(text.c_str());
      return {};
    }
    if (value.is_array()) {  // an array inside an array: items named by array_item
      for (const auto& item : value) {
        if (auto error = fill(element.append_child(array_item_.c_str()), item, where + "[]"); !error.empty())
          return error;
      }
      return {};
    }
    for (const auto& [key, child] : value.items()) {
      if (key == "#text") {
        const auto text = scalarText(child);
        if (auto error = unwritable(text, where + ".#text"); !error.empty()) return error;
        element.append_child(pugi::node_pcdata).set_value(text.c_str());
      } else if (key.size() > 1 && key[0] == '@') {
        const auto name = key.substr(1);
        if (!validXmlName(name)) return where + ": '" + name + "' is not a valid XML attribute name";
        if (child.is_object() || child.is_array()) return where + ": attribute '" + name + "' must be a single value";
        const auto text = scalarText(child);
        if (auto error = unwritable(text, where + ".@" + name); !error.empty()) return error;
        element.append_attribute(name.c_str()).set_value(text.c_str());
      } else {
        if (!validXmlName(key)) return where + ": '" + key + "' is not a valid XML element name";
        if (child.is_array()) {
          for (const auto& item : child) {
            if (auto error = fill(element.append_child(key.c_str()), item, where + "." + key); !error.empty())
              return error;
          }
        } else if (auto error = fill(element.append_child(key.c_str()), child, where + "." + key); !error.empty()) {
          return error;
        }
      }
    }
    return {};
  }

  std::string root_;
  std::string array_item_;
  bool declaration_;
};

class XmlToJson final : public Transform {
 public:
  XmlToJson(bool typed, std::vector<std::string> arrays, bool strip_namespaces, bool keep_root)
      : typed_(typed), arrays_(std::move(arrays)), strip_(strip_namespaces), keep_root_(keep_root) {}

  Status apply(Message& message) override {
    pugi::xml_document document;
    if (auto error = parseXml(message.body(), document); !error.empty()) return Status::badInput(error);
    const auto root = document.document_element();
    nlohmann::ordered_json out;
    if (keep_root_) {
      out = nlohmann::ordered_json::object();
      out[name(root)] = convert(root);
    } else {
      out = convert(root);
      if (out.is_null()) out = nlohmann::ordered_json::object();  // the body of an empty root is {}
      message.headers().set("xml.root", name(root));
    }
    message.setBody(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    return Status::ok();
  }

 private:
  std::string name(pugi::xml_node node) const {
    std::string n = node.name();
    if (strip_) {
      if (const auto colon = n.find(':'); colon != std::string::npos) n = n.substr(colon + 1);
    }
    return n;
  }

  nlohmann::ordered_json scalar(const std::string& text) const {
    return typed_ ? typedScalar(text) : nlohmann::ordered_json(text);
  }

  nlohmann::ordered_json convert(pugi::xml_node element) const {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    std::string text;
    bool has_children = false;
    for (auto attribute : element.attributes()) {
      std::string attribute_name = attribute.name();
      if (strip_) {
        if (attribute_name == "xmlns" || attribute_name.starts_with("xmlns:")) continue;
        if (const auto colon = attribute_name.find(':'); colon != std::string::npos) {
          attribute_name = attribute_name.substr(colon + 1);
        }
      }
      object["@" + attribute_name] = scalar(attribute.value());
    }
    for (auto child : element.children()) {
      if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
        text += child.value();
      } else if (child.type() == pugi::node_element) {
        has_children = true;
        const auto key = name(child);
        auto value = convert(child);
        const bool always_array = std::find(arrays_.begin(), arrays_.end(), key) != arrays_.end();
        auto existing = object.find(key);
        if (existing == object.end()) {
          object[key] = always_array ? nlohmann::ordered_json::array({std::move(value)}) : std::move(value);
        } else {
          // A converted element is never an array itself, so an array here means repeated.
          if (!existing->is_array()) *existing = nlohmann::ordered_json::array({std::move(*existing)});
          existing->push_back(std::move(value));
        }
      }
    }
    const bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
    if (object.empty() && !has_children) {
      if (text.empty()) return nullptr;
      return scalar(text);
    }
    if (!blank) object["#text"] = scalar(text);
    return object;
  }

  bool typed_;
  std::vector<std::string> arrays_;
  bool strip_;
  bool keep_root_;
};

}  // namespace

bool nestedTooDeep(std::string_view json) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

nlohmann::ordered_json typedScalar(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  if (!text.empty() && text.find_first_not_of("-0123456789.eE+") == std::string::npos) {
    // Without exceptions: text such as dates ("2024-03-15") gets here often, and a throw per
    // value was a good part of xml-to-json's time.
    auto parsed = nlohmann::ordered_json::parse(text, nullptr, false);
    if (parsed.is_number() && parsed.dump() == text) return parsed;
  }
  return text;
}

void registerJsonXml(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"json-to-xml",
                    "Converts a JSON body to XML: @name keys become attributes, #text text, arrays repeated elements.",
                    {
                        {"root", OptionType::String, false, "",
                         "root element name (default: header xml.root, or the single key of the body)"},
                        {"array_item", OptionType::String, false, "item", "element name for items of unnamed arrays"},
                        {"declaration", OptionType::Bool, false, "false", "start with <?xml version=\"1.0\"?>"},
                    }},
      [](const Options& options) {
        const auto root = options.has("root") ? options.string("root") : "";
        if (!root.empty() && !validXmlName(root)) throw OptionError("root", "'" + root + "' is not a valid XML name");
        const auto item = options.string("array_item");
        if (!validXmlName(item)) throw OptionError("array_item", "'" + item + "' is not a valid XML name");
        return std::make_unique<JsonToXml>(root, item, options.boolean("declaration"));
      });
  registrar.addTransform(
      ComponentSpec{"xml-to-json",
                    "Converts an XML body to JSON with the conventions of json-to-xml; refuses DTDs.",
                    {
                        {"types",
                         OptionType::Enum,
                         false,
                         "auto",
                         "auto: numbers and booleans typed; string: all text",
                         {"auto", "string"}},
                        {"arrays", OptionType::StringList, false, "[]", "element names that are always arrays"},
                        {"namespaces",
                         OptionType::Enum,
                         false,
                         "keep",
                         "keep prefixes as written, or strip them",
                         {"keep", "strip"}},
                        {"keep_root", OptionType::Bool, false, "false",
                         "false: the root's content is the body and its name goes to header xml.root"},
                    }},
      [](const Options& options) {
        return std::make_unique<XmlToJson>(options.string("types") == "auto", options.list("arrays"),
                                           options.string("namespaces") == "strip", options.boolean("keep_root"));
      });
}

}  // namespace switchboard::transforms
