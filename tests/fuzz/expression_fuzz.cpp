// Guard expressions and templates: any text is compiled, and what compiles is evaluated
// against a JSON and an XML message. A SyntaxError (compile) and a MessageError (evaluation)
// are how the bus is told the text or the message is wrong; anything else escaping, a crash,
// a sanitizer report or a hang is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "switchboard/status.hpp"
#include "switchboard/template.hpp"

namespace {

using namespace switchboard;

std::vector<Message> messages() {
  Message json("m-1");
  json.setBody(R"({"order":{"id":"A-17","amount":1250.5,"priority":true,"note":null,)"
               R"("lines":[{"sku":"X1","qty":2},{"sku":"Y2","qty":1}],"tags":["new","eu"]}})",
               "application/json");
  json.headers().set("Content-Type", "application/json");
  json.headers().set("X-Region", "eu-west");
  json.properties()["attempt"] = "2";

  Message xml("m-2");
  xml.setBody(R"(<order xmlns:p="urn:p" id="A-17"><amount>1250.5</amount><p:line sku="X1">2</p:line></order>)",
              "application/xml");
  xml.headers().set("X-Region", "us");

  Message text("m-3");
  text.setBody("plain text, neither JSON nor XML", "text/plain");
  return {json, xml, text};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Scope scope{"fuzz-route"};
  static const std::vector<Message> targets = messages();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  try {
    const auto expression = Expression::compile(text, scope);
    for (const auto& message : targets) {
      try {
        (void)expression.test(message);
      } catch (const MessageError&) {
      }
    }
  } catch (const SyntaxError&) {
  }

  // Templates share the ${...} reference grammar with expressions.
  try {
    const auto compiled = Template::compile(text, scope);
    for (const auto& message : targets) {
      try {
        (void)compiled.render(message);
      } catch (const MessageError&) {
      }
    }
  } catch (const SyntaxError&) {
  }
  return 0;
}
