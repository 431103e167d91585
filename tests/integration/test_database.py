"""The database adapter end to end: the real binary against a real PostgreSQL 15 (pgkit) and real
SQLite files. Covers delivery guarantees of the polling inbound (exactly once in normal running,
at-least-once across kill -9, SKIP LOCKED between two instances, a database outage), hostile
values through the outbound, one route YAML on both databases, the row -> JSON type mapping,
batched writes and delete-on-ack."""
import base64
import json
import os
import sqlite3
import subprocess
import threading
import time
import unittest
from collections import Counter
from pathlib import Path

import harness
from harness import visible_files, wait_for
from peers import BusTestCase, curl
from pgkit import PostgresServer, missing_binaries

# Under AddressSanitizer the bus is several times slower: the volume tests run a fifth of
# their rows there (the optimised build runs them in full).
SCALE = 5 if os.environ.get("SWITCHBOARD_SANITIZED") == "1" else 1

# The bus runs in each test's directory: a relative SWITCHBOARD_BIN (build/bin/switchboard) must
# be made absolute against the directory the tests were started from.
harness.BIN = BIN = os.path.abspath(harness.BIN)


def database_plugin_missing():
    """A reason when the bus cannot load a `database` adapter, else None."""
    try:
        listed = subprocess.run([BIN, "plugins"], capture_output=True, timeout=30)
    except OSError as e:
        return f"cannot run {BIN}: {e}"
    text = listed.stdout.decode(errors="replace") + listed.stderr.decode(errors="replace")
    if "database" not in text:
        return "the database adapter is not built (switchboard plugins does not list it)"
    return None


