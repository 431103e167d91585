// validate: a JSON body checked against a JSON Schema (the common keywords) or a list of
// required paths; every violation is listed.
#include <fstream>

#include "switchboard/regex.hpp"
#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

/// A JSON Schema, checked once at load time and compiled into regexes where it has patterns.
class Schema {
 public:
  explicit Schema(nlohmann::json document) : document_(std::move(document)) { prepare(document_, "#"); }

  void check(const nlohmann::json& value, std::vector<std::string>& errors) const {
    check(document_, value, "$", errors, 0);
  }

 private:
  static std::string typeOf(const nlohmann::json& value) {
    if (value.is_null()) return "null";
    if (value.is_boolean()) return "boolean";
    if (value.is_number_integer() || value.is_number_unsigned()) return "integer";
    if (value.is_number()) return "number";
    if (value.is_string()) return "string";
    if (value.is_array()) return "array";
    return "object";
  }

  static bool hasType(const nlohmann::json& value, const std::string& type) {
    const auto actual = typeOf(value);
    if (type == "number") return actual == "number" || actual == "integer";
    if (type == "integer" && actual == "number") {
      const double d = value.get<double>();
      return d == static_cast<double>(static_cast<long long>(d));
    }
    return actual == type;
  }

  // Checks what can be checked without a message: patterns compile, references resolve.
  void prepare(const nlohmann::json& node, const std::string& where) {
    if (!node.is_object()) return;
    if (auto it = node.find("pattern"); it != node.end()) {
      if (!it->is_string()) throw OptionError("schema", where + ".pattern must be a string");
      try {
        patterns_.emplace(it->get<std::string>(), Regex(it->get<std::string>()));
      } catch (const RegexSyntaxError& e) {
        throw OptionError("schema", where + ".pattern is not a valid regular expression: " + e.what() + " (at offset " +
                                        std::to_string(e.offset()) + ")");
      }
    }
    if (auto it = node.find("$ref"); it != node.end()) {
      if (!it->is_string() || !resolve(it->get<std::string>())) {
        throw OptionError("schema", where + ".$ref '" + it->dump() + "' does not point into this file");
      }
    }
    for (const auto& [key, child] : node.items()) {
      if (child.is_object()) prepare(child, where + "." + key);
      if (child.is_array()) {
        for (std::size_t i = 0; i < child.size(); ++i)
          prepare(child[i], where + "." + key + "[" + std::to_string(i) + "]");
      }
    }
  }

  const nlohmann::json* resolve(const std::string& ref) const {
    if (ref.empty() || ref[0] != '#') return nullptr;
    try {
      const auto pointer = nlohmann::json::json_pointer(ref.substr(1));
      return document_.contains(pointer) ? &document_.at(pointer) : nullptr;
    } catch (const nlohmann::json::exception&) {
      return nullptr;
    }
  }

