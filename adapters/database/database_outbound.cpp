#include "database_outbound.hpp"

#include "switchboard/log.hpp"

namespace switchboard::adapters::database {

ComponentSpec OutboundOptions::spec() {
  auto options = connectionSpecs();
  options.insert(options.begin() + 1,
                 {"statement", OptionType::String, true, "",
                  "SQL with :name parameters bound from the body (:order.id), headers (:header.X), "
                  "properties (:prop.X) or :message.id; rows it returns become the body"});
  options.insert(options.begin() + 2, {"batch", OptionType::Int, false, "1",
                                       "most messages written in one transaction (those in flight at once: "
                                       "set the route's concurrency as high)"});
  return ComponentSpec{"database", "Runs a parameterised SQL statement per message on SQLite or PostgreSQL.",
                       std::move(options)};
}

OutboundOptions OutboundOptions::from(const Options& options) {
  OutboundOptions o;
  o.url = urlOption(options);
  o.statement = statementOption(options, "statement");
  const auto batch = options.integer("batch");
  if (batch < 1 || batch > 100'000) throw OptionError("batch", "batch must be between 1 and 100000");
  o.batch = static_cast<std::size_t>(batch);
  o.pool = poolOption(options);
  if (options.has("init")) o.init = options.string("init");
  o.wait = options.scope().route_timeout;
  return o;
}

void applyResult(Message& message, const Result& result) {
  message.headers().set("db.rows_affected", std::to_string(result.affected));
  if (!result.returns_rows) return;
  // Rows are an answer, as a called service's response is: a request-reply inbound
  // answers with them.
  message.headers().set("http.status", "200");
  auto rows = nlohmann::ordered_json::array();
  for (const auto& row : result.rows) rows.push_back(row);
  message.setBody(rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

DatabaseOutbound::DatabaseOutbound(OutboundOptions options)
    : options_(std::move(options)),
      sql_(options_.statement.text(options_.url.dialect)),
      pool_(Pool::of(options_.url, options_.pool)),
      init_(options_.init) {
  if (options_.batch > 1) writer_ = std::thread([this] { writerLoop(); });
}

DatabaseOutbound::~DatabaseOutbound() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::string DatabaseOutbound::describe() const {
  return "database " + options_.url.redacted();
}

Status DatabaseOutbound::send(Message& message) {
  std::vector<nlohmann::json> params;
  try {
    params = options_.statement.bind(message);
  } catch (const MessageError& e) {
    return Status::badInput(e.what());
  }
  try {
    auto connection = pool_->acquire(options_.wait);
    init_.ensure(*connection);
    applyResult(message, connection->run(sql_, params));
    return Status::ok();
  } catch (const DatabaseError& e) {
    return e.status();
  }
}

bool DatabaseOutbound::sendAsync(Message& message, Done done) {
  if (options_.batch <= 1) return false;
  Pending pending{&message, {}, std::move(done)};
  try {
    pending.params = options_.statement.bind(message);
  } catch (const MessageError& e) {
    pending.done(Status::badInput(e.what()));
    return true;
  }
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(pending));
  }
  wake_.notify_one();
  return true;
}

void DatabaseOutbound::writerLoop() {
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      while (!queue_.empty() && batch.size() < options_.batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    writeBatch(batch);
  }
}

void DatabaseOutbound::writeBatch(std::vector<Pending>& batch) {
  std::vector<Result> results(batch.size());
  try {
    auto connection = pool_->acquire(options_.wait);
    init_.ensure(*connection);
    try {
      if (batch.size() == 1) {
        results[0] = connection->run(sql_, batch[0].params);
      } else {
        std::vector<std::vector<nlohmann::json>> params;
        params.reserve(batch.size());
        for (const auto& pending : batch) params.push_back(pending.params);
        inTransaction(*connection, [&] { results = connection->runAll(sql_, params); });
      }
    } catch (const DatabaseError& e) {
      if (e.transient() || batch.size() == 1) throw;
      // One statement failed and took the transaction with it: each goes again alone.
      for (auto& pending : batch) {
        Status status = Status::ok();
        try {
          applyResult(*pending.message, connection->run(sql_, pending.params));
        } catch (const DatabaseError& single) {
          status = single.status();
        }
        pending.done(status);
      }
      return;
    }
  } catch (const DatabaseError& e) {
    for (auto& pending : batch) pending.done(e.status());
    return;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    applyResult(*batch[i].message, results[i]);
    batch[i].done(Status::ok());
  }
}

}  // namespace switchboard::adapters::database
