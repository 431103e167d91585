// The database adapter without the bus, on SQLite: statement parsing, type mapping, the
// outbound with and without batches, and the polling inbound's claim and acknowledgement.
// PostgreSQL is exercised against a real server by tests/integration/test_database.py.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "adapters/scripted_intake.hpp"
#include "component_options.hpp"
#include "connection.hpp"
#include "database_inbound.hpp"
#include "database_outbound.hpp"
#include "sql_statement.hpp"

using namespace switchboard;
using namespace switchboard::adapters::database;
using namespace std::chrono_literals;
using switchboard::testing::optionsFor;
using switchboard::testing::ScriptedIntake;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

struct TempDb {
  fs::path dir = fs::temp_directory_path() / ("sb-db-test-" + newUuid());
  std::string url;
  TempDb() {
    fs::create_directories(dir);
    url = "sqlite://" + (dir / "test.db").string();
  }
  ~TempDb() { fs::remove_all(dir); }
  std::vector<nlohmann::ordered_json> query(const std::string& sql) const {
    auto lease = Pool::of(DatabaseUrl::parse(url), 1)->acquire(1s);
    return lease->run(sql, {}).rows;
  }
  void exec(const std::string& sql) const {
    auto lease = Pool::of(DatabaseUrl::parse(url), 1)->acquire(1s);
    lease->execute(sql);
  }
};

Message jsonMessage(const std::string& body) {
  Message message(newUuid());
  message.setBody(body, "application/json");
  return message;
}

}  // namespace

TEST_CASE("placeholders become positional parameters of either database", "[database][statement]") {
  const auto s = SqlStatement::parse("INSERT INTO t(a, b, c) VALUES (:order.id, :header.X-Trace, :order.id)");
  REQUIRE(s.parameters().size() == 2);
  CHECK(s.parameters()[0].name() == "order.id");
  CHECK(s.parameters()[1].name() == "header.X-Trace");
  CHECK(s.text(Dialect::Sqlite) == "INSERT INTO t(a, b, c) VALUES (?1, ?2, ?1)");
  CHECK(s.text(Dialect::Postgres) == "INSERT INTO t(a, b, c) VALUES ($1, $2, $1)");
}

TEST_CASE("quotes, comments, dollar quotes and casts hold no placeholders", "[database][statement]") {
  const std::string sql =
      "SELECT ':a', \":b\", E'\\':c', $$ :d $$, $x$ :e $x$, x::text, y[1:2] -- :f\n/* :g */ FROM t WHERE id = :id";
  const auto s = SqlStatement::parse(sql);
  REQUIRE(s.parameters().size() == 1);
  CHECK(s.parameters()[0].name() == "id");
  CHECK(s.text(Dialect::Postgres) == sql.substr(0, sql.size() - 3) + "$1");
}

TEST_CASE("a statement knows its table and whether it locks rows", "[database][statement]") {
  CHECK(SqlStatement::parse("select * from orders where x = 1").firstTable() == "orders");
  CHECK(SqlStatement::parse("SELECT id FROM app.\"Orders\" o").firstTable() == "app.\"Orders\"");
  CHECK(unquoteIdentifier("app.\"Orders\"") == "app.Orders");
  CHECK(SqlStatement::parse("SELECT 1").firstTable().empty());
  CHECK(SqlStatement::parse("SELECT * FROM (SELECT 1) s").firstTable().empty());
  CHECK_FALSE(SqlStatement::parse("SELECT * FROM t").locksRows());
  CHECK(SqlStatement::parse("SELECT * FROM t FOR UPDATE").locksRows());
  CHECK(SqlStatement::parse("SELECT * FROM t for no key update").locksRows());
  CHECK_FALSE(SqlStatement::parse("SELECT 'for update' FROM t").locksRows());
}

TEST_CASE("an unterminated quote is a syntax error at its place", "[database][statement]") {
  try {
    SqlStatement::parse("SELECT 'abc FROM t");
    FAIL("no error");
  } catch (const SyntaxError& e) {
    CHECK(e.offset() == 7);
    CHECK(std::string(e.what()).find("unterminated string") != std::string::npos);
  }
  CHECK_THROWS_AS(SqlStatement::parse("SELECT :header. FROM t"), SyntaxError);
  CHECK_THROWS_AS(SqlStatement::parse("SELECT /* x FROM t"), SyntaxError);
}

