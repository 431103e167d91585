// The reference for bench/database: the same claim/acknowledge and insert work the bus does,
// written as a plain synchronous libpq loop with prepared statements and no framework.
//
//   pg_raw drain  CONNINFO OUTFILE [BATCH=500]
//       loop { BEGIN; DECLARE c CURSOR FOR SELECT id, payload FROM orders WHERE state = 'new'
//              ORDER BY id FOR UPDATE SKIP LOCKED; FETCH BATCH FROM c; write each row to OUTFILE
//              as a JSON line {"id":..,"payload":".."}; UPDATE orders SET state = 'sent'
//              WHERE id = $1 per row (prepared); COMMIT } until a FETCH returns no row
//   pg_raw insert CONNINFO ROWS PAYLOAD [BATCH=64]
//       ROWS x prepared INSERT INTO events(payload) VALUES ($1), BATCH rows per transaction
//
// Prints one line:  PGRAW rows=N seconds=S rows_per_s=R cpu_us_per_row=C maxrss_kib=K
// (time and CPU from before the connection to after the last COMMIT; CPU: this process only).
//
// Build: g++ -O2 -std=c++20 -o pg_raw pg_raw.cpp -I/usr/include/postgresql -lpq
#include <libpq-fe.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(PGconn* conn, const std::string& what) {
  std::fprintf(stderr, "pg_raw: %s: %s\n", what.c_str(), conn ? PQerrorMessage(conn) : "");
  if (conn) PQfinish(conn);
  std::exit(1);
}

void check(PGconn* conn, PGresult* result, ExecStatusType expected, const char* what) {
  if (PQresultStatus(result) != expected) {
    std::fprintf(stderr, "pg_raw: %s: %s\n", what, PQresultErrorMessage(result));
    PQclear(result);
    PQfinish(conn);
    std::exit(1);
  }
}

void command(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  check(conn, result, PGRES_COMMAND_OK, sql);
  PQclear(result);
}

PGconn* connect(const char* conninfo) {
  PGconn* conn = PQconnectdb(conninfo);
  if (PQstatus(conn) != CONNECTION_OK) fail(conn, "cannot connect");
  return conn;
}

void prepare(PGconn* conn, const char* name, const char* sql) {
  PGresult* result = PQprepare(conn, name, sql, 1, nullptr);
  check(conn, result, PGRES_COMMAND_OK, sql);
  PQclear(result);
}

// The row as the bus writes it: a compact JSON object, strings escaped, UTF-8 kept as is.
void appendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (const unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

struct Clock {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};

double cpuSeconds(long* maxrss_kib) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  *maxrss_kib = usage.ru_maxrss;
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void report(long rows, const Clock& clock, double cpu_before) {
  const double seconds = clock.seconds();
  long maxrss = 0;
  const double cpu = cpuSeconds(&maxrss) - cpu_before;
  std::printf("PGRAW rows=%ld seconds=%.6f rows_per_s=%.0f cpu_us_per_row=%.2f maxrss_kib=%ld\n", rows, seconds,
              seconds > 0 ? static_cast<double>(rows) / seconds : 0.0,
              rows > 0 ? cpu * 1e6 / static_cast<double>(rows) : 0.0, maxrss);
}

int drain(const char* conninfo, const char* path, long batch) {
  long ignored = 0;
  const double cpu0 = cpuSeconds(&ignored);
  const Clock clock;
  PGconn* conn = connect(conninfo);
  std::FILE* out = std::fopen(path, "w");
  if (!out) fail(conn, std::string("cannot open ") + path);
  prepare(conn, "ack", "UPDATE orders SET state = 'sent' WHERE id = $1");
  const std::string declare =
      "DECLARE c NO SCROLL CURSOR FOR SELECT id, payload FROM orders WHERE state = 'new' ORDER BY id "
      "FOR UPDATE SKIP LOCKED";
  const std::string fetch = "FETCH FORWARD " + std::to_string(batch) + " FROM c";
  long total = 0;
  std::string line;
  for (;;) {
    command(conn, "BEGIN");
    command(conn, declare.c_str());
    PGresult* rows = PQexec(conn, fetch.c_str());
    check(conn, rows, PGRES_TUPLES_OK, fetch.c_str());
    const int count = PQntuples(rows);
    for (int i = 0; i < count; ++i) {
      line.clear();
      line += "{\"id\":";
      line.append(PQgetvalue(rows, i, 0), static_cast<std::size_t>(PQgetlength(rows, i, 0)));
      line += ",\"payload\":";
      appendJsonString(line, {PQgetvalue(rows, i, 1), static_cast<std::size_t>(PQgetlength(rows, i, 1))});
      line += "}\n";
      if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) fail(conn, "write failed");
    }
    // The rows are in the file (handed to the kernel) before they are acknowledged.
    if (std::fflush(out) != 0) fail(conn, "write failed");
    for (int i = 0; i < count; ++i) {
      const char* id = PQgetvalue(rows, i, 0);
      PGresult* ack = PQexecPrepared(conn, "ack", 1, &id, nullptr, nullptr, 0);
      check(conn, ack, PGRES_COMMAND_OK, "ack");
      PQclear(ack);
    }
    PQclear(rows);
    command(conn, "CLOSE c");
    command(conn, "COMMIT");
    total += count;
    if (count == 0) break;
  }
  std::fclose(out);
  PQfinish(conn);
  report(total, clock, cpu0);
  return 0;
}

int insert(const char* conninfo, long rows, const char* payload, long batch) {
  long ignored = 0;
  const double cpu0 = cpuSeconds(&ignored);
  const Clock clock;
  PGconn* conn = connect(conninfo);
  prepare(conn, "ins", "INSERT INTO events(payload) VALUES ($1)");
  for (long i = 0; i < rows; ++i) {
    if (i % batch == 0) command(conn, "BEGIN");
    PGresult* result = PQexecPrepared(conn, "ins", 1, &payload, nullptr, nullptr, 0);
    check(conn, result, PGRES_COMMAND_OK, "insert");
    PQclear(result);
    if (i % batch == batch - 1 || i == rows - 1) command(conn, "COMMIT");
  }
  PQfinish(conn);
  report(rows, clock, cpu0);
  return 0;
}

long positive(const char* text, const char* what) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (!end || *end != '\0' || value < 1) {
    std::fprintf(stderr, "pg_raw: %s must be a positive integer, got '%s'\n", what, text);
    std::exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "drain" && (argc == 4 || argc == 5)) {
    return drain(argv[2], argv[3], argc == 5 ? positive(argv[4], "BATCH") : 500);
  }
  if (mode == "insert" && (argc == 5 || argc == 6)) {
    return insert(argv[2], positive(argv[3], "ROWS"), argv[4], argc == 6 ? positive(argv[5], "BATCH") : 64);
  }
  std::fprintf(stderr,
               "usage: pg_raw drain CONNINFO OUTFILE [BATCH=500]\n"
               "       pg_raw insert CONNINFO ROWS PAYLOAD [BATCH=64]\n");
  return 2;
}
