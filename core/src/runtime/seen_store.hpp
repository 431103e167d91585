#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "switchboard/message.hpp"

struct sqlite3;

namespace switchboard::core {

/// What a route with `idempotent` remembers of the items it took, in a SQLite file: for each
/// key, the outbound endpoints that already succeeded, whether the item is done and, for an
/// item that came from a caller waiting for an answer, the answer it got. An item delivered
/// again (a poller redelivering after a crash, a client repeating a request whose answer it
/// lost) then skips what was done for it, and a caller gets the first answer again. Entries
/// older than the route's `expire` are removed. Thread-safe; several routes may share one file.
class SeenStore {
 public:
  static constexpr int kDone = -1;  ///< the endpoint index that marks the whole item done

  /// The store in `path`, opened on first use. Throws std::runtime_error.
  static std::shared_ptr<SeenStore> open(const std::filesystem::path& path);

  explicit SeenStore(const std::filesystem::path& path);
  ~SeenStore();
  SeenStore(const SeenStore&) = delete;
  SeenStore& operator=(const SeenStore&) = delete;

  /// Whether `endpoint` (or kDone) is recorded for `key`. A store that fails answers false:
  /// the item is delivered again rather than lost.
  bool contains(const std::string& route, const std::string& key, int endpoint);
  /// Records `endpoint` (or kDone) for `key`, committed before it returns.
  void record(const std::string& route, const std::string& key, int endpoint);
  /// Records `key` done together with the answer its caller got (http.status, content type
  /// and body of `reply`), in one transaction.
  void recordDone(const std::string& route, const std::string& key, const Message& reply);
  /// The answer recorded for a done `key`, as a message with id `id`; none when the item was
  /// done without one.
  std::optional<Message> reply(const std::string& route, const std::string& key, const std::string& id);
  /// Removes the route's entries recorded before `now - age`.
  void expire(const std::string& route, std::chrono::milliseconds age);

 private:
  void exec(const char* sql);
  void insertSeen(const std::string& route, const std::string& key, int endpoint);  // mutex_ held
  std::string path_;
  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  struct Statements;
  std::unique_ptr<Statements> statements_;
};

}  // namespace switchboard::core