TEST_CASE("parameters bind from the body, headers, properties and the id", "[database][statement]") {
  const auto s =
      SqlStatement::parse(":a.b, :items[1], :header.X-Id, :prop.p, :message.id, :flag, :obj, :header.file.name.");
  auto message = jsonMessage(R"({"a": {"b": 7}, "items": ["x", "y"], "flag": true, "obj": {"k": [1]}})");
  message.headers().set("x-id", "h1");
  message.headers().set("file.name", "in.json");
  message.properties()["p"] = "v";
  const auto values = s.bind(message);
  REQUIRE(values.size() == 8);
  CHECK(values[0] == 7);
  CHECK(values[1] == "y");
  CHECK(values[2] == "h1");
  CHECK(values[3] == "v");
  CHECK(values[4] == message.id());
  CHECK(values[5] == true);
  CHECK(values[6] == Json::parse(R"({"k": [1]})"));
  CHECK(values[7] == "in.json");
  CHECK_THROWS_WITH(SqlStatement::parse(":missing").bind(message), Catch::Contains("no value at 'missing'"));
  CHECK_THROWS_WITH(SqlStatement::parse(":header.Nope").bind(message), Catch::Contains("no header 'Nope'"));
  CHECK_THROWS_AS(SqlStatement::parse(":a").bind(jsonMessage("not json")), MessageError);
}

TEST_CASE("urls name SQLite files, memory and PostgreSQL servers", "[database][url]") {
  CHECK(DatabaseUrl::parse("sqlite:///var/lib/app.db").target == "/var/lib/app.db");
  CHECK(DatabaseUrl::parse("sqlite:data/app.db").target == "data/app.db");
  CHECK(DatabaseUrl::parse("sqlite::memory:").memory);
  const auto pg = DatabaseUrl::parse("postgresql://bus:s3cret@127.0.0.1:5432/app?sslmode=disable");
  CHECK(pg.dialect == Dialect::Postgres);
  CHECK(pg.redacted() == "postgresql://bus:***@127.0.0.1:5432/app?sslmode=disable");
  CHECK(DatabaseUrl::parse("postgres://127.0.0.1/app").redacted() == "postgres://127.0.0.1/app");
  CHECK(DatabaseUrl::parse("postgresql://bus@h/app?connect_timeout=2&password=pw&sslmode=disable").redacted() ==
        "postgresql://bus@h/app?connect_timeout=2&password=***&sslmode=disable");
  CHECK(DatabaseUrl::parse("postgresql://bus@h/app?password=pw").redacted() == "postgresql://bus@h/app?password=***");
  CHECK(DatabaseUrl::parse("postgresql://h/app?old_password=x").redacted() == "postgresql://h/app?old_password=x");
  try {
    DatabaseUrl::parse("postgresq://bus:pw@h/app?password=pw2");
    FAIL("a mistyped scheme is refused");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("pw") == std::string::npos);
    CHECK_THAT(e.what(), Catch::Contains("postgresq://bus:***@h/app?password=***"));
  }
  CHECK_THROWS_WITH(DatabaseUrl::parse("mysql://x"), Catch::Contains("not a database url"));
  CHECK_THROWS_AS(DatabaseUrl::parse("sqlite://"), std::invalid_argument);
}

TEST_CASE("SQLite values map to JSON and back", "[database][sqlite]") {
  TempDb db;
  db.exec("CREATE TABLE v(i INTEGER, r REAL, t TEXT, b BOOLEAN, j JSON, x BLOB, n TEXT)");
  auto lease = Pool::of(DatabaseUrl::parse(db.url), 1)->acquire(1s);
  const std::string nul("a\0b", 3);
  const std::string big(1 << 20, 'z');
  const auto inserted =
      lease->run("INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5, x'00ff10', ?6)",
                 {Json(-42), Json(2.5), Json(nul), Json(true), Json::parse(R"({"a":[1,null]})"), Json(nullptr)});
  CHECK_FALSE(inserted.returns_rows);
  CHECK(inserted.affected == 1);
  lease->run("INSERT INTO v(t) VALUES (?1)", {Json(big)});
  lease->run("INSERT INTO v(t) VALUES (?1)", {Json("'; DROP TABLE v; -- \"q\" 🎉")});
  const auto rows = lease->run("SELECT * FROM v", {}).rows;
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["i"] == -42);
  CHECK(rows[0]["r"] == 2.5);
  CHECK(rows[0]["t"].get<std::string>() == nul);
  CHECK(rows[0]["b"] == true);
  CHECK(rows[0]["j"] == nlohmann::ordered_json::parse(R"({"a":[1,null]})"));
  CHECK(rows[0]["x"] == "AP8Q");
  CHECK(rows[0]["n"].is_null());
  CHECK(rows[1]["t"].get<std::string>() == big);
  CHECK(rows[2]["t"] == "'; DROP TABLE v; -- \"q\" 🎉");
  CHECK(lease->run("SELECT * FROM v", {}, 1).rows.size() == 1);
}

