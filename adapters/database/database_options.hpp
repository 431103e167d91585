#pragma once
// What the inbound and outbound `database` endpoints share: connection options, statement
// options, and the one-time `init` SQL.

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "sql_statement.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::database {

/// Options both directions share.
std::vector<OptionSpec> connectionSpecs();
DatabaseUrl urlOption(const Options& options);
/// A statement option parsed, with a syntax error reported at its place.
SqlStatement statementOption(const Options& options, std::string_view name);
std::size_t poolOption(const Options& options);

/// Runs the endpoint's `init` SQL once, before its first statement: on the first connection
/// that works, again after a failure.
class Initializer {
 public:
  explicit Initializer(std::string sql) : sql_(std::move(sql)) {}
  /// Throws DatabaseError when the SQL fails.
  void ensure(Connection& connection) {
    std::lock_guard lock(mutex_);
    if (done_ || sql_.empty()) return;
    connection.execute(sql_);
    done_ = true;
  }

 private:
  std::string sql_;
  std::mutex mutex_;
  bool done_ = false;
};

}  // namespace switchboard::adapters::database
