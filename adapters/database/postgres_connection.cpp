// PostgreSQL through libpq: parameters in text format, statements prepared once per connection.
#include <libpq-fe.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "connection.hpp"

namespace switchboard::adapters::database {
namespace {

// Type OIDs of pg_type that have a JSON form other than a string.
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kJson = 114, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700, kJsonb = 3802;

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

nlohmann::ordered_json columnValue(const PGresult* result, int row, int column) {
  if (PQgetisnull(result, row, column)) return nullptr;
  const char* text = PQgetvalue(result, row, column);
  const auto length = static_cast<std::size_t>(PQgetlength(result, row, column));
  const std::string_view value(text, length);
  switch (PQftype(result, column)) {
    case kBool: return value == "t";
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
    case kFloat4:
    case kFloat8:
    case kNumeric:
    case kJson:
    case kJsonb: {
      // Numbers keep their integer or decimal form; NaN, Infinity and numbers beyond a
      // double stay text rather than turn into something else.
      auto parsed = nlohmann::ordered_json::parse(value, nullptr, false);
      if (!parsed.is_discarded() && !(parsed.is_number_float() && !std::isfinite(parsed.get<double>()))) return parsed;
      return std::string(value);
    }
    case kBytea: {
      // Text output of bytea is hex: \x0a1b...
      if (!value.starts_with("\\x")) return std::string(value);
      std::string bytes;
      bytes.reserve((length - 2) / 2);
      for (std::size_t i = 2; i + 1 < length; i += 2) {
        bytes += static_cast<char>(hexDigit(value[i]) * 16 + hexDigit(value[i + 1]));
      }
      return base64(bytes);
    }
    default: return std::string(value);
  }
}

// SQLSTATE classes worth a retry: connection exceptions (08), transaction rollbacks such as
// serialization failures and deadlocks (40), insufficient resources (53), operator
// intervention such as a shutdown (57), and lock_not_available (55P03).
Status::Code codeOf(const char* sqlstate) {
  if (sqlstate == nullptr) return Status::Code::Transient;  // no answer from the server at all
  const std::string_view state(sqlstate);
  if (state.starts_with("08") || state.starts_with("40") || state.starts_with("53") || state.starts_with("57") ||
      state == "55P03") {
    return Status::Code::Transient;
  }
  return Status::Code::Permanent;
}

std::string trimmed(const char* text) {
  std::string out = text ? text : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

class PostgresConnection final : public Connection {
 public:
  explicit PostgresConnection(const DatabaseUrl& url) {
    // The url's own settings override these defaults (expand_dbname). GSSAPI encryption is
    // off unless the url asks for it: trying it first costs every connection a Kerberos
    // lookup where none is set up, which is nearly everywhere.
    const char* keywords[] = {"connect_timeout", "application_name", "gssencmode", "dbname", nullptr};
    const char* values[] = {"5", "switchboard", "disable", url.target.c_str(), nullptr};
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      const std::string message = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
      PQfinish(conn_);
      conn_ = nullptr;
      throw DatabaseError(Status::Code::Transient, "cannot connect to " + url.redacted() + ": " + message);
    }
    // Notices (e.g. "there is no transaction in progress") are not the bus's log lines.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }

  ~PostgresConnection() override { PQfinish(conn_); }

  Dialect dialect() const noexcept override { return Dialect::Postgres; }
  bool usable() const noexcept override { return PQstatus(conn_) == CONNECTION_OK; }

  void execute(const std::string& sql) override { check(PQexec(conn_, sql.c_str())); }

  Result run(const std::string& sql, const std::vector<nlohmann::json>& params, std::size_t max_rows) override {
    const std::string& name = prepare(sql, static_cast<int>(params.size()));
    const Bound bound(params);
    Owned result = check(PQexecPrepared(conn_, name.c_str(), bound.count(), bound.values.data(), bound.lengths.data(),
                                        bound.formats.data(), 0));
    return toResult(result.get(), max_rows);
  }

  // One round trip for the lot: the statements go out in a pipeline and their results are
  // read after, instead of waiting for each answer before sending the next statement.
  std::vector<Result> runAll(const std::string& sql,
                             const std::vector<std::vector<nlohmann::json>>& params_list) override {
    if (params_list.size() <= 1) return Connection::runAll(sql, params_list);
    const std::string& name = prepare(sql, static_cast<int>(params_list.front().size()));
    std::vector<Result> results;
    results.reserve(params_list.size());
    for (std::size_t first = 0; first < params_list.size(); first += kPipelineChunk) {
      const std::size_t last = std::min(params_list.size(), first + kPipelineChunk);
      if (PQenterPipelineMode(conn_) != 1) throw lost();
      for (std::size_t i = first; i < last; ++i) {
        const Bound bound(params_list[i]);
        if (PQsendQueryPrepared(conn_, name.c_str(), bound.count(), bound.values.data(), bound.lengths.data(),
                                bound.formats.data(), 0) != 1) {
          break;  // the connection broke: the reading below finds out
        }
      }
      PQpipelineSync(conn_);
      std::optional<DatabaseError> failure;
      for (std::size_t i = first; i < last; ++i) {
        Owned result(PQgetResult(conn_));
        if (!result) {
          failure = lost();
          break;
        }
        while (Owned rest{PQgetResult(conn_)}) {
          // A statement's results end with a null; nothing else is expected before it.
        }
        const auto status = PQresultStatus(result.get());
        if (failure) continue;  // after a failure the rest are reported aborted
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
          results.push_back(toResult(result.get(), kAllRows));
        } else {
          failure = errorOf(result.get());
        }
      }
      if (!failure || usable()) {
        Owned sync(PQgetResult(conn_));  // PGRES_PIPELINE_SYNC
      }
      if (PQexitPipelineMode(conn_) != 1 && !failure) failure = lost();
      if (failure) {
        if (!usable()) statements_.clear();
        throw *failure;
      }
    }
    return results;
  }

  std::vector<std::string> primaryKey(const std::string& table) override {
    const auto rows =
        run("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = "
            "ANY(i.indkey) "
            "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            {table}, kAllRows)
            .rows;
    std::vector<std::string> key;
    for (const auto& row : rows) key.push_back(row["attname"].get<std::string>());
    return key;
  }

 private:
  struct Clear {
    void operator()(PGresult* result) const noexcept { PQclear(result); }
  };
  using Owned = std::unique_ptr<PGresult, Clear>;

  static constexpr std::size_t kPipelineChunk = 1000;

  /// Parameters as libpq takes them: text, or raw bytes for a text holding a NUL byte.
  struct Bound {
    std::vector<std::string> texts;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;

    explicit Bound(const std::vector<nlohmann::json>& params)
        : texts(params.size()), values(params.size(), nullptr), lengths(params.size(), 0), formats(params.size(), 0) {
      for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& param = params[i];
        if (param.is_null()) continue;
        texts[i] = param.is_string()    ? param.get_ref<const std::string&>()
                   : param.is_boolean() ? (param.get<bool>() ? "true" : "false")
                                        : param.dump();
        values[i] = texts[i].c_str();
        lengths[i] = static_cast<int>(texts[i].size());
        // Text format ends at a NUL byte; such a value goes as raw bytes, which a bytea
        // column stores as they are and a text column refuses with the server's error.
        if (texts[i].find('\0') != std::string::npos) formats[i] = 1;
      }
    }
    int count() const noexcept { return static_cast<int>(texts.size()); }
  };

  static Result toResult(const PGresult* result, std::size_t max_rows) {
    Result out;
    out.returns_rows = PQresultStatus(result) == PGRES_TUPLES_OK;
    if (out.returns_rows) {
      const int rows = PQntuples(result);
      const int columns = PQnfields(result);
      for (int r = 0; r < rows && out.rows.size() < max_rows; ++r) {
        auto& row = out.rows.emplace_back(nlohmann::ordered_json::object());
        for (int c = 0; c < columns; ++c) row[PQfname(result, c)] = columnValue(result, r, c);
      }
      out.affected = static_cast<std::int64_t>(out.rows.size());
    } else {
      const char* tuples = PQcmdTuples(const_cast<PGresult*>(result));
      out.affected = (tuples && *tuples) ? std::stoll(tuples) : 0;
    }
    return out;
  }

  DatabaseError lost() const {
    return DatabaseError(Status::Code::Transient, "connection lost: " + trimmed(PQerrorMessage(conn_)));
  }

  /// The server's message for a failed result, with its detail and SQLSTATE.
  DatabaseError errorOf(const PGresult* result) const {
    if (PQstatus(conn_) != CONNECTION_OK) return lost();
    const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    std::string message = trimmed(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
    if (message.empty()) message = trimmed(PQresultErrorMessage(result));
    if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
      message += " (" + trimmed(detail) + ")";
    }
    if (sqlstate) message += " [SQLSTATE " + std::string(sqlstate) + "]";
    return DatabaseError(codeOf(sqlstate), message);
  }

  /// The result when the call succeeded; otherwise a DatabaseError with the server's message.
  Owned check(PGresult* raw) {
    Owned result(raw);
    const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
    if (!result || PQstatus(conn_) != CONNECTION_OK) {
      statements_.clear();  // a new session has none of them
      throw lost();
    }
    throw errorOf(result.get());
  }

  const std::string& prepare(const std::string& sql, int parameters) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    std::string name = "switchboard_" + std::to_string(statements_.size() + 1);
    check(PQprepare(conn_, name.c_str(), sql.c_str(), parameters, nullptr));
    return statements_.emplace(sql, std::move(name)).first->second;
  }

  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> statements_;
};

}  // namespace

std::unique_ptr<Connection> connectPostgres(const DatabaseUrl& url) {
  return std::make_unique<PostgresConnection>(url);
}

}  // namespace switchboard::adapters::database