def parse_concatenated_json(data):
    """The JSON values of a file the append-mode outbound wrote: bodies one after the other.
    A torn write (kill -9) would show as bytes that are not JSON: returned as the second value."""
    decoder = json.JSONDecoder()
    text = data.decode("utf-8")
    values, garbage, i = [], [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            next_start = text.find("{", i + 1)
            garbage.append(text[i:next_start if next_start >= 0 else len(text)])
            if next_start < 0:
                break
            i = next_start
            continue
        values.append(value)
        i = end
    return values, garbage


def count_names(directory):
    """Number of visible files directly in `directory` (cheap enough for 50,000)."""
    try:
        with os.scandir(directory) as entries:
            return sum(1 for e in entries if not e.name.startswith(".") and e.is_file())
    except FileNotFoundError:
        return 0


def delivered_ids(directory):
    """Ids of the `<id>.json` files in `directory`."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return set()
    return {int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()}


class SqliteDb:
    """A SQLite file in the test directory, opened briefly for each check."""

    kind = "sqlite"

    def __init__(self, path):
        self.path = Path(path)
        self.url = f"sqlite://{self.path}"  # sqlite:///abs/path

    def connect(self):
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def script(self, sql):
        c = self.connect()
        try:
            c.executescript(sql)
        finally:
            c.close()

    def rows(self, sql, params=()):
        c = self.connect()
        try:
            return c.execute(sql, params).fetchall()
        finally:
            c.close()

    def scalar(self, sql):
        return self.rows(sql)[0][0]

    def texts(self, table):
        """id -> text column, exactly as stored."""
        return {row[0]: row[1] for row in self.rows(f"SELECT id, text FROM {table}")}

    def table_exists(self, name):
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))


class PgDb:
    """The same checks on a PostgresServer."""

    kind = "postgresql"

    def __init__(self, server):
        self.server = server
        self.url = server.url

    def script(self, sql):
        self.server.psql(sql)

    def scalar(self, sql):
        value = self.server.scalar(sql)
        return int(value) if value.lstrip("-").isdigit() else value

    def texts(self, table):
        # Hex of the UTF-8 bytes: nothing in the value can confuse the reading.
        rows = self.server.rows(f"SELECT id, encode(convert_to(text, 'UTF8'), 'hex') FROM {table} ORDER BY id")
        return {int(i): (None if h is None else bytes.fromhex(h).decode("utf-8")) for i, h in rows}

    def table_exists(self, name):
        return self.server.scalar(f"SELECT to_regclass('public.{name}') IS NOT NULL") == "t"


class DatabaseTestCase(BusTestCase):
    prefix = "sb-db-"

    @classmethod
    def setUpClass(cls):
        reason = database_plugin_missing()
        if reason:
            raise unittest.SkipTest(reason)

    def postgres(self):
        reason = missing_binaries()
        if reason:
            self.skipTest(reason)
        server = PostgresServer()
        # Cleanups run after tearDown, so every bus is stopped before its database goes.
        self.addCleanup(server.close)
        server.start()
        return server

    def database(self, kind):
        if kind == "sqlite":
            return SqliteDb(self.dir / "test.db")
        return PgDb(self.postgres())

    def forget(self, bus):
        """A bus this test killed on purpose is not reported as dead by tearDown."""
        self.buses = [(b, s) for b, s in self.buses if b is not bus]

    def deliveries(self, log_name):
        """Counter of ids in an append-mode log of row bodies; fails on torn writes."""
        path = self.dir / "log" / log_name
        if not path.exists():
            return Counter()
        values, garbage = parse_concatenated_json(path.read_bytes())
        self.assertEqual(garbage, [], f"{log_name} holds bytes that are not whole JSON bodies")
        return Counter(value["id"] for value in values)

    def stop_cleanly(self, bus):
        """SIGTERM: the bus drains and exits 0 (and tearDown does not count it as died)."""
        self.assertIsNone(bus.process.poll(), f"the bus died during the test:\n{bus.log_text()[-3000:]}")
        code, _ = bus.stop()
        self.forget(bus)
        self.assertEqual(code, 0, bus.log_text()[-3000:])


ORDERS_DDL = "CREATE TABLE orders(id serial PRIMARY KEY, payload text, state text DEFAULT 'new');"

ORDERS_ROUTE = """
    routes:
      - id: orders-out
        from:
          database:
            url: "{url}"
            query: "SELECT id, payload FROM orders WHERE state = 'new' ORDER BY id"
            ack: "UPDATE orders SET state = 'sent' WHERE id = :id"
            poll: {poll}
        to:
          - file: {{ dir: ./{out}, name: "${{body.id}}.json" }}
          - file: {{ dir: ./log, name: {log}, mode: append }}
        concurrency: 4
        queue: {queue}
    """


def insert_orders(pg, first, last):
    pg.psql(f"INSERT INTO orders(payload) SELECT 'payload ' || g || ' ' || md5(g::text) "
            f"FROM generate_series({first}, {last}) g")


class PostgresInboundTest(DatabaseTestCase):
    """Delivery guarantees of the database inbound on PostgreSQL."""

    def start_orders_bus(self, pg, out="out", log="all.log", poll="250ms", queue=256, routes_name="routes.yaml"):
        return self.start_bus(ORDERS_ROUTE, routes_name=routes_name, url=pg.url, out=out, log=log, poll=poll,
                           queue=queue)

    def assert_files_match_rows(self, pg, directory="out"):
        rows = {int(i): payload for i, payload in pg.rows("SELECT id, payload FROM orders")}
        self.assertEqual(delivered_ids(self.dir / directory), set(rows))
        for row_id, payload in rows.items():
            body = json.loads((self.dir / directory / f"{row_id}.json").read_text())
            self.assertEqual(body, {"id": row_id, "payload": payload})
        return rows

    def test_50000_rows_inserted_while_polling_are_delivered_exactly_once(self):
        pg = self.postgres()
        pg.psql(ORDERS_DDL)
        total, chunk = 50_000 // SCALE, 5_000 // SCALE
        self.start_orders_bus(pg)
        failures = []

        def inserter():
            try:
                for first in range(1, total + 1, chunk):
                    insert_orders(pg, first, first + chunk - 1)
                    time.sleep(0.3)  # the bus polls between the chunks
            except Exception as e:  # reported by the test thread
                failures.append(e)

        started = time.monotonic()
        thread = threading.Thread(target=inserter)
        thread.start()
        try:
            wait_for(lambda: failures or (not thread.is_alive()
                                          and pg.scalar("SELECT count(*) FROM orders WHERE state = 'sent'")
                                          == str(total)),
                     240, interval=1, what=f"{total} rows sent")
        finally:
            thread.join(timeout=120)
        self.assertEqual(failures, [])
        elapsed = time.monotonic() - started
        self.assertEqual(pg.scalar("SELECT count(*) FROM orders"), str(total))
        self.assertEqual(pg.scalar("SELECT count(*) FROM orders WHERE state <> 'sent'"), "0")
        self.assert_files_match_rows(pg)
        copies = self.deliveries("all.log")
        self.assertEqual(len(copies), total)
        duplicated = [i for i, n in copies.items() if n > 1]
        self.assertEqual(duplicated, [], f"{len(duplicated)} rows delivered more than once")
        self.assertEqual(sum(copies.values()), total)
        self.assertTrue(all(line.get("level") not in ("error", "critical") for line in self.bus.log_lines()),
                        self.bus.log_text()[-3000:])
        self.stop_cleanly(self.bus)
        print(f"\n{total} rows in {elapsed:.1f}s: {total / elapsed:.0f} rows/s, each delivered once", flush=True)

    def test_kill_9_mid_delivery_loses_nothing(self):
        pg = self.postgres()
        pg.psql(ORDERS_DDL)
        total, queue = 20_000 // SCALE, 256
        insert_orders(pg, 1, total)
        bus = self.start_orders_bus(pg, queue=queue)
        wait_for(lambda: count_names(self.dir / "out") >= total * 3 // 20, 120, interval=0.02,
                 what="15% of the rows delivered")
        bus.kill9()
        self.forget(bus)
        delivered_at_kill = delivered_ids(self.dir / "out")
        # The killed session's transaction is rolled back by the server: only committed acks stay.
        wait_for(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                   "AND pid <> pg_backend_pid()") == "0", 20, what="the killed bus's sessions gone")
        sent_at_kill = {int(r[0]) for r in pg.rows("SELECT id FROM orders WHERE state = 'sent'")}
        self.assertLess(len(delivered_at_kill), total, "the kill came after the run, not during it")
        self.assertEqual(sent_at_kill - delivered_at_kill, set(), "a row was acknowledged before its delivery")
        unacked_delivered = len(delivered_at_kill - sent_at_kill)

        bus = self.start_orders_bus(pg, queue=queue)
        wait_for(lambda: pg.scalar("SELECT count(*) FROM orders WHERE state = 'sent'") == str(total), 180,
                 interval=0.5, what="every row sent after the restart")
        self.assert_files_match_rows(pg)
        copies = self.deliveries("all.log")
        self.assertEqual(set(copies), set(range(1, total + 1)), "every row delivered at least once")
        duplicated = sorted(i for i, n in copies.items() if n > 1)
        # Only rows claimed and not yet acknowledged at the kill come again: at most what the
        # queue, the workers and one fetched batch hold.
        self.assertLessEqual(len(duplicated), queue + 4 + 100, duplicated[:20])
        self.assertTrue(set(duplicated) <= delivered_at_kill - sent_at_kill, "a duplicate of an acknowledged row")
        self.stop_cleanly(bus)
        print(f"\nkill -9: {len(delivered_at_kill)} of {total} delivered at the kill, {len(sent_at_kill)} acknowledged,"
              f" {unacked_delivered} delivered but not acknowledged; {len(duplicated)} delivered twice", flush=True)

    def test_two_instances_share_one_table_without_overlap(self):
        pg = self.postgres()
        pg.psql(ORDERS_DDL)
        total = 20_000 // SCALE
        first = self.start_orders_bus(pg, out="out", log="a.log", poll="100ms", routes_name="a.yaml")
        second = self.start_orders_bus(pg, out="out", log="b.log", poll="100ms", routes_name="b.yaml")
        for start in range(1, total + 1, 2_000):
            insert_orders(pg, start, start + 1_999)
            time.sleep(0.1)
        wait_for(lambda: pg.scalar("SELECT count(*) FROM orders WHERE state = 'sent'") == str(total), 180,
                 interval=0.5, what="every row sent")
        a, b = self.deliveries("a.log"), self.deliveries("b.log")
        both = set(a) & set(b)
        self.assertEqual(sorted(both)[:20], [], f"{len(both)} rows processed by both instances")
        self.assertEqual([i for i, n in (a + b).items() if n > 1], [], "a row processed twice")
        self.assertEqual(set(a) | set(b), set(range(1, total + 1)))
        self.assertGreater(len(a), 0, "the first instance did no work")
        self.assertGreater(len(b), 0, "the second instance did no work")
        self.assert_files_match_rows(pg)
        self.stop_cleanly(first)
        self.stop_cleanly(second)
        print(f"\ntwo instances: {len(a)} + {len(b)} rows, none by both", flush=True)

    def test_database_outage_of_10_seconds(self):
        pg = self.postgres()
        pg.psql(ORDERS_DDL)
        before, after = 6_000, 2_000
        insert_orders(pg, 1, before)
        bus = self.start_orders_bus(pg, poll="200ms")
        wait_for(lambda: count_names(self.dir / "out") >= 1000, 60, interval=0.02, what="1000 rows delivered")
        self.assertEqual(pg.stop(), 0)
        down_at = time.monotonic()
        delivered_at_stop = count_names(self.dir / "out")
        wait_for(lambda: bus.find("database unavailable") or bus.process.poll() is not None, 10,
                 what="'database unavailable' in the log")
        self.assertIsNone(bus.process.poll(), "the bus died with the database")
        time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
        self.assertIsNone(bus.process.poll(), "the bus died with the database")
        self.assertFalse(bus.find("database available again"))
        pg.start()  # the same port and data directory
        up_at = time.monotonic()
        insert_orders(pg, before + 1, before + after)
        wait_for(lambda: pg.scalar("SELECT count(*) FROM orders WHERE state = 'sent'") == str(before + after), 120,
                 interval=0.5, what="every row sent after the outage")
        recovered_after = time.monotonic() - up_at
        wait_for(lambda: bus.find("database available again"), 10, what="'database available again' in the log")
        self.assertEqual(len(bus.find("database unavailable")), 1, "the outage is logged once, not per retry")
        self.assert_files_match_rows(pg)
        copies = self.deliveries("all.log")
        self.assertEqual(set(copies), set(range(1, before + after + 1)), "nothing lost")
        duplicated = [i for i, n in copies.items() if n > 1]
        self.stop_cleanly(bus)
        print(f"\noutage: {delivered_at_stop} delivered when PostgreSQL stopped, all {before + after} sent "
              f"{recovered_after:.1f}s after it came back, {len(duplicated)} delivered twice", flush=True)


HOSTILE = {
    1: "'; DROP TABLE orders; --",
    2: "it's \"quoted\" '' \"\" `tick` \\ back\\slash \\' \\\"",
    3: "emoji 🚀🎉👩‍👩‍👧 and 𝄞, ünïcödé, 中文, עברית",
    4: None,  # 1 MiB, below
    5: ":id :text ? $1 %s ${body.id} -- /* not a comment */ \u2028",
    6: "line 1\nline 2\r\n\ttabbed\u00a0",
}


def mebibyte_text():
    unit = "Lorem 'ipsum' \"dolor\" ünï 🚀 {i}\n"
    parts, size, i = [], 0, 0
    while size < 1024 * 1024:
        piece = unit.format(i=i)
        parts.append(piece)
        size += len(piece.encode())
        i += 1
    text = "".join(parts)
    raw = text.encode()[:1024 * 1024]
    return raw.decode("utf-8", errors="ignore")


HOSTILE[4] = mebibyte_text()

NOTES_ROUTE = """
    routes:
      - id: notes
        from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /notes }} }}
        to:
          - database:
              url: "{url}"
              statement: "INSERT INTO notes(id, text) VALUES (:id, :text)"
        on_error:
          retry: {{ attempts: 3, delay: 50ms }}
          dead_letter:
            file: {{ dir: ./dead, meta: true }}
    """


class DatabaseOutboundTest(DatabaseTestCase):
    """Values through the outbound land verbatim; a bad message fails alone."""

    def post_note(self, note_id, text):
        body = json.dumps({"id": note_id, "text": text}, ensure_ascii=False)
        return curl(self.url("/notes"), data=body.encode(), headers=["Content-Type: application/json"])

    def dead_letter(self, result):
        message_id = result.header("X-Message-Id")
        self.assertTrue(message_id, result)
        meta_path = self.dir / "dead" / f"{message_id}.meta.json"
        wait_for(meta_path.exists, 10, what="the dead letter")
        return json.loads(meta_path.read_text()), (self.dir / "dead" / message_id).read_bytes()

    def check_hostile_values(self, kind):
        db = self.database(kind)
        db.script("CREATE TABLE notes(id integer PRIMARY KEY, text text);"
                  "CREATE TABLE orders(id integer PRIMARY KEY, payload text);")
        self.start_bus(NOTES_ROUTE, url=db.url)
        for note_id, text in HOSTILE.items():
            result = self.post_note(note_id, text)
            self.assertIn(result.status, (200, 202), f"note {note_id}: {result!r}"[:2000])
        stored = db.texts("notes")
        for note_id, text in HOSTILE.items():
            self.assertEqual(stored.get(note_id), text, f"note {note_id} did not land verbatim")
        self.assertTrue(db.table_exists("orders"), "the injection ran")
        self.assertEqual(visible_files(self.dir / "dead"), [])

        # A NUL character: SQLite text keeps it; PostgreSQL text cannot hold it, which must be a
        # clear error for this message (not a silently shortened value) and nothing else.
        nul = "before\u0000after"
        result = self.post_note(7, nul)
        if kind == "sqlite":
            self.assertIn(result.status, (200, 202), result)
            self.assertEqual(db.texts("notes").get(7), nul)
        else:
            self.assertEqual(result.status, 502, result)
            error = result.json()["error"]
            self.assertRegex(error, r"(?i)nul|0x00|\\u0000|zero byte|null character", error)
            print(f"\nNUL into PostgreSQL text: 502 {error!r}", flush=True)
            meta, body = self.dead_letter(result)
            self.assertEqual(meta["headers"]["error.message"], error)
            self.assertEqual(meta["headers"]["error.attempts"], "1", "a bad value is not retried")
            self.assertEqual(json.loads(body)["text"], nul)
            self.assertNotIn(7, db.texts("notes"), "a shortened value was stored")

        # A constraint violation is a message error: dead letter with the database's text, no retry.
        duplicate = self.post_note(1, "second row with id 1")
        self.assertEqual(duplicate.status, 502, duplicate)
        error = duplicate.json()["error"]
        self.assertRegex(error, r"duplicate key|UNIQUE constraint failed", error)
        meta, body = self.dead_letter(duplicate)
        self.assertEqual(meta["headers"]["error.message"], error)
        self.assertEqual(meta["headers"]["error.endpoint"], "database")
        self.assertEqual(meta["headers"]["error.route"], "notes")
        self.assertEqual(meta["headers"]["error.attempts"], "1", "a constraint violation is not retried")
        self.assertEqual(json.loads(body), {"id": 1, "text": "second row with id 1"})
        self.assertFalse(self.bus.find("retrying"))
        self.assertEqual(db.texts("notes").get(1), HOSTILE[1])

        # The bus goes on serving.
        after = self.post_note(8, "after the errors")
        self.assertIn(after.status, (200, 202), after)
        self.assertEqual(db.texts("notes").get(8), "after the errors")
        self.stop_cleanly(self.bus)

    def test_writes_during_a_restart_of_postgresql_are_retried_not_lost(self):
        db = self.database("postgresql")
        pg = db.server
        pg.psql("CREATE TABLE notes(id integer PRIMARY KEY, text text);")
        self.start_bus("""
            routes:
              - id: notes
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /notes }} }}
                to:
                  - database: {{ url: "{url}", statement: "INSERT INTO notes(id, text) VALUES (:id, :text)" }}
                timeout: 40s
                on_error:
                  retry: {{ attempts: 60, delay: 200ms, max_delay: 1s }}
            """, url=pg.url)
        self.assertEqual(self.post_note(1, "before").status, 202)  # the pool now holds a connection
        self.assertEqual(pg.stop(), 0)
        answers = {}

        def post(note_id):
            answers[note_id] = self.post_note(note_id, f"during {note_id}")

        threads = [threading.Thread(target=post, args=(i,)) for i in range(2, 7)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        self.assertEqual(answers, {}, "answered while the database was down")
        pg.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertEqual({i: a.status for i, a in answers.items()}, {i: 202 for i in range(2, 7)}, answers)
        self.assertEqual(db.texts("notes"), {1: "before", **{i: f"during {i}" for i in range(2, 7)}})
        self.assertTrue(self.bus.find("retrying"), "the failed attempts were retried")
        self.stop_cleanly(self.bus)

    def test_hostile_values_on_postgresql(self):
        self.check_hostile_values("postgresql")

    def test_hostile_values_on_sqlite(self):
        self.check_hostile_values("sqlite")

    PORTABLE_ROUTES = """
        routes:
          - id: add-note
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /notes }} }}
            to:
              - database:
                  url: "{url}"
                  statement: "INSERT INTO notes(id, text, tag) VALUES (:id, :text, :header.X-Tag) RETURNING id"
              - file: {{ dir: ./created, meta: true }}
            reply: none
          - id: get-note
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /get, methods: [GET] }} }}
            to:
              - database:
                  url: "{url}"
                  statement: "SELECT id, text, tag, ':not_a_parameter' AS literal FROM notes WHERE id = CAST(:header.X-Note-Id AS INTEGER)"
              - file: {{ dir: ./got, meta: true }}
            reply: none
        """

    def captured(self, directory, result):
        """(body as JSON, meta) of the message the file outbound after the database one wrote."""
        self.assertEqual(result.status, 202, result)  # reply: none
        message_id = result.json()["id"]
        path = self.dir / directory / message_id
        meta = json.loads((self.dir / directory / f"{message_id}.meta.json").read_text())
        return json.loads(path.read_text()), meta

    def check_same_yaml(self, kind):
        db = self.database(kind)
        db.script("CREATE TABLE notes(id integer PRIMARY KEY, text text, tag text);")
        self.start_bus(self.PORTABLE_ROUTES, url=db.url)
        created = curl(self.url("/notes"), data='{"id": 7, "text": "seven \'7\'"}',
                       headers=["Content-Type: application/json", "X-Tag: from-header"])
        body, meta = self.captured("created", created)
        self.assertEqual(body, [{"id": 7}], "RETURNING rows become the body")
        self.assertEqual(meta["content_type"], "application/json")
        self.assertEqual(meta["headers"]["db.rows_affected"], "1")
        body, meta = self.captured("got", curl(self.url("/get"), headers=["X-Note-Id: 7"]))
        self.assertEqual(body, [{"id": 7, "text": "seven '7'", "tag": "from-header", "literal": ":not_a_parameter"}])
        self.assertEqual(meta["headers"]["db.rows_affected"], "1")
        body, meta = self.captured("got", curl(self.url("/get"), headers=["X-Note-Id: 8"]))
        self.assertEqual(body, [])
        self.assertEqual(meta["headers"]["db.rows_affected"], "0")
        self.assertEqual(db.texts("notes"), {7: "seven '7'"})
        self.stop_cleanly(self.bus)

    def test_same_yaml_on_postgresql(self):
        self.check_same_yaml("postgresql")

    def test_same_yaml_on_sqlite(self):
        self.check_same_yaml("sqlite")

    def test_returning_rows_answer_the_rest_caller(self):
        # rest -> database with RETURNING as the reply endpoint: the caller gets the rows.
        db = self.database("sqlite")
        db.script("CREATE TABLE notes(id integer PRIMARY KEY, text text);")
        self.start_bus("""
            routes:
              - id: add-note
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /notes }} }}
                to:
                  - database:
                      url: "{url}"
                      statement: "INSERT INTO notes(id, text) VALUES (:id, :text) RETURNING id, text"
            """, url=db.url)
        created = curl(self.url("/notes"), data='{"id": 7, "text": "seven"}', headers=["Content-Type: application/json"])
        self.assertEqual(db.texts("notes"), {7: "seven"})
        self.assertEqual(created.status, 200, created)
        self.assertEqual(created.header("Content-Type"), "application/json", created)
        self.assertEqual(created.json(), [{"id": 7, "text": "seven"}])

    def test_dotted_bus_headers_bind(self):
        # The bus's own headers are dotted (file.name, path.id, http.method): `:header.file.name`
        # binds the header `file.name`, as `${header.file.name}` does in templates.
        db = self.database("sqlite")
        db.script("CREATE TABLE received(name text, size text);")
        (self.dir / "inbox").mkdir()
        (self.dir / "inbox" / "a.txt").write_text("four")
        self.start_bus("""
            routes:
              - id: record-files
                from: {{ file: {{ dir: ./inbox, poll: 50ms }} }}
                to:
                  - database:
                      url: "{url}"
                      statement: "INSERT INTO received(name, size) VALUES (:header.file.name, :header.file.size)"
                on_error:
                  dead_letter:
                    file: {{ dir: ./dead, meta: true }}
            """, url=db.url)
        meta_files = lambda: [p for p in visible_files(self.dir / "dead") if p.name.endswith(".meta.json")]
        wait_for(lambda: db.rows("SELECT count(*) FROM received")[0][0] or meta_files(), 10,
                 what="a row or a dead letter")
        dead = meta_files()
        errors = [json.loads((self.dir / "dead" / p).read_text())["headers"]["error.message"] for p in dead]
        self.assertEqual(errors, [])
        self.assertEqual(db.rows("SELECT name, size FROM received"), [("a.txt", "4")])

    BATCH_ROUTES = """
        routes:
          - id: batched
            from: {{ file: {{ dir: ./inbox, pattern: "*.json", poll: 50ms }} }}
            to:
              - database:
                  url: "{url}"
                  statement: "INSERT INTO batched(id, text) VALUES (:id, :text)"
                  batch: 10
            concurrency: 10
            on_error:
              dead_letter:
                file: {{ dir: ./dead, meta: true }}
        """

    def check_batch(self, kind):
        db = self.database(kind)
        db.script("CREATE TABLE batched(id integer PRIMARY KEY, text text NOT NULL);"
                  "INSERT INTO batched(id, text) VALUES (77, 'was here first');")
        inbox = self.dir / "inbox"
        inbox.mkdir()
        total = 200
        for i in range(1, total + 1):
            (inbox / f".m{i:03d}.part").write_text(json.dumps({"id": i, "text": f"message {i}"}))
            os.rename(inbox / f".m{i:03d}.part", inbox / f"m{i:03d}.json")
        started = time.monotonic()
        self.start_bus(self.BATCH_ROUTES, url=db.url)
        wait_for(lambda: not visible_files(inbox) and db.scalar("SELECT count(*) FROM batched") == total, 60,
                 interval=0.2, what="every file taken and written")
        elapsed = time.monotonic() - started
        wait_for(lambda: len(visible_files(self.dir / "dead")) == 2, 10, what="one dead letter")
        texts = db.texts("batched")
        expected = {i: f"message {i}" for i in range(1, total + 1)}
        expected[77] = "was here first"
        self.assertEqual(texts, expected)
        [meta_name] = [p for p in visible_files(self.dir / "dead") if p.name.endswith(".meta.json")]
        meta = json.loads((self.dir / "dead" / meta_name).read_text())
        self.assertRegex(meta["headers"]["error.message"], r"duplicate key|UNIQUE constraint failed")
        self.assertEqual(meta["headers"]["file.name"], "m077.json")
        self.assertEqual(visible_files(self.dir / "inbox"), [])
        note = ""
        if kind == "postgresql":
            # Rows written in one transaction share xmin: fewer transactions than rows means batches.
            transactions = db.scalar("SELECT count(DISTINCT xmin::text) FROM batched WHERE id <> 77")
            note = f", {transactions} transactions for {total - 1} rows"
            self.assertLess(transactions, total - 1, "no two messages were written in one transaction")
        self.stop_cleanly(self.bus)
        print(f"\nbatch on {kind}: {total} messages in {elapsed:.1f}s{note}, the duplicate alone failed", flush=True)

    def test_batch_on_postgresql(self):
        self.check_batch("postgresql")

    def test_batch_on_sqlite(self):
        self.check_batch("sqlite")


class TypeMappingTest(DatabaseTestCase):
    """Rows become JSON objects with the right JSON types."""

    ROUTE = """
        routes:
          - id: types
            from:
              database:
                url: "{url}"
                query: "{query}"
                ack: "{ack}"
                poll: 100ms
            to:
              - file: {{ dir: ./out, name: "${{body.id}}.json", meta: true }}
        """

    EMBEDDED = {"a": [1, 2.5, {"b": None}], "s": "x\"y", "t": True}

    def read_rows(self, db, query, ack):
        self.start_bus(self.ROUTE, url=db.url, query=query, ack=ack)
        wait_for(lambda: delivered_ids(self.dir / "out") == {1, 2}, 20, what="both rows delivered")
        rows = {i: json.loads((self.dir / "out" / f"{i}.json").read_text()) for i in (1, 2)}
        meta = json.loads((self.dir / "out" / "1.json.meta.json").read_text())
        self.assertEqual(meta["content_type"], "application/json")
        self.assertEqual(meta["headers"]["db.table"], "types")
        self.stop_cleanly(self.bus)
        return rows

    def check_common(self, rows):
        first, second = rows[1], rows[2]
        self.assertIs(type(first["id"]), int)
        self.assertEqual(first["i"], 1234567890123)
        self.assertIs(type(first["i"]), int)
        self.assertEqual(second["i"], -42)
        self.assertEqual(first["r"], 3.25)
        self.assertIsInstance(first["r"], (int, float))
        self.assertEqual(second["r"], -0.5)
        self.assertEqual(first["t"], "héllo \"wörld\" 🚀")
        self.assertIs(first["b"], True)
        self.assertIs(first["f"], False)
        self.assertEqual(first["j"], self.EMBEDDED)
        self.assertEqual(first["js"], [1, "two", None])
        self.assertEqual(base64.b64decode(first["bin"], validate=True), b"\x00\x01\xfe\xff binary")
        self.assertIsNone(first["n"])
        self.assertIn("n", first, "a NULL column is present as null")
        for column in ("t", "b", "f", "j", "js", "bin", "n"):
            self.assertIn(column, second)
            self.assertIsNone(second[column], column)

    def test_postgresql_types(self):
        db = self.database("postgresql")
        embedded = json.dumps(self.EMBEDDED).replace("'", "''")
        db.script(f"""
            CREATE TABLE types(id integer PRIMARY KEY, i bigint, r double precision, t text, b boolean,
                               f boolean, j jsonb, js json, bin bytea, n text, ts timestamp, u uuid,
                               done boolean NOT NULL DEFAULT false);
            INSERT INTO types(id, i, r, t, b, f, j, js, bin, n, ts, u) VALUES
              (1, 1234567890123, 3.25, 'héllo "wörld" 🚀', true, false, '{embedded}', '[1, "two", null]',
               '\\x0001feff2062696e617279', NULL, '2024-01-02 03:04:05', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
              (2, -42, -0.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            """)
        rows = self.read_rows(db, "SELECT id, i, r, t, b, f, j, js, bin, n, ts, u FROM types WHERE NOT done ORDER BY id",
                              "UPDATE types SET done = true WHERE id = :id")
        self.check_common(rows)
        self.assertIsInstance(rows[1]["ts"], str)
        self.assertIn("2024-01-02", rows[1]["ts"])
        self.assertEqual(rows[1]["u"], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        self.assertIsNone(rows[2]["ts"])
        self.assertEqual(db.scalar("SELECT count(*) FROM types WHERE done"), 2)

    def test_sqlite_types(self):
        db = self.database("sqlite")
        c = db.connect()
        c.execute("""CREATE TABLE types(id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BOOLEAN, f BOOLEAN,
                                        j JSON, js JSON, bin BLOB, n TEXT, done INTEGER NOT NULL DEFAULT 0)""")
        c.execute("INSERT INTO types(id, i, r, t, b, f, j, js, bin, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (1, 1234567890123, 3.25, 'héllo "wörld" 🚀', 1, 0, json.dumps(self.EMBEDDED), '[1, "two", null]',
                   b"\x00\x01\xfe\xff binary", None))
        c.execute("INSERT INTO types(id, i, r) VALUES (2, -42, -0.5)")
        c.close()
        rows = self.read_rows(db, "SELECT id, i, r, t, b, f, j, js, bin, n FROM types WHERE done = 0 ORDER BY id",
                              "UPDATE types SET done = 1 WHERE id = :id")
        self.check_common(rows)
        self.assertEqual(db.scalar("SELECT count(*) FROM types WHERE done = 1"), 2)


class DeleteOnAckTest(DatabaseTestCase):
    ROUTE = """
        routes:
          - id: drain-outbox
            from:
              database:
                url: "{url}"
                query: "SELECT id, payload FROM outbox WHERE id <= 300"
                delete: true
                poll: 100ms
                batch: 50
            to:
              - file: {{ dir: ./out, name: "${{body.id}}.json" }}
              - file: {{ dir: ./log, name: all.log, mode: append }}
        """

    def check_delete(self, kind):
        db = self.database(kind)
        values = ",".join(f"({i}, 'row {i}')" for i in range(1, 501))
        db.script(f"CREATE TABLE outbox(id integer PRIMARY KEY, payload text); INSERT INTO outbox VALUES {values};")
        self.start_bus(self.ROUTE, url=db.url)
        wait_for(lambda: db.scalar("SELECT count(*) FROM outbox") == 200, 60, interval=0.2,
                 what="the 300 selected rows deleted")
        self.assertEqual(db.scalar("SELECT min(id) FROM outbox"), 301, "only the selected rows are deleted")
        self.assertEqual(delivered_ids(self.dir / "out"), set(range(1, 301)))
        for i in (1, 150, 300):
            self.assertEqual(json.loads((self.dir / "out" / f"{i}.json").read_text()), {"id": i, "payload": f"row {i}"})
        time.sleep(0.5)  # a few more polls: nothing comes twice
        copies = self.deliveries("all.log")
        self.assertEqual(set(copies), set(range(1, 301)))
        self.assertEqual([i for i, n in copies.items() if n > 1], [], "a row delivered twice")
        self.stop_cleanly(self.bus)

    def test_delete_on_sqlite(self):
        self.check_delete("sqlite")

    def test_delete_on_postgresql(self):
        self.check_delete("postgresql")


if __name__ == "__main__":
    unittest.main(verbosity=2)
