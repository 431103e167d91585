// The `mask` transform: hides personal data in a JSON body before it leaves the bus. Each
// field named in `fields` keeps its last `keep` characters; the others become `with`.
//   - mask: { fields: [card.number, customer.phone], keep: 4 }
//   {"card": {"number": "4111111111111111"}}  ->  {"card": {"number": "************1111"}}
#include <cstddef>
#include <string>
#include <vector>

#include "switchboard/plugin.hpp"

namespace {

using namespace switchboard;

/// `text` with all but its last `keep` characters replaced by `with`; characters, not
/// bytes, so a UTF-8 sequence is masked whole.
std::string maskText(const std::string& text, std::size_t keep, const std::string& with) {
  std::vector<std::size_t> starts;  // where each character begins
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  if (starts.size() <= keep) return text;
  const std::size_t masked = starts.size() - keep;
  std::string result;
  for (std::size_t i = 0; i < masked; ++i) result += with;
  return result + text.substr(starts[masked]);
}

class Mask final : public Transform {
 public:
  Mask(std::vector<JsonPath> fields, std::size_t keep, std::string with)
      : fields_(std::move(fields)), keep_(keep), with_(std::move(with)) {}

  Status apply(Message& message) override {
    // jsonBody() throws MessageError for a body that is not JSON: the route answers it as bad input.
    nlohmann::json body = message.jsonBody();
    bool changed = false;
    for (const auto& field : fields_) {
      if (!field.find(body)) continue;  // absent fields are left absent
      auto& value = field.make(body);
      if (value.is_string()) {
        value = maskText(value.get<std::string>(), keep_, with_);
      } else if (value.is_number()) {
        value = maskText(value.dump(), keep_, with_);  // a number masked is text
      } else {
        continue;  // objects, arrays, booleans and nulls carry no text to mask
      }
      changed = true;
    }
    if (changed) message.setBody(body.dump(), "application/json");
    return Status::ok();
  }

 private:
  std::vector<JsonPath> fields_;
  std::size_t keep_;
  std::string with_;
};

ComponentSpec maskSpec() {
  return ComponentSpec{
      "mask",
      "Masks fields of a JSON body, keeping their last characters.",
      {{"fields", OptionType::StringList, true, "", "JSON paths of the fields to mask (card.number, items[0].iban)"},
       {"keep", OptionType::Int, false, "4", "characters left visible at the end of each field"},
       {"with", OptionType::String, false, "*", "what each masked character becomes"}}};
}

std::unique_ptr<Transform> makeMask(const Options& options) {
  std::vector<JsonPath> fields;
  for (const auto& text : options.list("fields")) {
    try {
      fields.push_back(JsonPath::parse(text));
    } catch (const std::exception& e) {
      throw OptionError("fields", "'" + text + "' is not a JSON path: " + e.what());
    }
  }
  const auto keep = options.integer("keep");
  if (keep < 0) throw OptionError("keep", "keep must be 0 or more");
  return std::make_unique<Mask>(std::move(fields), static_cast<std::size_t>(keep), options.string("with"));
}

void registerMask(Registrar& registrar) {
  registrar.addTransform(maskSpec(), makeMask);
}

}  // namespace

SWITCHBOARD_PLUGIN("mask", "1.0.0", registerMask)
