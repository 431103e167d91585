// json-to-xml and xml-to-json: every input is given to both, with a few option sets, and
// what converts is converted back. A refused input is a bad-input Status; an exception, a
// crash, a sanitizer report or a hang is a finding, and so is XML written by json-to-xml
// that xml-to-json refuses. The jq step's own JSON parser is checked here too: `.` must give
// exactly what libjq's parser and printer give; and switchboard::json::parse must give what
// nlohmann/json's parser gives, value or error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" {
#include <jv.h>
}

#include "fuzz_plugins.hpp"
#include "json_same_tree.hpp"
#include "switchboard/json_parse.hpp"

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

// The jq step's reader on `input` against libjq's parser (called only on text the step read:
// jq 1.6 leaks on some malformed input) and against nlohmann/json for what JSON is.
void compareWithJq(const std::string& input) {
  Message ours("fuzz");
  ours.setBody(input, "application/json");
  const Status status = steps->jq_identity->apply(ours);
  if (!status.isOk()) {
    const bool deep = status.message().find("nested deeper than") != std::string::npos;  // jq's limit
    // nlohmann/json reads a NUL byte as the end of the text.
    if (input.find('\0') == std::string::npos && nlohmann::json::accept(input) && !deep) {
      std::fprintf(stderr, "the jq step refused JSON that nlohmann/json accepts: %s\n", status.message().c_str());
      std::abort();
    }
    return;
  }
  jv parsed = jv_parse_sized(input.data(), static_cast<int>(input.size()));
  const bool valid = jv_is_valid(parsed);
  jv dumped = valid ? jv_dump_string(parsed, 0) : (jv_free(parsed), jv_null());
  const std::string expected = valid ? jv_string_value(dumped) : "(refused)";
  jv_free(dumped);
  if (ours.body() != expected) {
    std::fprintf(stderr, "the jq step read differently from jq:\n step: %s\n   jq: %s\n", ours.body().c_str(),
                 expected.c_str());
    std::abort();
  }
}

void compareWithNlohmann(const std::string& input) {
  std::string ours_error;
  std::string theirs_error;
  nlohmann::ordered_json ours;
  nlohmann::ordered_json theirs;
  try {
    ours = json::parse<nlohmann::ordered_json>(input);
  } catch (const nlohmann::json::exception& e) {
    ours_error = e.what();
  }
  try {
    theirs = nlohmann::ordered_json::parse(input);
  } catch (const nlohmann::json::exception& e) {
    theirs_error = e.what();
  }
  if (ours_error != theirs_error || (ours_error.empty() && !testing::sameTree(ours, theirs))) {
    std::fprintf(stderr, "json::parse differs from nlohmann/json:\n ours: %s\n nlohmann: %s\n",
                 ours_error.empty() ? ours.dump().c_str() : ours_error.c_str(),
                 theirs_error.empty() ? theirs.dump().c_str() : theirs_error.c_str());
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
  compareWithNlohmann(input);

  // The input as JSON, then the XML made from it back to JSON.
  if (fuzz::run(*steps->to_xml_rooted, input, "application/json", out)) readBack(out);
  if (fuzz::run(*steps->to_xml, input, "application/json", out)) readBack(out);
  return 0;
}
