#include <fstream>
#include <sstream>

#include "transforms.hpp"

namespace switchboard::transforms {

namespace {

/// One value of the map, compiled: a literal, a reference keeping its JSON type, a
/// template giving text, or a nested object built by the same rules.
struct Value {
  // A named struct, not std::pair<JsonPath, Value>: a pair's traits need Value complete,
  // which it is not inside its own definition (clang refuses it).
  struct Field;

  enum class Kind { Literal, Reference, Text, Object, Array, JsonBody } kind = Kind::Literal;
  nlohmann::json literal;
  std::optional<Reference> reference;
  std::optional<Template> text;
  std::vector<Field> fields;

  nlohmann::json evaluate(const Message& message) const;
};

struct Value::Field {
  JsonPath path;
  Value value;
};

nlohmann::json Value::evaluate(const Message& message) const {
  switch (kind) {
    case Kind::Literal: return literal;
    case Kind::JsonBody: return message.jsonBody();
    case Kind::Reference: return reference->evaluate(message);
    case Kind::Text: return text->render(message);
    case Kind::Object:
    case Kind::Array: {
      nlohmann::json built = kind == Kind::Object ? nlohmann::json::object() : nlohmann::json::array();
      for (const auto& [path, value] : fields) path.make(built) = value.evaluate(message);
      return built;
    }
  }
  return nullptr;
}

Value compile(const nlohmann::ordered_json& node, const std::string& where, const Scope& scope) {
  Value value;
  if (node.is_object()) {
    value.kind = Value::Kind::Object;
    for (const auto& [key, child] : node.items()) {
      const std::string child_where = where.empty() ? key : where + "." + key;
      JsonPath path;  // "." at the top: the whole body, which the targets after it change
      if (key != "." || !where.empty()) {
        try {
          path = JsonPath::parse(key);
        } catch (const SyntaxError& e) {
          throw OptionError(child_where, "target path '" + key + "': " + e.what());
        }
        if (path.empty()) throw OptionError(child_where, "an empty target path");
      }
      auto compiled = compile(child, child_where, scope);
      // `".": "${body}"` starts from the body as JSON, not from its text.
      if (path.empty() && compiled.kind == Value::Kind::Reference && compiled.reference->text() == "body") {
        compiled.kind = Value::Kind::JsonBody;
      }
      value.fields.push_back({std::move(path), std::move(compiled)});
    }
    return value;
  }
  if (node.is_string()) {
    try {
      auto text = Template::compile(node.get<std::string>(), scope);
      if (text.isConstant()) {
        value.literal = text.render(Message());
      } else if (text.isSingleReference()) {
        value.kind = Value::Kind::Reference;
        value.reference = text.reference();
      } else {
        value.kind = Value::Kind::Text;
        value.text = std::move(text);
      }
    } catch (const SyntaxError& e) {
      throw OptionError(where, e.what(), static_cast<int>(e.offset()));
    }
    return value;
  }
  if (node.is_array()) {
    // A YAML list builds a JSON array, element by element.
    value.kind = Value::Kind::Array;
    std::size_t index = 0;
    for (const auto& item : node) {
      // Appended, not "[" + ...: GCC 12 at -O3 warns (-Wrestrict, a false positive) on that.
      std::string step = "[";
      step += std::to_string(index);
      step += ']';
      value.fields.push_back({JsonPath::parse(step), compile(item, where + step, scope)});
      ++index;
    }
    return value;
  }
  value.literal = nlohmann::json::parse(node.dump());  // numbers, booleans, null as written
  return value;
}

/// Builds a new JSON body from target paths and values; with "." first, changes a copy of
/// a given value (usually the body itself) instead.
class Map final : public Transform {
 public:
  explicit Map(Value root) : root_(std::move(root)) {}
  Status apply(Message& message) override {
    const auto body = root_.evaluate(message);
    message.setBody(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    return Status::ok();
  }

 private:
  Value root_;
};

/// Replaces the body with a rendered template, from text or a file read at load time.
class TemplateTransform final : public Transform {
 public:
  TemplateTransform(Template text, std::string content_type)
      : text_(std::move(text)), content_type_(std::move(content_type)) {}
  Status apply(Message& message) override {
    message.setBody(text_.render(message), content_type_);
    return Status::ok();
  }

 private:
  Template text_;
  std::string content_type_;
};

}  // namespace

void registerMap(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"map",
                    "Builds a new JSON body from target paths (a.b, items[0]) and values: a lone ${...} keeps its "
                    "JSON type, other strings are templates, numbers, booleans and null stay as written. The "
                    "target \".\" is the whole body: \".\": \"${body}\" first merges into the body instead.",
                    {{"", OptionType::Object, true, "", "map of target path to value (nested maps build objects)"}}},
      [](const Options& options) {
        const auto& spec = options.json("");
        if (!spec.is_object()) throw OptionError("", "map takes a map of target paths to values");
        return std::make_unique<Map>(compile(spec, "", options.scope()));
      });
}

void registerTemplate(Registrar& registrar) {
  registrar.addTransform(
      ComponentSpec{"template",
                    "Replaces the body with a template rendered per message (text, or a file read at load time).",
                    {
                        {"text", OptionType::Template, false, "", "the template; give text or file"},
                        {"file", OptionType::String, false, "", "a file holding the template"},
                        {"content_type", OptionType::String, false, "", "content type of the result (default: kept)"},
                    }},
      [](const Options& options) {
        if (options.has("text") == options.has("file"))
          throw OptionError("", "template takes text or file, one of them");
        std::string content_type = options.has("content_type") ? options.string("content_type") : "";
        if (options.has("text")) return std::make_unique<TemplateTransform>(options.templ("text"), content_type);
        const auto path = options.string("file");
        std::ifstream in(path, std::ios::binary);
        if (!in) throw OptionError("file", "cannot read template file '" + path + "'");
        std::ostringstream text;
        text << in.rdbuf();
        try {
          return std::make_unique<TemplateTransform>(Template::compile(text.str(), options.scope()), content_type);
        } catch (const SyntaxError& e) {
          throw OptionError("file", path + ": at offset " + std::to_string(e.offset()) + ": " + e.what());
        }
      });
}

}  // namespace switchboard::transforms
