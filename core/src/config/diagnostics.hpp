#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace switchboard::core {

/// Where something was written: `file:line:column` (1-based) and its YAML path.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;  ///< routes[0].to[1].file.dir
};

struct Diagnostic {
  SourceLocation where;
  std::string message;
};

std::ostream& operator<<(std::ostream& out, const Diagnostic& diagnostic);

/// Every configuration error found, in the order found; checking goes on after an error so
/// `validate` reports them all at once.
class Diagnostics {
 public:
  void error(SourceLocation where, std::string message) {
    items_.push_back(Diagnostic{std::move(where), std::move(message)});
  }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const std::vector<Diagnostic>& items() const noexcept { return items_; }

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace switchboard::core
