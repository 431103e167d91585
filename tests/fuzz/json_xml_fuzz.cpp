// json-to-xml and xml-to-json: every input is given to both, with a few option sets, and
// what converts is converted back. A refused input is a bad-input Status; an exception, a
// crash, a sanitizer report or a hang is a finding, and so is XML written by json-to-xml
// that xml-to-json refuses. The jq step's own JSON parser is checked here too: `.` must give
// exactly what libjq's parser and printer give.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" {
#include <jv.h>
}

#include "fuzz_plugins.hpp"

namespace {

using namespace switchboard;

struct Steps {
  std::unique_ptr<Transform> to_xml_rooted = fuzz::transform("json-to-xml", {{"root", "r"}, {"declaration", true}});
  std::unique_ptr<Transform> to_xml = fuzz::transform("json-to-xml", {});  // root from xml.root or the single key
  std::unique_ptr<Transform> to_json = fuzz::transform("xml-to-json", {});
  std::unique_ptr<Transform> to_json_strict = fuzz::transform(
      "xml-to-json", {{"types", "string"}, {"namespaces", "strip"}, {"keep_root", true}, {"arrays", {"item", "line"}}});
  std::unique_ptr<Transform> jq_identity = fuzz::transform("jq", {{"program", "."}});
};

Steps* steps = nullptr;

// json-to-xml output, read back: our own XML must always be accepted.
void readBack(const Message& xml) {
  Message back;
  if (!fuzz::run(*steps->to_json, xml.body(), "application/xml", back)) {
    std::fprintf(stderr, "xml-to-json refused the output of json-to-xml:\n%s\n", xml.body().c_str());
    std::abort();
  }
}

// The jq step on `input` against libjq alone: the same output, or an error for both.
void compareWithJq(const std::string& input) {
  Message ours;
  const bool ok = fuzz::run(*steps->jq_identity, input, "application/json", ours);
  jv parsed = jv_parse_sized(input.data(), static_cast<int>(input.size()));
  if (!jv_is_valid(parsed)) {
    jv_free(parsed);
    if (!ok) return;
    std::fprintf(stderr, "jq's parser refuses what the jq step read as %s\n", ours.body().c_str());
    std::abort();
  }
  jv dumped = jv_dump_string(parsed, 0);
  const std::string expected = jv_string_value(dumped);
  jv_free(dumped);
  if (!ok || ours.body() != expected) {
    std::fprintf(stderr, "the jq step read differently from jq:\n step: %s\n   jq: %s\n",
                 ok ? ours.body().c_str() : "(error)", expected.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  steps = new Steps();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Message out;

  // The input as XML, then the JSON made from it back to XML (the root from header xml.root).
  if (fuzz::run(*steps->to_json, input, "application/xml", out)) {
    Message xml = out;
    if (steps->to_xml->apply(xml).isOk()) readBack(xml);
  }
  if (fuzz::run(*steps->to_json_strict, input, "application/xml", out)) {
    if (fuzz::run(*steps->to_xml, out.body(), "application/json", out)) readBack(out);
  }

  compareWithJq(input);

  // The input as JSON, then the XML made from it back to JSON.
  if (fuzz::run(*steps->to_xml_rooted, input, "application/json", out)) readBack(out);
  if (fuzz::run(*steps->to_xml, input, "application/json", out)) readBack(out);
  return 0;
}
