#include "database_options.hpp"

namespace switchboard::adapters::database {

std::vector<OptionSpec> connectionSpecs() {
  return {
      {"url", OptionType::String, true, "",
       "sqlite:///path/file.db, sqlite:relative.db, sqlite::memory: or "
       "postgresql://user:password@host:port/database?sslmode=..."},
      {"pool", OptionType::Int, false, "4",
       "most connections open to this url (endpoints naming one url share its pool; the largest value wins)"},
      {"init", OptionType::String, false, "",
       "SQL run once before the first statement, e.g. CREATE TABLE IF NOT EXISTS ... (several separated by ;)"},
  };
}

DatabaseUrl urlOption(const Options& options) {
  try {
    return DatabaseUrl::parse(options.string("url"));
  } catch (const std::invalid_argument& e) {
    throw OptionError("url", e.what());
  }
}

SqlStatement statementOption(const Options& options, std::string_view name) {
  try {
    return SqlStatement::parse(options.string(name));
  } catch (const SyntaxError& e) {
    throw OptionError(std::string(name), e.what(), static_cast<int>(e.offset()));
  }
}

std::size_t poolOption(const Options& options) {
  const auto pool = options.integer("pool");
  if (pool < 1 || pool > 1000) throw OptionError("pool", "pool must be between 1 and 1000");
  return static_cast<std::size_t>(pool);
}

}  // namespace switchboard::adapters::database
