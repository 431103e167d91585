// SQLite through its C API: one sqlite3 handle per connection, statements prepared once.
#include <sqlite3.h>

#include <cstring>
#include <unordered_map>

#include "connection.hpp"

namespace switchboard::adapters::database {
namespace {

// Busy and locked mean another connection holds the write lock; I/O errors and a full disk
// may pass. Everything else (constraints, types, syntax) is about the statement or its data.
Status::Code codeOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM: return Status::Code::Transient;
    default: return Status::Code::Permanent;
  }
}

bool declaredAs(const char* declared, std::initializer_list<const char*> names) {
  if (declared == nullptr) return false;
  for (const char* name : names) {
    if (::strcasecmp(declared, name) == 0) return true;
  }
  return false;
}

nlohmann::ordered_json columnValue(sqlite3_stmt* statement, int column) {
  switch (sqlite3_column_type(statement, column)) {
    case SQLITE_NULL: return nullptr;
    case SQLITE_INTEGER: {
      const auto value = sqlite3_column_int64(statement, column);
      if (declaredAs(sqlite3_column_decltype(statement, column), {"BOOLEAN", "BOOL"})) return value != 0;
      return value;
    }
    case SQLITE_FLOAT: return sqlite3_column_double(statement, column);
    case SQLITE_BLOB: {
      const auto* data = static_cast<const char*>(sqlite3_column_blob(statement, column));
      return base64(std::string_view(data, static_cast<std::size_t>(sqlite3_column_bytes(statement, column))));
    }
    default: {
      const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
      std::string text(data, static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
      if (declaredAs(sqlite3_column_decltype(statement, column), {"JSON", "JSONB"})) {
        auto parsed = nlohmann::ordered_json::parse(text, nullptr, false);
        if (!parsed.is_discarded()) return parsed;
      }
      return text;
    }
  }
}

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(const DatabaseUrl& url) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(url.target.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw DatabaseError(Status::Code::Transient, "cannot open " + url.target + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    // Another connection holding the write lock is waited for rather than failed at once.
    sqlite3_busy_timeout(db_, 5000);
    // WAL lets readers go on while one writer commits; NORMAL sync keeps every commit
    // through a process crash (kill -9), only a power loss may undo the last ones.
    if (!url.memory) execute("PRAGMA journal_mode=WAL");
    execute("PRAGMA synchronous=NORMAL");
    execute("PRAGMA foreign_keys=ON");
  }

  ~SqliteConnection() override {
    for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
    sqlite3_close(db_);
  }

  Dialect dialect() const noexcept override { return Dialect::Sqlite; }
  bool usable() const noexcept override { return true; }

  void execute(const std::string& sql) override {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      const std::string message = error ? error : sqlite3_errstr(rc);
      sqlite3_free(error);
      throw DatabaseError(codeOf(rc), message);
    }
  }

  Result run(const std::string& sql, const std::vector<nlohmann::json>& params, std::size_t max_rows) override {
    sqlite3_stmt* statement = prepare(sql);
    // Whatever happens, the statement is ready for its next use when this returns.
    struct Reset {
      sqlite3_stmt* statement;
      ~Reset() {
        sqlite3_reset(statement);
        sqlite3_clear_bindings(statement);
      }
    } reset{statement};
    for (std::size_t i = 0; i < params.size(); ++i) bind(statement, static_cast<int>(i + 1), params[i]);

    Result result;
    const int columns = sqlite3_column_count(statement);
    result.returns_rows = columns > 0;
    std::vector<std::string> names;
    for (int c = 0; c < columns; ++c) names.emplace_back(sqlite3_column_name(statement, c));
    while (result.rows.size() < max_rows) {
      const int rc = sqlite3_step(statement);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) throw DatabaseError(codeOf(rc), sqlite3_errmsg(db_));
      auto& row = result.rows.emplace_back(nlohmann::ordered_json::object());
      for (int c = 0; c < columns; ++c) row[names[static_cast<std::size_t>(c)]] = columnValue(statement, c);
    }
    result.affected = result.returns_rows ? static_cast<std::int64_t>(result.rows.size()) : sqlite3_changes64(db_);
    return result;
  }

  std::vector<std::string> primaryKey(const std::string& table) override {
    const auto rows =
        run("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk", {unquoteIdentifier(table)}, kAllRows)
            .rows;
    std::vector<std::string> key;
    for (const auto& row : rows) key.push_back(row["name"].get<std::string>());
    return key;
  }

 private:
  sqlite3_stmt* prepare(const std::string& sql) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    sqlite3_stmt* statement = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                      &statement, nullptr);
    if (rc != SQLITE_OK) throw DatabaseError(codeOf(rc), sqlite3_errmsg(db_));
    if (statement == nullptr) throw DatabaseError(Status::Code::Permanent, "the statement is empty");
    statements_.emplace(sql, statement);
    return statement;
  }

  void bind(sqlite3_stmt* statement, int index, const nlohmann::json& value) {
    int rc = SQLITE_OK;
    switch (value.type()) {
      case nlohmann::json::value_t::null: rc = sqlite3_bind_null(statement, index); break;
      case nlohmann::json::value_t::boolean: rc = sqlite3_bind_int(statement, index, value.get<bool>() ? 1 : 0); break;
      case nlohmann::json::value_t::number_integer:
        rc = sqlite3_bind_int64(statement, index, value.get<std::int64_t>());
        break;
      case nlohmann::json::value_t::number_unsigned: {
        const auto number = value.get<std::uint64_t>();
        rc = number <= static_cast<std::uint64_t>(INT64_MAX)
                 ? sqlite3_bind_int64(statement, index, static_cast<std::int64_t>(number))
                 : sqlite3_bind_double(statement, index, static_cast<double>(number));
        break;
      }
      case nlohmann::json::value_t::number_float:
        rc = sqlite3_bind_double(statement, index, value.get<double>());
        break;
      case nlohmann::json::value_t::string: {
        const auto& text = value.get_ref<const std::string&>();
        rc = sqlite3_bind_text64(statement, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
      }
      default: {
        const auto text = value.dump();
        rc = sqlite3_bind_text64(statement, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
      }
    }
    if (rc != SQLITE_OK) throw DatabaseError(codeOf(rc), sqlite3_errmsg(db_));
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

std::unique_ptr<Connection> connectSqlite(const DatabaseUrl& url) {
  return std::make_unique<SqliteConnection>(url);
}

}  // namespace switchboard::adapters::database
