#include "database_inbound.hpp"

#include <algorithm>

#include "switchboard/log.hpp"

namespace switchboard::adapters::database {
namespace {

constexpr std::chrono::milliseconds kMaxBackoff{30'000};
constexpr const char* kCursor = "switchboard_claim";

/// How each message of a batch ended: null until it did.
struct BatchState {
  std::mutex mutex;
  std::condition_variable finished;
  std::vector<std::optional<bool>> acknowledged;
  std::size_t open = 0;

  void settle(std::size_t index, bool acknowledge) {
    {
      std::lock_guard lock(mutex);
      acknowledged[index] = acknowledge;
      --open;
    }
    finished.notify_all();
  }
};

bool plainName(const std::string& column) {
  return !column.empty() && (std::isalpha(static_cast<unsigned char>(column[0])) || column[0] == '_') &&
         std::all_of(column.begin(), column.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

}  // namespace

ComponentSpec InboundOptions::spec() {
  auto options = connectionSpecs();
  options.insert(options.begin() + 1,
                 {{"query", OptionType::String, true, "", "SELECT whose rows become messages (columns as JSON keys)"},
                  {"poll", OptionType::Duration, false, "1s", "pause between polls that found fewer rows than batch"},
                  {"batch", OptionType::Int, false, "100", "most rows claimed per poll"},
                  {"ack", OptionType::String, false, "",
                   "statement run for each row once the route finished with it, with the row's columns as "
                   ":parameters (UPDATE orders SET state = 'sent' WHERE id = :id)"},
                  {"delete", OptionType::Bool, false, "false",
                   "delete each finished row by its table's primary key instead (the query must select it)"}});
  return ComponentSpec{"database",
                       "Polls a SQLite or PostgreSQL table; each row is a message, acknowledged after delivery.",
                       std::move(options)};
}

InboundOptions InboundOptions::from(const Options& options) {
  InboundOptions o;
  o.url = urlOption(options);
  o.query = statementOption(options, "query");
  if (!o.query.parameters().empty()) {
    throw OptionError("query", "the query takes no :parameters (found :" + o.query.parameters()[0].name() + ")");
  }
  o.poll = options.duration("poll");
  if (o.poll.count() <= 0) throw OptionError("poll", "poll must be longer than 0ms");
  const auto batch = options.integer("batch");
  if (batch < 1 || batch > 100'000) throw OptionError("batch", "batch must be between 1 and 100000");
  o.batch = static_cast<std::size_t>(batch);
  const bool remove = options.boolean("delete");
  if (options.has("ack") == remove) {
    throw OptionError("", options.has("ack")
                              ? "give either ack or delete: true, not both"
                              : "say how a delivered row is acknowledged: ack: \"UPDATE t SET state = 'sent' "
                                "WHERE id = :id\", or delete: true");
  }
  if (options.has("ack")) o.ack = statementOption(options, "ack");
  if (remove && o.query.firstTable().empty()) {
    throw OptionError("delete", "delete: true needs a query that names its table after FROM");
  }
  o.pool = poolOption(options);
  if (options.has("init")) o.init = options.string("init");
  o.route_timeout = options.scope().route_timeout;
  o.route_id = options.scope().route_id;
  return o;
}

DatabaseInbound::DatabaseInbound(InboundOptions options)
    : options_(std::move(options)), table_(unquoteIdentifier(options_.query.firstTable())), init_(options_.init) {
  const auto dialect = options_.url.dialect;
  query_sql_ = options_.query.text(dialect);
  // A cursor locks the rows it fetches, and only those: the FETCH takes one batch.
  claim_sql_ = "DECLARE " + std::string(kCursor) + " NO SCROLL CURSOR FOR " + query_sql_ +
               (options_.query.locksRows() ? "" : " FOR UPDATE SKIP LOCKED");
  if (options_.ack) ack_sql_ = options_.ack->text(dialect);
}

DatabaseInbound::~DatabaseInbound() {
  stop();
}

std::string DatabaseInbound::describe() const {
  return "database " + options_.url.redacted() + (table_.empty() ? "" : " table " + table_);
}

void DatabaseInbound::start(Intake& intake) {
  intake_ = &intake;
  pool_ = Pool::of(options_.url, options_.pool);
  // A reachable database with a query that cannot work is a start-up error; an unreachable
  // one is waited for by the poller.
  std::optional<Pool::Lease> connection;
  try {
    connection.emplace(pool_->acquire(std::chrono::seconds(5)));
  } catch (const DatabaseError& e) {
    log(LogLevel::Warn, "database unavailable, polling will wait for it: " + std::string(e.what()),
        {{"route", options_.route_id}, {"url", options_.url.redacted()}});
  }
  if (connection) {
    try {
      prepare(**connection);
    } catch (const DatabaseError& e) {
      if (!e.transient()) throw std::runtime_error("database inbound: " + std::string(e.what()));
    }
  }
  connection.reset();
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  poller_ = std::thread([this] { pollLoop(); });
}

void DatabaseInbound::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

bool DatabaseInbound::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

bool DatabaseInbound::pause(std::chrono::milliseconds pause) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, pause, [this] { return stopping_; });
}

void DatabaseInbound::prepare(Connection& connection) {
  if (prepared_) return;
  init_.ensure(connection);
  // Running the query with no row to read checks it against the database (syntax, tables).
  if (connection.dialect() == Dialect::Postgres) {
    inTransaction(connection, [&] {
      connection.execute(claim_sql_);
      connection.execute(std::string("CLOSE ") + kCursor);
    });
  } else {
    connection.run(query_sql_, {}, 0);
  }
  if (!options_.ack) {
    const auto& table = options_.query.firstTable();
    const auto key = connection.primaryKey(table);
    if (key.empty()) {
      throw DatabaseError(Status::Code::Permanent,
                          "delete: true needs a primary key on " + table + "; write an ack statement instead");
    }
    std::string sql = "DELETE FROM " + table + " WHERE ";
    for (std::size_t i = 0; i < key.size(); ++i) {
      if (!plainName(key[i])) {
        throw DatabaseError(Status::Code::Permanent,
                            "primary key column '" + key[i] + "' needs quoting; write an ack statement instead");
      }
      sql += (i ? " AND " : "") + key[i] + " = :" + key[i];
    }
    options_.ack = SqlStatement::parse(sql);
    ack_sql_ = options_.ack->text(connection.dialect());
  }
  prepared_ = true;
}

void DatabaseInbound::pollLoop() {
  auto backoff = options_.poll;
  bool unavailable = false;
  while (!stopping()) {
    if (!intake_->waitForRoom()) return;
    bool more = false;
    try {
      auto connection = pool_->acquire(options_.route_timeout);
      prepare(*connection);
      more = pollOnce(*connection);
      if (unavailable) {
        log(LogLevel::Info, "database available again",
            {{"route", options_.route_id}, {"url", options_.url.redacted()}});
        unavailable = false;
      }
      backoff = options_.poll;
    } catch (const DatabaseError& e) {
      if (!unavailable) {
        log(e.transient() ? LogLevel::Warn : LogLevel::Error,
            std::string(e.transient() ? "database unavailable" : "database poll failed") +
                ", retrying with backoff: " + e.what(),
            {{"route", options_.route_id}, {"url", options_.url.redacted()}});
        unavailable = true;
      }
      if (!pause(backoff)) return;
      backoff = std::min(backoff * 2, std::max(kMaxBackoff, options_.poll));
      continue;
    }
    if (!more && !pause(options_.poll)) return;
  }
}

bool DatabaseInbound::pollOnce(Connection& connection) {
  const bool postgres = connection.dialect() == Dialect::Postgres;
  Result claimed;
  if (postgres) {
    connection.execute("BEGIN");
    try {
      connection.execute(claim_sql_);
      claimed = connection.run("FETCH FORWARD " + std::to_string(options_.batch) + " FROM " + kCursor, {});
      connection.execute(std::string("CLOSE ") + kCursor);
    } catch (...) {
      if (connection.usable()) connection.execute("ROLLBACK");
      throw;
    }
  } else {
    claimed = connection.run(query_sql_, {}, options_.batch);
  }

  const std::size_t count = claimed.rows.size();
  auto state = std::make_shared<BatchState>();
  state->acknowledged.resize(count);
  state->open = count;
  std::vector<Message> delivered;
  delivered.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Message message = intake_->newMessage();
    if (!table_.empty()) message.headers().set("db.table", table_);
    message.setBody(claimed.rows[i].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    delivered.push_back(message);  // keeps the row's values for the acknowledgement
    if (!intake_->deliver(std::move(message),
                          [state, i](Outcome outcome) { state->settle(i, outcome.acknowledge()); })) {
      // The route is closing: the rest stay unclaimed for the next start.
      for (std::size_t rest = i; rest < count; ++rest) state->settle(rest, false);
      break;
    }
  }
  {
    // Every message ends within the route's timeout, retries included; the margin covers
    // a dead letter endpoint's own send.
    std::unique_lock lock(state->mutex);
    if (!state->finished.wait_for(lock, options_.route_timeout * 2 + std::chrono::seconds(5),
                                  [&] { return state->open == 0; })) {
      log(LogLevel::Error, "rows still in flight after twice the route timeout; they will be delivered again",
          {{"route", options_.route_id}, {"url", options_.url.redacted()}});
    }
  }

  std::vector<std::vector<nlohmann::json>> acks;
  {
    std::lock_guard lock(state->mutex);
    for (std::size_t i = 0; i < count; ++i) {
      if (!state->acknowledged[i].value_or(false)) continue;
      try {
        acks.push_back(options_.ack->bind(delivered[i]));
      } catch (const MessageError& e) {
        log(LogLevel::Error, "cannot acknowledge row: " + std::string(e.what()),
            {{"route", options_.route_id}, {"message", delivered[i].id()}});
      }
    }
  }
  const std::size_t acked = acks.size();
  auto acknowledge = [&] { connection.runAll(ack_sql_, acks); };
  try {
    if (postgres) {
      try {
        acknowledge();
        connection.execute("COMMIT");
      } catch (...) {
        if (connection.usable()) connection.execute("ROLLBACK");
        throw;
      }
    } else if (acked > 0) {
      inTransaction(connection, acknowledge);
    }
  } catch (const DatabaseError& e) {
    log(LogLevel::Error,
        "acknowledgement failed, " + std::to_string(count) + " row(s) will be delivered again: " + e.what(),
        {{"route", options_.route_id}, {"url", options_.url.redacted()}});
    throw;
  }
  if (count > 0) {
    log(LogLevel::Debug, "polled " + std::to_string(count) + " row(s), acknowledged " + std::to_string(acked),
        {{"route", options_.route_id}, {"url", options_.url.redacted()}});
  }
  // Rows that failed come back first at the next poll: wait a poll interval before that.
  return acked == count && count == options_.batch;
}

}  // namespace switchboard::adapters::database