  void check(const nlohmann::json& schema, const nlohmann::json& value, const std::string& path,
             std::vector<std::string>& errors, int depth) const {
    if (!schema.is_object() || depth > 64) return;
    if (auto ref = schema.find("$ref"); ref != schema.end()) {
      if (const auto* target = resolve(ref->get<std::string>())) check(*target, value, path, errors, depth + 1);
      return;
    }
    if (auto type = schema.find("type"); type != schema.end()) {
      bool ok = false;
      if (type->is_string()) ok = hasType(value, type->get<std::string>());
      if (type->is_array()) {
        for (const auto& t : *type) ok = ok || (t.is_string() && hasType(value, t.get<std::string>()));
      }
      if (!ok) {
        errors.push_back(path + ": expected " + type->dump() + ", got " + typeOf(value));
        return;
      }
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
      if (std::find(e->begin(), e->end(), value) == e->end()) errors.push_back(path + ": not one of " + e->dump());
    }
    if (auto c = schema.find("const"); c != schema.end() && *c != value) {
      errors.push_back(path + ": expected " + c->dump());
    }
    if (value.is_number()) {
      const double number = value.get<double>();
      if (auto m = schema.find("minimum"); m != schema.end() && m->is_number() && number < m->get<double>()) {
        errors.push_back(path + ": " + value.dump() + " is less than the minimum " + m->dump());
      }
      if (auto m = schema.find("maximum"); m != schema.end() && m->is_number() && number > m->get<double>()) {
        errors.push_back(path + ": " + value.dump() + " is more than the maximum " + m->dump());
      }
    }
    if (value.is_string()) {
      const auto& text = value.get_ref<const std::string&>();
      std::size_t length = 0;  // in code points
      for (const char ch : text) length += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
      if (auto m = schema.find("minLength"); m != schema.end() && m->is_number() && length < m->get<std::size_t>()) {
        errors.push_back(path + ": shorter than " + m->dump() + " characters");
      }
      if (auto m = schema.find("maxLength"); m != schema.end() && m->is_number() && length > m->get<std::size_t>()) {
        errors.push_back(path + ": longer than " + m->dump() + " characters");
      }
      if (auto p = schema.find("pattern"); p != schema.end()) {
        try {
          if (!patterns_.at(p->get<std::string>()).search(text)) {
            errors.push_back(path + ": does not match " + p->dump());
          }
        } catch (const std::runtime_error& e) {
          errors.push_back(path + ": " + e.what());
        }
      }
    }
    if (value.is_object()) {
      const auto properties = schema.find("properties");
      if (auto required = schema.find("required"); required != schema.end() && required->is_array()) {
        for (const auto& name : *required) {
          if (name.is_string() && !value.contains(name.get<std::string>())) {
            errors.push_back(path + "." + name.get<std::string>() + ": required, missing");
          }
        }
      }
      for (const auto& [key, child] : value.items()) {
        const std::string child_path = path + "." + key;
        if (properties != schema.end() && properties->contains(key)) {
          check((*properties)[key], child, child_path, errors, depth + 1);
        } else if (auto extra = schema.find("additionalProperties"); extra != schema.end()) {
          if (extra->is_boolean() && !extra->get<bool>()) {
            errors.push_back(child_path + ": not allowed (additionalProperties is false)");
          } else if (extra->is_object()) {
            check(*extra, child, child_path, errors, depth + 1);
          }
        }
      }
    }
    if (value.is_array()) {
      if (auto items = schema.find("items"); items != schema.end() && items->is_object()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          check(*items, value[i], path + "[" + std::to_string(i) + "]", errors, depth + 1);
        }
      }
    }
  }

  nlohmann::json document_;
  std::map<std::string, Regex> patterns_;
};

class Validate final : public Transform {
 public:
  Validate(std::shared_ptr<const Schema> schema, std::vector<std::pair<std::string, JsonPath>> required)
      : schema_(std::move(schema)), required_(std::move(required)) {}

  Status apply(Message& message) override {
    const auto& body = message.jsonBody();
    std::vector<std::string> errors;
    for (const auto& [text, path] : required_) {
      const auto* value = path.find(body);
      if (!value || value->is_null()) errors.push_back("$." + text + ": required, missing");
    }
    if (schema_) schema_->check(body, errors);
    if (errors.empty()) return Status::ok();
    std::string text = "validation failed: ";
    for (std::size_t i = 0; i < errors.size(); ++i) text += (i ? "; " : "") + errors[i];
    return Status::badInput(text);
  }

 private:
  std::shared_ptr<const Schema> schema_;
  std::vector<std::pair<std::string, JsonPath>> required_;
};

}  // namespace

void registerValidate(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"validate",
                    "Checks a JSON body against a JSON Schema file and/or required paths; a failure is bad input "
                    "listing every violation.",
                    {
                        {"schema", OptionType::String, false, "",
                         "JSON Schema file: type, properties, required, items, enum, const, minimum, maximum, "
                         "minLength, maxLength, pattern, additionalProperties, $ref into the file"},
                        {"required", OptionType::StringList, false, "", "JSON paths that must be present and not null"},
                    }},
      [](const Options& options) {
        if (!options.has("schema") && !options.has("required")) {
          throw OptionError("", "validate takes schema, required, or both");
        }
        std::shared_ptr<const Schema> schema;
        if (options.has("schema")) {
          const auto file = options.string("schema");
          std::ifstream in(file);
          if (!in) throw OptionError("schema", "cannot read schema file '" + file + "'");
          try {
            schema = std::make_shared<const Schema>(nlohmann::json::parse(in));
          } catch (const nlohmann::json::exception& e) {
            throw OptionError("schema", "schema file '" + file + "' is not valid JSON: " + e.what());
          }
        }
        std::vector<std::pair<std::string, JsonPath>> required;
        if (options.has("required")) {
          for (const auto& text : options.list("required")) {
            try {
              required.emplace_back(text, JsonPath::parse(text));
            } catch (const SyntaxError& e) {
              throw OptionError("required", "'" + text + "': " + e.what());
            }
          }
        }
        return std::make_unique<Validate>(std::move(schema), std::move(required));
      });
}

}  // namespace switchboard::transforms
