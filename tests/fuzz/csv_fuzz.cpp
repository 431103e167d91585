// csv-to-json and json-to-csv: every input is given to both, with a few option sets, and
// what converts is converted back. A refused input is a bad-input Status; an exception, a
// crash, a sanitizer report or a hang is a finding, and so is CSV written by json-to-csv
// that csv-to-json refuses or reads back as other rows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_plugins.hpp"

namespace {

using namespace switchboard;

struct Steps {
  std::unique_ptr<Transform> to_json = fuzz::transform("csv-to-json", {});
  std::unique_ptr<Transform> to_json_typed =
      fuzz::transform("csv-to-json", {{"delimiter", ";"}, {"types", "auto"}, {"columns", {"id", "qty", "note"}}});
  std::unique_ptr<Transform> to_rows = fuzz::transform("csv-to-json", {{"header", false}});
  std::unique_ptr<Transform> to_csv = fuzz::transform("json-to-csv", {});
  std::unique_ptr<Transform> to_tsv = fuzz::transform("json-to-csv", {{"delimiter", "\\t"}, {"header", false}});
  std::unique_ptr<Transform> tsv_to_rows = fuzz::transform("csv-to-json", {{"delimiter", "\\t"}, {"header", false}});
};

Steps* steps = nullptr;

// json-to-csv output, read back: our own CSV must always be accepted; the rows it reads
// back as, when `expected` is given.
void readBack(Transform& reader, const Message& csv, const std::string* expected = nullptr) {
  Message back;
  if (!fuzz::run(reader, csv.body(), "text/csv", back)) {
    std::fprintf(stderr, "csv-to-json refused the output of json-to-csv:\n%s\n", csv.body().c_str());
    std::abort();
  }
  if (expected && back.body() != *expected) {
    std::fprintf(stderr, "rows changed through json-to-csv:\n%s\nbecame\n%s\n", expected->c_str(), back.body().c_str());
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

  // The input as CSV, then the rows made from it back to CSV; rows of text fields come back
  // unchanged.
  if (fuzz::run(*steps->to_json, input, "text/csv", out)) {
    if (fuzz::run(*steps->to_csv, out.body(), "application/json", out)) readBack(*steps->to_rows, out);
  }
  (void)fuzz::run(*steps->to_json_typed, input, "text/csv", out);
  if (fuzz::run(*steps->to_rows, input, "text/csv", out)) {
    const std::string rows = out.body();
    if (!fuzz::run(*steps->to_tsv, rows, "application/json", out)) {
      std::fprintf(stderr, "json-to-csv refused the rows of csv-to-json:\n%s\n", rows.c_str());
      std::abort();
    }
    readBack(*steps->tsv_to_rows, out, &rows);
  }

  // The input as JSON, then the CSV made from it back to JSON.
  if (fuzz::run(*steps->to_csv, input, "application/json", out)) readBack(*steps->to_rows, out);
  if (fuzz::run(*steps->to_tsv, input, "application/json", out)) readBack(*steps->tsv_to_rows, out);
  return 0;
}