TEST_CASE("SQLite errors say whether a retry helps", "[database][sqlite]") {
  TempDb db;
  db.exec("CREATE TABLE u(id INTEGER PRIMARY KEY)");
  auto lease = Pool::of(DatabaseUrl::parse(db.url), 1)->acquire(1s);
  lease->run("INSERT INTO u VALUES (1)", {});
  try {
    lease->run("INSERT INTO u VALUES (1)", {});
    FAIL("no error");
  } catch (const DatabaseError& e) {
    CHECK_FALSE(e.transient());
    CHECK(std::string(e.what()).find("UNIQUE constraint failed: u.id") != std::string::npos);
  }
  CHECK_THROWS_WITH(lease->run("SELEC 1", {}), Catch::Contains("syntax error"));
  CHECK(lease->primaryKey("u") == std::vector<std::string>{"id"});
}

TEST_CASE("a pool waits for a free connection and reuses it", "[database][pool]") {
  TempDb db;
  auto pool = Pool::of(DatabaseUrl::parse(db.url), 1);
  CHECK(Pool::of(DatabaseUrl::parse(db.url), 1) == pool);
  {
    auto held = pool->acquire(1s);
    try {
      pool->acquire(50ms);
      FAIL("no error");
    } catch (const DatabaseError& e) {
      CHECK(e.status().code() == Status::Code::Timeout);
    }
  }
  CHECK_NOTHROW(pool->acquire(50ms));
}

TEST_CASE("the outbound runs its statement and returned rows become the body", "[database][outbound]") {
  TempDb db;
  db.exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
  const auto spec = OutboundOptions::spec();
  DatabaseOutbound insert(OutboundOptions::from(
      optionsFor(spec, {{"url", db.url}, {"statement", "INSERT INTO notes(id, text) VALUES (:id, :text)"}})));
  auto message = jsonMessage(R"({"id": 1, "text": "hello"})");
  REQUIRE(insert.send(message).isOk());
  CHECK(message.body() == R"({"id": 1, "text": "hello"})");
  CHECK(*message.headers().find("db.rows_affected") == "1");
  CHECK_FALSE(message.headers().contains("http.status"));

  auto duplicate = jsonMessage(R"({"id": 1, "text": "again"})");
  const auto failed = insert.send(duplicate);
  CHECK(failed.code() == Status::Code::Permanent);
  CHECK_THAT(failed.message(), Catch::Contains("UNIQUE constraint failed"));
  CHECK(duplicate.body() == R"({"id": 1, "text": "again"})");

  auto missing = jsonMessage(R"({"id": 2})");
  CHECK(insert.send(missing).code() == Status::Code::BadInput);

  DatabaseOutbound select(OutboundOptions::from(
      optionsFor(spec, {{"url", db.url}, {"statement", "SELECT id, text FROM notes WHERE id >= :min"}})));
  auto query = jsonMessage(R"({"min": 0})");
  REQUIRE(select.send(query).isOk());
  CHECK(query.body() == R"([{"id":1,"text":"hello"}])");
  CHECK(query.contentType() == "application/json");
  CHECK(*query.headers().find("http.status") == "200");
}

TEST_CASE("a batch is one transaction, and a bad row in it fails alone", "[database][outbound]") {
  TempDb db;
  db.exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
  DatabaseOutbound insert(OutboundOptions::from(
      optionsFor(OutboundOptions::spec(),
                 {{"url", db.url}, {"statement", "INSERT INTO notes(id, text) VALUES (:id, :text)"}, {"batch", 10}})));
  std::vector<Message> messages;
  for (int i = 0; i < 30; ++i) {
    messages.push_back(
        jsonMessage(i == 17 ? R"({"id": 17, "text": null})" : "{\"id\": " + std::to_string(i) + ", \"text\": \"n\"}"));
  }
  std::mutex mutex;
  std::condition_variable all_done;
  std::vector<std::optional<Status>> statuses(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    REQUIRE(insert.sendAsync(messages[i], [&, i](Status status) {
      std::lock_guard lock(mutex);
      statuses[i] = status;
      all_done.notify_all();
    }));
  }
  std::unique_lock lock(mutex);
  REQUIRE(all_done.wait_for(lock, 10s, [&] {
    return std::all_of(statuses.begin(), statuses.end(), [](const auto& s) { return s.has_value(); });
  }));
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    INFO("message " << i);
    CHECK(statuses[i]->isOk() == (i != 17));
  }
  CHECK_THAT(statuses[17]->message(), Catch::Contains("NOT NULL constraint failed"));
  CHECK(db.query("SELECT count(*) AS n FROM notes")[0]["n"] == 29);
}

