#include "runtime/seen_store.hpp"

#include <sqlite3.h>

#include <map>
#include <stdexcept>

#include "switchboard/log.hpp"

namespace switchboard::core {

struct SeenStore::Statements {
  sqlite3_stmt* contains = nullptr;
  sqlite3_stmt* record = nullptr;
  sqlite3_stmt* expire = nullptr;
  sqlite3_stmt* record_reply = nullptr;
  sqlite3_stmt* reply = nullptr;
  sqlite3_stmt* expire_replies = nullptr;
  ~Statements() {
    for (auto* statement : {contains, record, expire, record_reply, reply, expire_replies}) {
      sqlite3_finalize(statement);
    }
  }
};

namespace {

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Runs a prepared statement to its end and resets it; false (logged) on an error.
bool step(sqlite3* db, sqlite3_stmt* statement, bool* row = nullptr) {
  const int rc = sqlite3_step(statement);
  if (row) *row = rc == SQLITE_ROW;
  const bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
  if (!ok) log(LogLevel::Error, std::string("idempotency store: ") + sqlite3_errmsg(db));
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  return ok;
}

void bindText(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

std::shared_ptr<SeenStore> SeenStore::open(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<SeenStore>> stores;
  std::lock_guard lock(mutex);
  const auto key = std::filesystem::absolute(path).lexically_normal().string();
  auto store = stores[key].lock();
  if (!store) {
    store = std::make_shared<SeenStore>(key);
    stores[key] = store;
  }
  return store;
}

SeenStore::SeenStore(const std::filesystem::path& path) : path_(path.string()) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open the idempotency store " + path_ + ": " + message);
  }
  sqlite3_busy_timeout(db_, 5000);
  // WAL with NORMAL sync: a record survives the process being killed, which is what a
  // redelivery after kill -9 needs to find.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec(
      "CREATE TABLE IF NOT EXISTS seen (route TEXT NOT NULL, key TEXT NOT NULL, endpoint INTEGER NOT NULL, "
      "at INTEGER NOT NULL, PRIMARY KEY (route, key, endpoint)) WITHOUT ROWID");
  exec("CREATE INDEX IF NOT EXISTS seen_at ON seen (route, at)");
  exec(
      "CREATE TABLE IF NOT EXISTS replies (route TEXT NOT NULL, key TEXT NOT NULL, status TEXT, "
      "content_type TEXT NOT NULL, body BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (route, key))");
  exec("CREATE INDEX IF NOT EXISTS replies_at ON replies (route, at)");
  statements_ = std::make_unique<Statements>();
  auto prepare = [&](const char* sql, sqlite3_stmt** statement) {
    if (sqlite3_prepare_v2(db_, sql, -1, statement, nullptr) != SQLITE_OK) {
      throw std::runtime_error("idempotency store " + path_ + ": " + sqlite3_errmsg(db_));
    }
  };
  prepare("SELECT 1 FROM seen WHERE route = ?1 AND key = ?2 AND endpoint = ?3", &statements_->contains);
  prepare("INSERT OR IGNORE INTO seen (route, key, endpoint, at) VALUES (?1, ?2, ?3, ?4)", &statements_->record);
  prepare("DELETE FROM seen WHERE route = ?1 AND at < ?2", &statements_->expire);
  prepare("INSERT OR REPLACE INTO replies (route, key, status, content_type, body, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
          &statements_->record_reply);
  prepare("SELECT status, content_type, body FROM replies WHERE route = ?1 AND key = ?2", &statements_->reply);
  prepare("DELETE FROM replies WHERE route = ?1 AND at < ?2", &statements_->expire_replies);
}

SeenStore::~SeenStore() {
  statements_.reset();
  sqlite3_close(db_);
}

void SeenStore::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("idempotency store " + path_ + ": " + message);
  }
}

bool SeenStore::contains(const std::string& route, const std::string& key, int endpoint) {
  std::lock_guard lock(mutex_);
  bindText(statements_->contains, 1, route);
  bindText(statements_->contains, 2, key);
  sqlite3_bind_int(statements_->contains, 3, endpoint);
  bool row = false;
  step(db_, statements_->contains, &row);
  return row;
}

void SeenStore::record(const std::string& route, const std::string& key, int endpoint) {
  std::lock_guard lock(mutex_);
  insertSeen(route, key, endpoint);
}

void SeenStore::insertSeen(const std::string& route, const std::string& key, int endpoint) {
  bindText(statements_->record, 1, route);
  bindText(statements_->record, 2, key);
  sqlite3_bind_int(statements_->record, 3, endpoint);
  sqlite3_bind_int64(statements_->record, 4, nowMs());
  step(db_, statements_->record);
}

void SeenStore::recordDone(const std::string& route, const std::string& key, const Message& reply) {
  std::lock_guard lock(mutex_);
  // One transaction: a crash leaves either both rows or neither, never a done item whose
  // caller would get no answer when it asks again.
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    log(LogLevel::Error, std::string("idempotency store: ") + sqlite3_errmsg(db_));
    return;
  }
  auto* statement = statements_->record_reply;
  bindText(statement, 1, route);
  bindText(statement, 2, key);
  if (const auto* status = reply.headers().find("http.status")) bindText(statement, 3, *status);
  bindText(statement, 4, reply.contentType());
  sqlite3_bind_blob64(statement, 5, reply.body().data(), reply.body().size(), SQLITE_TRANSIENT);
  sqlite3_bind_int64(statement, 6, nowMs());
  const bool ok = step(db_, statement);
  if (ok) insertSeen(route, key, kDone);
  sqlite3_exec(db_, ok ? "COMMIT" : "ROLLBACK", nullptr, nullptr, nullptr);
}

std::optional<Message> SeenStore::reply(const std::string& route, const std::string& key, const std::string& id) {
  std::lock_guard lock(mutex_);
  auto* statement = statements_->reply;
  bindText(statement, 1, route);
  bindText(statement, 2, key);
  std::optional<Message> reply;
  if (sqlite3_step(statement) == SQLITE_ROW) {
    auto text = [&](int column) {
      const auto* data = reinterpret_cast<const char*>(sqlite3_column_blob(statement, column));
      return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(statement, column)))
                  : std::string();
    };
    reply.emplace(id);
    if (sqlite3_column_type(statement, 0) != SQLITE_NULL) reply->headers().set("http.status", text(0));
    reply->setBody(text(2), text(1));
  }
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  return reply;
}

void SeenStore::expire(const std::string& route, std::chrono::milliseconds age) {
  std::lock_guard lock(mutex_);
  for (auto* statement : {statements_->expire, statements_->expire_replies}) {
    bindText(statement, 1, route);
    sqlite3_bind_int64(statement, 2, nowMs() - age.count());
    step(db_, statement);
  }
}

}  // namespace switchboard::core
