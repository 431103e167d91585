#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "connection.hpp"
#include "database_options.hpp"
#include "sql_statement.hpp"
#include "switchboard/plugin.hpp"

namespace switchboard::adapters::database {

struct OutboundOptions {
  DatabaseUrl url;
  SqlStatement statement;
  std::size_t batch = 1;
  std::size_t pool = 4;
  std::string init;
  std::chrono::milliseconds wait{30'000};  ///< for a free connection: the route's timeout

  static ComponentSpec spec();
  static OutboundOptions from(const Options& options);
};

/// Runs one parameterised statement per message. With `batch` above 1, the messages that
/// arrive while a transaction is being written go together into the next one.
class DatabaseOutbound final : public OutboundAdapter {
 public:
  explicit DatabaseOutbound(OutboundOptions options);
  ~DatabaseOutbound() override;

  Status send(Message& message) override;
  bool sendAsync(Message& message, Done done) override;
  std::string describe() const override;

 private:
  struct Pending {
    Message* message;
    std::vector<nlohmann::json> params;
    Done done;
  };
  void writerLoop();
  /// Writes `batch` in one transaction; when one statement fails, each is written alone
  /// so only the failing one fails.
  void writeBatch(std::vector<Pending>& batch);

  OutboundOptions options_;
  std::string sql_;
  std::shared_ptr<Pool> pool_;
  Initializer init_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread writer_;  // only with batch > 1
};

/// How a statement's result changes the message: rows become a JSON array body.
void applyResult(Message& message, const Result& result);

}  // namespace switchboard::adapters::database
