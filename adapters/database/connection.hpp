#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sql_statement.hpp"
#include "switchboard/status.hpp"

namespace switchboard::adapters::database {

/// Where a database is: `sqlite:///abs/file.db`, `sqlite:relative.db`, `sqlite::memory:`,
/// `postgresql://user:password@host:port/db?sslmode=...`.
struct DatabaseUrl {
  Dialect dialect = Dialect::Sqlite;
  std::string text;    ///< as configured: the pool's key
  std::string target;  ///< a SQLite file name, or the libpq connection URI
  bool memory = false;
  /// The url without its password, for logs and the start-up banner.
  std::string redacted() const;

  /// Throws std::invalid_argument naming what is wrong.
  static DatabaseUrl parse(std::string_view url);
};

/// A failed database call: the database's own message, and whether a retry may help.
class DatabaseError : public std::runtime_error {
 public:
  DatabaseError(Status::Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Status status() const {
    switch (code_) {
      case Status::Code::Transient: return Status::transient(what());
      case Status::Code::Timeout: return Status::timeout(what());
      default: return Status::permanent(what());
    }
  }
  /// True when the database could not be reached or was busy: the same call may work later.
  bool transient() const noexcept { return code_ == Status::Code::Transient || code_ == Status::Code::Timeout; }

 private:
  Status::Code code_;
};

/// What a statement gave back.
struct Result {
  bool returns_rows = false;                 ///< the statement has result columns (SELECT, RETURNING)
  std::vector<nlohmann::ordered_json> rows;  ///< one object per row, columns as keys
  std::int64_t affected = 0;                 ///< rows changed, or rows returned
};

/// One open connection. Used by one thread at a time (the pool hands it out).
class Connection {
 public:
  static constexpr std::size_t kAllRows = std::numeric_limits<std::size_t>::max();

  virtual ~Connection() = default;
  virtual Dialect dialect() const noexcept = 0;
  /// Runs `sql` (positional placeholders, prepared once per connection) with `params`,
  /// reading at most `max_rows` rows. Throws DatabaseError.
  virtual Result run(const std::string& sql, const std::vector<nlohmann::json>& params,
                     std::size_t max_rows = kAllRows) = 0;
  /// Runs `sql` once per parameter list, in order, in as few round trips as the database
  /// allows. Throws DatabaseError for the first that fails; later ones then did not run.
  virtual std::vector<Result> runAll(const std::string& sql, const std::vector<std::vector<nlohmann::json>>& params) {
    std::vector<Result> results;
    results.reserve(params.size());
    for (const auto& one : params) results.push_back(run(sql, one, kAllRows));
    return results;
  }
  /// Runs a statement without parameters whose result is not needed (BEGIN, COMMIT).
  virtual void execute(const std::string& sql) = 0;
  /// False once the connection broke; the pool then closes it instead of keeping it.
  virtual bool usable() const noexcept = 0;
  /// The primary key columns of `table` (as written in SQL), in key order.
  virtual std::vector<std::string> primaryKey(const std::string& table) = 0;
};

/// Opens a connection. Throws DatabaseError (transient: the database cannot be reached).
std::unique_ptr<Connection> connect(const DatabaseUrl& url);
std::unique_ptr<Connection> connectSqlite(const DatabaseUrl& url);
std::unique_ptr<Connection> connectPostgres(const DatabaseUrl& url);

/// Connections to one url, shared by every endpoint that names it; connections open on
/// demand up to the pool's size and stay open while idle. A SQLite `:memory:` database
/// has exactly one connection, so every endpoint sees the same database.
class Pool : public std::enable_shared_from_this<Pool> {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const noexcept { return *connection_; }
    Connection* operator->() const noexcept { return connection_.get(); }

   private:
    friend class Pool;
    Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> connection)
        : pool_(std::move(pool)), connection_(std::move(connection)) {}
    std::shared_ptr<Pool> pool_;  // a lease keeps its pool alive
    std::unique_ptr<Connection> connection_;
  };

  /// The pool of `url`, made on first use; `size` raises the pool's size when larger.
  static std::shared_ptr<Pool> of(const DatabaseUrl& url, std::size_t size);

  Pool(DatabaseUrl url, std::size_t size);
  /// A connection, waiting up to `wait` for one to be free. Throws DatabaseError: transient
  /// when the database cannot be reached, Timeout-coded when every connection stayed busy.
  Lease acquire(std::chrono::milliseconds wait);
  const DatabaseUrl& url() const noexcept { return url_; }

 private:
  void release(std::unique_ptr<Connection> connection);
  void grow(std::size_t size);

  DatabaseUrl url_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t size_;
  std::size_t open_ = 0;  // idle + leased
};

/// Runs `work` inside one transaction on `connection`, rolling back when it throws.
template <typename Work>
void inTransaction(Connection& connection, Work&& work) {
  connection.execute(connection.dialect() == Dialect::Sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
  try {
    work();
    connection.execute("COMMIT");
  } catch (...) {
    if (connection.usable()) {
      try {
        connection.execute("ROLLBACK");
      } catch (const DatabaseError&) {
        // The original failure is the one worth reporting.
      }
    }
    throw;
  }
}

/// Bytes as base64 text (how BLOB and bytea values appear in JSON).
std::string base64(std::string_view bytes);

}  // namespace switchboard::adapters::database
