#include "connection.hpp"

#include <openssl/evp.h>

#include <map>

#include "switchboard/log.hpp"

namespace switchboard::adapters::database {

std::string DatabaseUrl::redacted() const {
  return dialect == Dialect::Postgres ? redactUrl(text) : text;
}

DatabaseUrl DatabaseUrl::parse(std::string_view url) {
  DatabaseUrl parsed;
  parsed.text = std::string(url);
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    parsed.dialect = Dialect::Postgres;
    parsed.target = parsed.text;
    return parsed;
  }
  if (url.starts_with("sqlite:")) {
    parsed.dialect = Dialect::Sqlite;
    auto path = url.substr(7);
    if (path == ":memory:") {
      parsed.memory = true;
      parsed.target = ":memory:";
      return parsed;
    }
    if (path.starts_with("//")) path.remove_prefix(2);
    if (path.empty()) throw std::invalid_argument("'" + parsed.text + "' names no database file");
    parsed.target = std::string(path);
    return parsed;
  }
  throw std::invalid_argument("'" + redactUrl(parsed.text) +
                              "' is not a database url: write sqlite:///path/file.db, sqlite::memory: or "
                              "postgresql://user:password@host:port/database");
}

std::unique_ptr<Connection> connect(const DatabaseUrl& url) {
  return url.dialect == Dialect::Sqlite ? connectSqlite(url) : connectPostgres(url);
}

std::shared_ptr<Pool> Pool::of(const DatabaseUrl& url, std::size_t size) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<Pool>> pools;
  std::lock_guard lock(mutex);
  auto& slot = pools[url.text];
  auto pool = slot.lock();
  if (pool) {
    pool->grow(size);
  } else {
    pool = std::make_shared<Pool>(url, size);
    slot = pool;
  }
  return pool;
}

Pool::Pool(DatabaseUrl url, std::size_t size)
    : url_(std::move(url)), size_(url_.memory ? 1 : std::max<std::size_t>(size, 1)) {}

void Pool::grow(std::size_t size) {
  std::lock_guard lock(mutex_);
  if (!url_.memory && size > size_) size_ = size;
}

Pool::Lease Pool::acquire(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  const bool got = freed_.wait_for(lock, wait, [this] { return !idle_.empty() || open_ < size_; });
  if (!got) {
    throw DatabaseError(Status::Code::Timeout, "no free connection to " + url_.redacted() + " within " +
                                                   std::to_string(wait.count()) + "ms (pool of " +
                                                   std::to_string(size_) + ")");
  }
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(shared_from_this(), std::move(connection));
  }
  ++open_;  // the slot is ours while we connect without the lock
  lock.unlock();
  try {
    return Lease(shared_from_this(), connect(url_));
  } catch (...) {
    lock.lock();
    --open_;
    lock.unlock();
    freed_.notify_one();
    throw;
  }
}

void Pool::release(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mutex_);
    if (connection->usable()) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
  }
  freed_.notify_one();
  // A broken connection closes here, outside the lock.
}

Pool::Lease::~Lease() {
  if (connection_) pool_->release(std::move(connection_));
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

}  // namespace switchboard::adapters::database