TEST_CASE("the inbound acknowledges delivered rows and leaves failed ones", "[database][inbound]") {
  TempDb db;
  db.exec("CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT, state TEXT DEFAULT 'new')");
  db.exec("INSERT INTO orders(item) VALUES ('a'), ('b'), ('c')");
  DatabaseInbound inbound(InboundOptions::from(
      optionsFor(InboundOptions::spec(), {{"url", db.url},
                                          {"query", "SELECT id, item FROM orders WHERE state = 'new' ORDER BY id"},
                                          {"ack", "UPDATE orders SET state = 'sent' WHERE id = :id"},
                                          {"poll", 20}})));
  ScriptedIntake intake([](const Message& m) {
    return m.body().find("\"b\"") != std::string::npos ? Outcome::Kind::Failed : Outcome::Kind::Delivered;
  });
  inbound.start(intake);
  const auto received = intake.waitFor(4);  // b comes back at the next poll
  inbound.stop();
  CHECK(received[0].body() == R"({"id":1,"item":"a"})");
  CHECK(*received[0].headers().find("db.table") == "orders");
  CHECK(received[3].body() == R"({"id":2,"item":"b"})");
  const auto states = db.query("SELECT state FROM orders ORDER BY id");
  CHECK(states[0]["state"] == "sent");
  CHECK(states[1]["state"] == "new");
  CHECK(states[2]["state"] == "sent");
}

TEST_CASE("delete: true removes each delivered row by its primary key", "[database][inbound]") {
  TempDb db;
  db.exec("CREATE TABLE events(tenant TEXT, seq INTEGER, data TEXT, PRIMARY KEY (tenant, seq))");
  db.exec("INSERT INTO events VALUES ('x', 1, 'one'), ('x', 2, 'two'), ('y', 1, 'three')");
  DatabaseInbound inbound(InboundOptions::from(optionsFor(
      InboundOptions::spec(),
      {{"url", db.url}, {"query", "SELECT * FROM events ORDER BY tenant, seq"}, {"delete", true}, {"batch", 2}})));
  ScriptedIntake intake([](const Message&) { return Outcome::Kind::Delivered; });
  inbound.start(intake);
  intake.waitFor(3);
  inbound.stop();
  CHECK(db.query("SELECT count(*) AS n FROM events")[0]["n"] == 0);
}

TEST_CASE("inbound options are checked at load and the query at start", "[database][inbound]") {
  const auto spec = InboundOptions::spec();
  CHECK_THROWS_WITH(InboundOptions::from(optionsFor(spec, {{"url", "sqlite::memory:"}, {"query", "SELECT 1"}})),
                    Catch::Contains("say how a delivered row is acknowledged"));
  CHECK_THROWS_WITH(
      InboundOptions::from(optionsFor(
          spec, {{"url", "sqlite::memory:"}, {"query", "SELECT * FROM t WHERE id = :id"}, {"delete", true}})),
      Catch::Contains("takes no :parameters"));
  try {
    InboundOptions::from(optionsFor(spec, {{"url", "sqlite::memory:"}, {"query", "SELECT * FROM t"}, {"ack", "x 'y"}}));
    FAIL("no error");
  } catch (const OptionError& e) {
    CHECK(e.option() == "ack");
    CHECK(e.columnOffset() == 2);
  }
  TempDb db;
  DatabaseInbound inbound(InboundOptions::from(
      optionsFor(spec, {{"url", db.url}, {"query", "SELECT * FROM nowhere"}, {"ack", "DELETE FROM nowhere"}})));
  ScriptedIntake intake([](const Message&) { return Outcome::Kind::Delivered; });
  CHECK_THROWS_WITH(inbound.start(intake), Catch::Contains("no such table: nowhere"));
}
