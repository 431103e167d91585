#pragma once
// The jq step's native evaluator: the common part of the jq language (paths, construction,
// arithmetic, comparison, logic and a few builtins) run on a compact JSON tree, several
// times faster than libjq's interpreter. A program, body or value outside what it runs
// exactly as jq 1.6 does is declined, and the step runs libjq instead.

#include <memory>
#include <string>
#include <string_view>

namespace switchboard::transforms::jq_native {

/// jq's compact layout of a number (jv_dump_string(value, 0)): the shortest digits that read
/// back to the same double, laid out as jq's dtoa lays them out; NaN is null.
void appendNumber(std::string& out, double value);
/// jq's compact layout of a string: quoted, escaping what jq's printer escapes.
void appendString(std::string& out, std::string_view utf8);

class Program;
struct ProgramDeleter {
  void operator()(const Program* program) const;
};
using ProgramPtr = std::unique_ptr<const Program, ProgramDeleter>;

/// `source` compiled for the native evaluator; null when it uses anything the evaluator does
/// not run (variables, reduce, try, user functions, string interpolation, formats, ...).
/// The source must already have compiled with libjq: syntax errors are libjq's to report.
ProgramPtr compile(std::string_view source);

enum class Outcome {
  Output,    ///< `out` holds the first output, or with `all` the array of every output
  NoOutput,  ///< the program gave no output (`all` false)
  Declined,  ///< something met is outside the evaluator (or an error): run libjq instead
};

/// Runs `program` on the JSON `body`. Thread-safe: a program is immutable and each thread
/// works in its own scratch memory.
Outcome run(const Program& program, std::string_view body, bool all, std::string& out);

}  // namespace switchboard::transforms::jq_native
