#include "config/diagnostics.hpp"

namespace switchboard::core {

std::ostream& operator<<(std::ostream& out, const Diagnostic& diagnostic) {
  const auto& where = diagnostic.where;
  out << where.file;
  if (where.line > 0) out << ':' << where.line << ':' << where.column;
  out << ": ";
  if (!where.path.empty()) out << where.path << ": ";
  return out << diagnostic.message;
}

}  // namespace switchboard::core
