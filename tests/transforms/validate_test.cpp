// validate: JSON Schema keywords and required paths; every violation is listed.
#include "plugin_fixture.hpp"

#include <filesystem>
#include <fstream>

using namespace switchboard;
using namespace switchboard::testing;

namespace {
struct SchemaFile {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("sb-schema-" + newUuid() + ".json");
  explicit SchemaFile(const std::string& text) { std::ofstream(path) << text; }
  ~SchemaFile() { std::filesystem::remove(path); }
};

const char* kOrderSchema = R"({
  "$defs": {"sku": {"type": "string", "pattern": "^SKU-[0-9]{3}$"}},
  "type": "object",
  "required": ["id", "lines"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "status": {"enum": ["new", "paid"]},
    "kind": {"const": "order"},
    "note": {"type": ["string", "null"], "maxLength": 5},
    "code": {"type": "string", "minLength": 2},
    "total": {"type": "number", "maximum": 1000},
    "lines": {"type": "array", "items": {"type": "object", "required": ["sku"],
              "properties": {"sku": {"$ref": "#/$defs/sku"}, "qty": {"type": "integer", "minimum": 1}}}}
  }
})";

Status validate(const SchemaFile& schema, const std::string& body) {
  auto step = makeTransform("validate", {{"schema", schema.path.string()}});
  Message message("m");
  message.setBody(body, "application/json");
  return step->apply(message);
}
}  // namespace

TEST_CASE("a valid document passes", "[transforms][validate]") {
  SchemaFile schema(kOrderSchema);
  CHECK(validate(schema, R"({"id": 7, "status": "paid", "kind": "order", "note": null, "code": "ab",
                            "total": 12.5, "lines": [{"sku": "SKU-001", "qty": 2}]})")
            .isOk());
  CHECK(validate(schema, R"({"id": 1, "note": "Zoë!", "lines": []})").isOk());  // 4 code points
}

TEST_CASE("every violation is listed with its path", "[transforms][validate]") {
  SchemaFile schema(kOrderSchema);
  const auto status = validate(schema, R"({"id": 0, "status": "lost", "kind": "invoice", "note": "too long",
                                          "code": "a", "total": 5000, "extra": 1,
                                          "lines": [{"qty": 0}, {"sku": "SKU-1"}, "x"]})");
  REQUIRE(status.code() == Status::Code::BadInput);
  const auto& text = status.message();
  for (const char* expected :
       {"$.id: 0 is less than the minimum 1", "$.status: not one of", "$.kind: expected \"order\"",
        "$.note: longer than 5 characters", "$.code: shorter than 2 characters",
        "$.total: 5000 is more than the maximum", "$.extra: not allowed", "$.lines[0].sku: required, missing",
        "$.lines[0].qty: 0 is less than the minimum", "$.lines[1].sku: does not match",
        "$.lines[2]: expected \"object\", got string"}) {
    INFO(expected);
    CHECK(text.find(expected) != std::string::npos);
  }
}

TEST_CASE("missing required properties and wrong types", "[transforms][validate]") {
  SchemaFile schema(kOrderSchema);
  const auto status = validate(schema, R"({"id": "7"})");
  CHECK(status.message().find("$.lines: required, missing") != std::string::npos);
  CHECK(status.message().find("$.id: expected \"integer\", got string") != std::string::npos);
  CHECK(validate(schema, R"([1, 2])").message().find("$: expected \"object\", got array") != std::string::npos);
}

TEST_CASE("required paths without a schema", "[transforms][validate]") {
  auto step = makeTransform("validate", {{"required", {"order.id", "order.lines[0].sku"}}});
  Message message("m");
  message.setBody(R"({"order": {"id": null, "lines": []}})", "application/json");
  const auto status = step->apply(message);
  CHECK(status.code() == Status::Code::BadInput);
  CHECK(status.message() ==
        "validation failed: $.order.id: required, missing; $.order.lines[0].sku: required, missing");
  message.setBody(R"({"order": {"id": 1, "lines": [{"sku": "A"}]}})", "application/json");
  CHECK(step->apply(message).isOk());
  message.setBody("not json", "application/json");
  CHECK_THROWS_AS(step->apply(message), MessageError);
}

TEST_CASE("schemas that cannot work are refused at load time", "[transforms][validate]") {
  SchemaFile bad_pattern(R"({"pattern": "(unclosed"})");
  CHECK_THROWS_AS(makeTransform("validate", {{"schema", bad_pattern.path.string()}}), OptionError);
  SchemaFile bad_ref(R"({"$ref": "#/nowhere"})");
  CHECK_THROWS_AS(makeTransform("validate", {{"schema", bad_ref.path.string()}}), OptionError);
  SchemaFile not_json("{");
  CHECK_THROWS_AS(makeTransform("validate", {{"schema", not_json.path.string()}}), OptionError);
  CHECK_THROWS_AS(makeTransform("validate", {{"schema", "/no/such/file.json"}}), OptionError);
  CHECK_THROWS_AS(makeTransform("validate", nlohmann::ordered_json::object()), OptionError);
}

TEST_CASE("a pattern that runs away on a value is a violation, not a stalled worker", "[transforms][validate]") {
  SchemaFile schema(R"({"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}})");
  auto step = makeTransform("validate", {{"schema", schema.path.string()}});
  Message message("m");
  message.setBody(R"({"code": "aaaa"})", "application/json");
  CHECK(step->apply(message).isOk());
  message.setBody(R"({"code": ")" + std::string(40, 'a') + R"(!"})", "application/json");
  const auto status = step->apply(message);
  CHECK(status.code() == Status::Code::BadInput);
  CHECK_THAT(status.message(),
             Catch::StartsWith("validation failed: $.code: the regular expression '^(a+)+$' gave up"));
}
