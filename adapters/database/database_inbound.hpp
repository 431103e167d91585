#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "connection.hpp"
#include "database_options.hpp"
#include "sql_statement.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::database {

struct InboundOptions {
  std::string route_id;  // for log lines
  DatabaseUrl url;
  SqlStatement query;
  std::chrono::milliseconds poll{1000};
  std::size_t batch = 100;
  std::optional<SqlStatement> ack;  ///< absent: delete rows by primary key
  std::size_t pool = 4;
  std::string init;
  std::chrono::milliseconds route_timeout{30'000};

  static ComponentSpec spec();
  static InboundOptions from(const Options& options);
};

/// Polls a table: each row a query returns becomes a message, and is acknowledged (the
/// `ack` statement, or a delete by primary key) only after the route finished with it.
/// On PostgreSQL a batch of rows is claimed with FOR UPDATE SKIP LOCKED in a transaction
/// that lasts until its acknowledgements commit, so bus instances sharing a table never
/// take the same row, and rows of an instance that dies return to the table.
class DatabaseInbound final : public InboundAdapter {
 public:
  explicit DatabaseInbound(InboundOptions options);
  ~DatabaseInbound() override;

  void start(Intake& intake) override;
  void stop() override;
  std::string describe() const override;

 private:
  void pollLoop();
  /// Claims, delivers and acknowledges one batch; true when a full batch went through,
  /// so more rows are likely waiting.
  bool pollOnce(Connection& connection);
  /// Checks the query and makes the delete statement, once the database is reachable.
  void prepare(Connection& connection);
  /// Sleeps up to `pause` unless stopped; false when stopping.
  bool pause(std::chrono::milliseconds pause);
  bool stopping();

  InboundOptions options_;
  std::string claim_sql_;  // PostgreSQL: the cursor declaration
  std::string query_sql_;  // SQLite: the query
  std::string ack_sql_;
  std::string table_;  // db.table
  bool prepared_ = false;
  Initializer init_;
  std::shared_ptr<Pool> pool_;
  Intake* intake_ = nullptr;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread poller_;
};

}  // namespace switchboard::adapters::database
