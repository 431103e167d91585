"""The admin API end to end (contract §8): exact counters in /metrics and /routes after a run
with retries and dead letters, a strict check of the Prometheus text format, /ready while
routes start and while one is stopped, stopping and starting routes, POST /reload, the admin
token, and planted secrets that must never show in logs, admin answers or validate output."""
import base64
import json
import math
import os
import re
import shutil
import socket
import subprocess
import textwrap
import threading
import time
import unittest
import urllib.error

from harness import BIN, Bus, visible_files, wait_for
from peers import HOST, NO_PROXY, BusTestCase, closed_port, curl, free_port

# ---------------------------------------------------------------------------------------------
# A strict reader of the Prometheus text exposition format 0.0.4 (no third-party packages).
# ---------------------------------------------------------------------------------------------

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf)|NaN")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ExpositionError(AssertionError):
    pass


def _labels(text, where):
    """Parses `{a="x",b="y"}` from the start of `text`; returns (dict, rest of the line)."""
    labels = {}
    i = 1
    while True:
        if text.startswith("}", i):
            return labels, text[i + 1:]
        name = LABEL_NAME.match(text, i)
        if not name:
            raise ExpositionError(f"{where}: bad label name at {text[i:i + 20]!r}")
        i = name.end()
        if not text.startswith('="', i):
            raise ExpositionError(f"{where}: label {name.group()} is not followed by =\"")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ExpositionError(f"{where}: unterminated value of label {name.group()}")
            c = text[i]
            if c == "\\":
                escaped = text[i + 1:i + 2]
                if escaped not in ('\\', '"', "n"):
                    raise ExpositionError(f"{where}: bad escape \\{escaped} in label {name.group()}")
                value.append("\n" if escaped == "n" else escaped)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ExpositionError(f"{where}: raw newline in label {name.group()}")
            else:
                value.append(c)
                i += 1
        if name.group() in labels:
            raise ExpositionError(f"{where}: label {name.group()} given twice")
        labels[name.group()] = "".join(value)
        if text.startswith(",", i):
            i += 1
        elif not text.startswith("}", i):
            raise ExpositionError(f"{where}: expected , or }} after label {name.group()}, got {text[i:i + 20]!r}")


def _family_of(name, types):
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return None


def parse_exposition(text):
    """Checks `text` strictly and returns {(sample name, frozenset of label pairs): value} plus
    the families in order as {family: type}. Raises ExpositionError naming the line."""
    if not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    helps, types, samples = {}, {}, {}
    order, finished, current = [], set(), None

    def enter(family, where):
        nonlocal current
        if family != current:
            if family in finished:
                raise ExpositionError(f"{where}: family {family} is interleaved with another family")
            if current is not None:
                finished.add(current)
            current = family

    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number} ({line[:80]!r})"
        if line == "":
            raise ExpositionError(f"{where}: empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                family = parts[2]
                if not METRIC_NAME.fullmatch(family):
                    raise ExpositionError(f"{where}: bad metric name {family!r}")
                enter(family, where)
                if any(_family_of(s[0], types) == family for s in samples):
                    raise ExpositionError(f"{where}: {parts[1]} of {family} after its samples")
                if parts[1] == "HELP":
                    if family in helps:
                        raise ExpositionError(f"{where}: second HELP for {family}")
                    doc = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\(?![\\n])", doc):
                        raise ExpositionError(f"{where}: bad escape in HELP text")
                    helps[family] = doc
                else:
                    if family in types:
                        raise ExpositionError(f"{where}: second TYPE for {family}")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ExpositionError(f"{where}: bad TYPE line")
                    types[family] = parts[3]
                    order.append(family)
            continue  # any other comment
        name = METRIC_NAME.match(line)
        if not name:
            raise ExpositionError(f"{where}: bad metric name")
        rest = line[name.end():]
        labels = {}
        if rest.startswith("{"):
            labels, rest = _labels(rest, where)
        fields = rest.split(" ")
        if len(fields) not in (2, 3) or fields[0] != "":
            raise ExpositionError(f"{where}: expected one space, a value and an optional timestamp")
        if not FLOAT.fullmatch(fields[1]):
            raise ExpositionError(f"{where}: value {fields[1]!r} is not a float")
        if len(fields) == 3 and not re.fullmatch(r"-?\d+", fields[2]):
            raise ExpositionError(f"{where}: bad timestamp {fields[2]!r}")
        family = _family_of(name.group(), types)
        if family is None:
            raise ExpositionError(f"{where}: sample {name.group()} has no TYPE line before it")
        if family not in helps:
            raise ExpositionError(f"{where}: sample of {family} has no HELP line before it")
        enter(family, where)
        if "le" in labels and not name.group().endswith("_bucket"):
            raise ExpositionError(f"{where}: label le outside a _bucket sample")
        key = (name.group(), frozenset(labels.items()))
        if key in samples:
            raise ExpositionError(f"{where}: duplicate series")
        value = float(fields[1].replace("Inf", "inf"))
        if types[family] == "counter" and not value >= 0:
            raise ExpositionError(f"{where}: counter value {value} is negative or NaN")
        samples[key] = value
    for family, kind in types.items():
        if family not in helps:
            raise ExpositionError(f"family {family} has a TYPE but no HELP")
        if kind == "histogram":
            _check_histogram(family, samples)
    return samples, {family: types[family] for family in order}


def _check_histogram(family, samples):
    series = {}
    for (name, labels), value in samples.items():
        if name in (family + "_bucket", family + "_sum", family + "_count"):
            rest = frozenset((k, v) for k, v in labels if k != "le")
            series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            entry = series[rest]
            if name.endswith("_bucket"):
                le = dict(labels).get("le")
                if le is None or not FLOAT.fullmatch(le):
                    raise ExpositionError(f"{family}: bucket without a numeric le: {dict(labels)}")
                entry["buckets"].append((float(le.replace("Inf", "inf")), value))
            else:
                entry[name.rsplit("_", 1)[1]] = value
    for labels, entry in series.items():
        where = f"{family}{{{', '.join(f'{k}={v}' for k, v in sorted(labels))}}}"
        buckets = entry["buckets"]  # in the order they were written
        if not buckets or buckets[-1][0] != math.inf:
            raise ExpositionError(f"{where}: no +Inf bucket last")
        bounds = [b for b, _ in buckets]
        if bounds != sorted(set(bounds)):
            raise ExpositionError(f"{where}: le bounds not increasing: {bounds}")
        counts = [c for _, c in buckets]
        if any(b > a for a, b in zip(counts[1:], counts)):
            raise ExpositionError(f"{where}: bucket counts decrease: {counts}")
        if entry["sum"] is None or entry["count"] is None:
            raise ExpositionError(f"{where}: missing _sum or _count")
        if entry["count"] != counts[-1]:
            raise ExpositionError(f"{where}: _count {entry['count']} != +Inf bucket {counts[-1]}")


def series(samples, metric, **labels):
    """The one sample called `metric` whose labels include `labels` (an error when not exactly one)."""
    found = [(dict(key), value) for (n, key), value in samples.items()
             if n == metric and all(dict(key).get(k) == v for k, v in labels.items())]
    if len(found) != 1:
        raise AssertionError(f"expected one series {metric}{labels}, found {found}")
    return found[0][1]


def promtool_check(test, text):
    """Runs `promtool check metrics` when promtool is installed (Debian package prometheus)."""
    promtool = shutil.which("promtool")
    if not promtool:
        return False
    checked = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    output = (checked.stdout + checked.stderr).decode(errors="replace")
    # Lint remarks (naming advice) do not fail it; an unparsable exposition exits non-zero.
    test.assertEqual(checked.returncode, 0, f"promtool check metrics:\n{output}")
    return True


# ---------------------------------------------------------------------------------------------

class AdminTestCase(BusTestCase):
    prefix = "sb-admin-"

    def launch(self, text, env=None, args=(), wait_ready=True, name="routes.yaml", **values):
        """Writes the routes (dedented, formatted with port= and `values`) and starts a bus;
        the admin token is off unless `env` sets SWITCHBOARD_ADMIN_TOKEN."""
        routes = self.dir / name
        routes.write_text(textwrap.dedent(text).format(port=self.port, **values))
        environment = {**NO_PROXY, "SWITCHBOARD_ADMIN_TOKEN": "", **(env or {})}
        bus = Bus(routes, self.dir, args=["--drain-timeout", "2s", *args], env=environment)
        self.buses.append((bus, lambda: bus.process is not None))
        bus.start(wait_ready=wait_ready)
        self.bus = bus
        return bus

    def stop_bus(self, bus):
        """SIGTERM, as an operator stops it; the exit code must be 0."""
        code, _ = bus.stop(timeout=20)
        self.assertEqual(code, 0, bus.log_text()[-3000:])

    def metrics(self, bus=None, token=None):
        """Scrapes /metrics, checks it strictly and returns the parsed samples."""
        status, text = (bus or self.bus).admin("/metrics", token=token)
        self.assertEqual(status, 200, text)
        samples, _ = parse_exposition(text)
        return samples

    def routes(self, bus=None):
        status, document = (bus or self.bus).admin_json("/routes")
        self.assertEqual(status, 200, document)
        return {route["id"]: route for route in document}


class ExpositionParserTest(unittest.TestCase):
    """The parser above is only worth something if it refuses what is wrong."""

    GOOD = textwrap.dedent("""\
        # HELP c_total A counter.
        # TYPE c_total counter
        c_total{a="x\\\\y\\"z\\n"} 1
        # HELP h A histogram.
        # TYPE h histogram
        h_bucket{le="0.5"} 1
        h_bucket{le="+Inf"} 2
        h_sum 0.7
        h_count 2
        """)

    def test_good_text_parses(self):
        samples, families = parse_exposition(self.GOOD)
        self.assertEqual(families, {"c_total": "counter", "h": "histogram"})
        self.assertEqual(series(samples, "c_total", a='x\\y"z\n'), 1)

    def test_each_defect_is_refused(self):
        defects = {
            "no TYPE": self.GOOD.replace("# TYPE c_total counter\n", ""),
            "no HELP": self.GOOD.replace("# HELP c_total A counter.\n", ""),
            "two HELP": self.GOOD.replace("# HELP h A histogram.\n", "# HELP h A histogram.\n# HELP h again\n"),
            "HELP after samples": self.GOOD + "# HELP c_total late\n",
            "interleaved": self.GOOD + 'c_total{a="other"} 2\n',
            "bad metric name": self.GOOD.replace('c_total{a=', '1c_total{a=', 1),
            "bad label name": self.GOOD.replace('{a="x', '{a-b="x'),
            "unquoted value": self.GOOD.replace('a="x\\\\y\\"z\\n"', "a=x"),
            "bad escape": self.GOOD.replace('\\\\y', '\\y'),
            "unterminated value": self.GOOD.replace('z\\n"} 1', 'z\\n} 1'),
            "value not a float": self.GOOD.replace("} 1\n", "} one\n"),
            "duplicate series": self.GOOD.replace("h_sum 0.7\n", "h_sum 0.7\nh_sum 0.8\n"),
            "no +Inf bucket": self.GOOD.replace('h_bucket{le="+Inf"} 2\n', ""),
            "decreasing buckets": self.GOOD.replace('h_bucket{le="0.5"} 1', 'h_bucket{le="0.5"} 3'),
            "count is not +Inf": self.GOOD.replace("h_count 2", "h_count 3"),
            "no _sum": self.GOOD.replace("h_sum 0.7\n", ""),
            "no final newline": self.GOOD[:-1],
        }
        for what, text in defects.items():
            with self.subTest(what):
                with self.assertRaises(ExpositionError):
                    parse_exposition(text)


class MetricsTest(AdminTestCase):

    def failing_on_request(self, request):
        try:
            failing = json.loads(request.body or b"{}").get("fail") is True
        except ValueError:
            failing = False
        if failing:
            return 500, "text/plain", b"upstream says no"
        return 200, "application/json", b'{"ok": true}'

    def test_exact_counters_after_retries_and_dead_letters(self):
        upstream = self.peer(self.failing_on_request)
        self.launch("""
            routes:
              - id: orders
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /orders }} }}
                to:
                  - rest: {{ url: "{up}/erp" }}
                on_error:
                  retry: {{ attempts: 3, delay: 20ms, jitter: 0 }}
                  dead_letter: {{ file: {{ dir: ./dead }} }}
            """, up=upstream.url)
        n, failing = 20, {1, 4, 7, 11, 14, 17}
        answers = []
        for i in range(n):
            body = json.dumps({"n": i, "fail": i in failing})
            answers.append(curl(self.url("/orders"), data=body, headers=["Content-Type: application/json"]))
        self.assertEqual([a.status for a in answers], [502 if i in failing else 200 for i in range(n)], answers)
        # 14 that passed at once, 6 x 3 attempts.
        self.assertEqual(upstream.count(), 14 + 18)
        wait_for(lambda: len(visible_files(self.dir / "dead")) == 6, 5, what="6 dead letters")

        # The counters are bumped just after the caller's answer is sent: wait (bounded) until
        # the last message is counted, then every value must be exact.
        wait_for(lambda: series(self.metrics(), "switchboard_duration_seconds_count", route="orders",
                                endpoint="from") == n, 5, what="all 20 messages counted")
        m = self.metrics()

        def value(metric, **labels):
            return series(m, metric, route="orders", **labels)

        messages = "switchboard_messages_total"
        from_labels = {"endpoint": "from", "name": "rest", "adapter": "rest"}
        self.assertEqual({o: value(messages, outcome=o, **from_labels)
                          for o in ("delivered", "filtered", "dead_lettered", "failed", "rejected")},
                         {"delivered": 14, "filtered": 0, "dead_lettered": 6, "failed": 0, "rejected": 0})
        to0 = {"endpoint": "to[0]", "name": "rest", "adapter": "rest"}
        self.assertEqual(value(messages, outcome="ok", **to0), 14)
        self.assertEqual(value(messages, outcome="failed", **to0), 6)
        # adapters/rest/README.md: a 5xx is a transient error (retried); every failed attempt counts.
        self.assertEqual({k: value("switchboard_errors_total", kind=k, **to0)
                          for k in ("bad_input", "transient", "permanent", "timeout")},
                         {"bad_input": 0, "transient": 18, "permanent": 0, "timeout": 0})
        self.assertEqual(value("switchboard_retries_total", **to0), 12)
        self.assertEqual(value("switchboard_dead_letters_total", **to0), 6)
        self.assertEqual(value("switchboard_dead_letters_total", endpoint="from"), 0)
        dead = {"endpoint": "dead_letter", "name": "file", "adapter": "file"}
        self.assertEqual(value(messages, outcome="ok", **dead), 6)
        self.assertEqual(value(messages, outcome="failed", **dead), 0)
        self.assertEqual(sum(value("switchboard_errors_total", kind=k, **dead)
                             for k in ("bad_input", "transient", "permanent", "timeout")), 0)
        self.assertEqual(sum(value("switchboard_errors_total", kind=k, endpoint="from")
                             for k in ("bad_input", "transient", "permanent", "timeout")), 0)
        self.assertEqual(value("switchboard_inflight"), 0)
        self.assertEqual(value("switchboard_queue_depth"), 0)
        self.assertEqual(value("switchboard_route_running"), 1)

        # The duration histogram of `from`: one observation per message.
        histogram = "switchboard_duration_seconds"
        self.assertEqual(value(histogram + "_count", endpoint="from"), n)
        buckets = sorted((float(dict(key)["le"].replace("Inf", "inf")), v) for (name, key), v in m.items()
                         if name == histogram + "_bucket" and dict(key)["route"] == "orders"
                         and dict(key)["endpoint"] == "from")
        self.assertEqual(buckets[-1], (math.inf, n))
        self.assertEqual([c for _, c in buckets], sorted(c for _, c in buckets), buckets)
        # The six dead-lettered messages waited 20 ms + 40 ms for their retries.
        self.assertGreaterEqual(value(histogram + "_sum", endpoint="from"), 6 * 0.060)
        self.assertLessEqual(dict(buckets)[0.05], 14, "a dead-lettered message took 60 ms at least")
        # At to[0] each attempt is observed: 14 + 18.
        self.assertEqual(value(histogram + "_count", endpoint="to[0]"), 32)

        # /routes tells the same.
        route = self.routes()["orders"]
        self.assertEqual(route["state"], "running")
        self.assertEqual(route["counters"], {"delivered": 14, "filtered": 0, "dead_lettered": 6, "failed": 0,
                                             "rejected": 0, "inflight": 0, "queued": 0})
        endpoints = {e["endpoint"]: e for e in route["endpoints"]}
        self.assertEqual(list(endpoints), ["from", "to[0]", "dead_letter"])
        self.assertEqual(endpoints["to[0]"]["errors"], {"bad_input": 0, "transient": 18, "permanent": 0, "timeout": 0})
        self.assertEqual({k: endpoints["to[0]"][k] for k in ("ok", "failed", "retries", "dead_letters")},
                         {"ok": 14, "failed": 6, "retries": 12, "dead_letters": 6})
        self.assertEqual((endpoints["dead_letter"]["ok"], endpoints["dead_letter"]["failed"]), (6, 0))
        self.assertEqual((endpoints["to[0]"]["role"], endpoints["dead_letter"]["role"]), ("outbound", "dead_letter"))

    def test_scrape_while_messages_are_in_flight(self):
        gate = threading.Event()
        upstream = self.peer(lambda request: (gate.wait(15), (200, "text/plain", b"done"))[1])
        self.addCleanup(gate.set)
        self.launch("""
            routes:
              - id: slow
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /slow }} }}
                to:
                  - rest: {{ url: "{up}/slow" }}
                concurrency: 1
            """, up=upstream.url)
        answers = []
        threads = [threading.Thread(target=lambda i=i: answers.append(curl(self.url("/slow"), data=f"m{i}")))
                   for i in range(3)]
        for thread in threads:
            thread.start()
        wait_for(lambda: upstream.count() == 1, 10, what="the first message at the slow upstream")

        # One message runs (held by the upstream), two wait for the single worker slot.
        def gauges():
            m = self.metrics()
            return (series(m, "switchboard_inflight", route="slow"), series(m, "switchboard_queue_depth", route="slow"))
        wait_for(lambda: gauges() == (1, 2), 5, what="inflight 1 and queue depth 2")
        status, text = self.bus.admin("/metrics")
        self.assertEqual(status, 200)
        samples, _ = parse_exposition(text)  # a scrape under load parses as strictly
        self.assertEqual(series(samples, "switchboard_duration_seconds_count", route="slow", endpoint="from"), 0)
        promtool_check(self, text)
        counters = self.routes()["slow"]["counters"]
        self.assertEqual(counters["queued"], 2)
        metrics_inflight = series(samples, "switchboard_inflight", route="slow")

        gate.set()
        for thread in threads:
            thread.join(20)
        self.assertEqual([a.status for a in answers], [200, 200, 200], answers)
        wait_for(lambda: gauges() == (0, 0), 5, what="inflight and queue back to 0")
        self.assertEqual(self.routes()["slow"]["counters"]["delivered"], 3)
        # Last, so the checks above stand on their own: one word, one meaning across the API.
        self.assertEqual(counters["inflight"], metrics_inflight,
                         "/routes and /metrics disagree on 'inflight' with 1 message running and 2 "
                         f"queued: /routes counters {counters} (inflight = admitted, queued included), /metrics "
                         f"switchboard_inflight {metrics_inflight} (admitted minus queued)")

    def test_exposition_is_strictly_well_formed(self):
        """Every family once, HELP and TYPE first, label values escaped (an endpoint name with a
        quote, a backslash and a newline), histograms complete; promtool agrees when installed."""
        upstream = self.peer(self.failing_on_request)
        self.launch("""
            routes:
              - id: tricky
                description: "labels must be escaped"
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /tricky }} }}
                steps:
                  - name: "drop \\"quoted\\" \\\\ back\\nslash"
                    filter: "${{body.keep}} == true"
                  - set-header: {{ X-Seen: "yes" }}
                to:
                  - rest: {{ url: "{up}/erp" }}
                    name: upstream
                    circuit_breaker: {{ failures: 50, pause: 1s }}
                  - log: {{ message: "ok ${{message.id}}" }}
                on_error:
                  retry: {{ attempts: 2, delay: 10ms }}
                  dead_letter: {{ file: {{ dir: ./dead }} }}
              - id: idle
                from: {{ file: {{ dir: ./in, poll: 100ms }} }}
                to:
                  - file: {{ dir: ./out }}
            """, up=upstream.url)
        self.assertEqual(curl(self.url("/tricky"), data='{"keep": true}').status, 200)
        self.assertEqual(curl(self.url("/tricky"), data='{"keep": false}').status, 204)
        self.assertEqual(curl(self.url("/tricky"), data='{"keep": true, "fail": true}').status, 502)
        self.assertEqual(curl(self.url("/tricky"), data='not json').status, 400)

        status, text = self.bus.admin("/metrics")
        self.assertEqual(status, 200, text)
        samples, families = parse_exposition(text)
        self.assertEqual(families, {
            "switchboard_messages_total": "counter", "switchboard_errors_total": "counter",
            "switchboard_retries_total": "counter", "switchboard_dead_letters_total": "counter",
            "switchboard_abandoned_calls_total": "counter", "switchboard_inflight": "gauge", "switchboard_queue_depth": "gauge",
            "switchboard_duration_seconds": "histogram", "switchboard_circuit_state": "gauge",
            "switchboard_route_running": "gauge"})
        # The quoted, back-slashed, two-line step name survives the escaping intact.
        tricky_name = 'drop "quoted" \\ back\nslash'
        self.assertEqual(series(samples, "switchboard_errors_total", route="tricky", endpoint="steps[0]",
                                kind="bad_input"), 1)
        self.assertEqual(series(samples, "switchboard_errors_total", route="tricky", name=tricky_name,
                                kind="bad_input"), 1)
        self.assertIn('name="drop \\"quoted\\" \\\\ back\\nslash"', text)
        self.assertEqual(series(samples, "switchboard_circuit_state", route="tricky", endpoint="to[0]",
                                name="upstream"), 0)
        self.assertEqual(series(samples, "switchboard_messages_total", route="tricky", endpoint="from",
                                outcome="filtered"), 1)
        self.assertEqual(series(samples, "switchboard_dead_letters_total", route="tricky", endpoint="steps[0]"), 1)
        self.assertEqual(series(samples, "switchboard_dead_letters_total", route="tricky", endpoint="to[0]"), 1)
        # Every sample carries the labels its family promises.
        expected_labels = {
            "switchboard_messages_total": {"route", "endpoint", "name", "adapter", "outcome"},
            "switchboard_errors_total": {"route", "endpoint", "name", "adapter", "kind"},
            "switchboard_retries_total": {"route", "endpoint", "name", "adapter"},
            "switchboard_dead_letters_total": {"route", "endpoint", "name", "adapter"},
            "switchboard_abandoned_calls_total": {"route", "endpoint", "name", "adapter"},
            "switchboard_inflight": {"route"}, "switchboard_queue_depth": {"route"},
            "switchboard_duration_seconds_bucket": {"route", "endpoint", "name", "adapter", "le"},
            "switchboard_duration_seconds_sum": {"route", "endpoint", "name", "adapter"},
            "switchboard_duration_seconds_count": {"route", "endpoint", "name", "adapter"},
            "switchboard_circuit_state": {"route", "endpoint", "name", "adapter"},
            "switchboard_route_running": {"route"},
        }
        for name, labels in samples:
            self.assertEqual({k for k, _ in labels}, expected_labels[name], name)
        # Both routes appear in every per-route family.
        for family in ("switchboard_inflight", "switchboard_queue_depth", "switchboard_route_running"):
            self.assertEqual({dict(k)["route"] for n, k in samples if n == family}, {"tricky", "idle"})
        self.assertEqual(self.bus.admin("/metrics")[0], 200)
        promtool_check(self, text)


class ReadyAndControlTest(AdminTestCase):

    def test_ready_is_503_until_every_route_started(self):
        # A route whose start takes ~2 s, deterministically: its database inbound asks a
        # "PostgreSQL" that accepts the connection and never answers (connect_timeout=2).
        blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blackhole.bind((HOST, 0))
        blackhole.listen(16)
        self.sockets.append(blackhole)
        bus = self.launch("""
            routes:
              - id: quick
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /quick }} }}
                to:
                  - log: {{}}
              - id: slow-start
                from:
                  database:
                    url: "postgresql://bus@127.0.0.1:{hole}/app?connect_timeout=2"
                    query: SELECT id FROM outbox WHERE sent = 0
                    ack: UPDATE outbox SET sent = 1 WHERE id = :id
                    poll: 10s
                to:
                  - log: {{}}
            """, wait_ready=False, hole=blackhole.getsockname()[1])
        seen = []  # (path, status) in the order observed
        first_ready_log = None

        def poll():
            nonlocal first_ready_log
            for path in ("/health", "/ready"):
                try:
                    status, body = bus.admin(path, timeout=2)
                except (urllib.error.URLError, ConnectionError):
                    status, body = None, ""
                seen.append((path, status, body))
                if path == "/ready" and status == 200 and first_ready_log is None:
                    # The route banners are logged before the bus counts itself started.
                    first_ready_log = bus.log_text()
            return bus.process.poll() is not None or (seen[-1][1] == 200 and bus.find("ready:"))

        wait_for(poll, 15, interval=0.02, what="/ready 200 and the ready: line")
        self.assertIsNone(bus.process.poll(), bus.log_text())
        health = [i for i, (p, s, _) in enumerate(seen) if p == "/health" and s == 200]
        self.assertTrue(health, seen)
        before_ready = [s for p, s, _ in seen[health[0]:] if p == "/ready"]
        first_200 = before_ready.index(200)
        self.assertGreater(first_200, 0, f"/ready never said 503 while the slow route started: {before_ready}")
        self.assertEqual(set(before_ready[:first_200]), {503}, before_ready)
        self.assertTrue(all(json.loads(b) == {"status": "not ready"} for p, s, b in seen if p == "/ready" and s == 503))
        self.assertNotIn(None, [s for p, s, _ in seen[health[0]:]], "the admin API stopped answering")
        self.assertTrue(all(s == 200 for p, s, _ in seen[health[0]:] if p == "/health"), seen)
        self.assertIn("route quick:", first_ready_log)
        self.assertIn("route slow-start:", first_ready_log)
        self.assertEqual(bus.admin_json("/ready"), (200, {"status": "ready"}))
        blackhole.close()  # later polls are refused at once, so the bus stops quickly

    def test_stop_and_start_routes(self):
        lone_port = free_port()
        bus = self.launch("""
            routes:
              - id: api
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /api }} }}
                to:
                  - file: {{ dir: ./api-out }}
              - id: other
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /other }} }}
                to:
                  - file: {{ dir: ./other-out }}
              - id: files
                from: {{ file: {{ dir: ./in, poll: 100ms }} }}
                to:
                  - file: {{ dir: ./out, name: "${{header.file.name}}" }}
              - id: lone
                from: {{ rest: {{ listen: "127.0.0.1:{lone}", path: /lone }} }}
                to:
                  - log: {{}}
            """, lone=lone_port)
        lone_url = f"http://{HOST}:{lone_port}/lone"
        inbox, outbox = self.dir / "in", self.dir / "out"
        self.assertEqual(bus.admin_json("/ready"), (200, {"status": "ready"}))
        (inbox / "one.txt").write_text("first")
        wait_for(lambda: (outbox / "one.txt").exists(), 5, what="one.txt delivered")

        # Stop the file route.
        self.assertEqual(bus.admin_json("/routes/files/stop", "POST"), (200, {"id": "files", "state": "stopped"}))
        self.assertEqual(bus.admin_json("/ready"), (503, {"status": "not ready"}))
        states = {i: r["state"] for i, r in self.routes().items()}
        self.assertEqual(states, {"api": "running", "other": "running", "files": "stopped", "lone": "running"})
        m = self.metrics()
        self.assertEqual([series(m, "switchboard_route_running", route=r) for r in ("api", "other", "files", "lone")],
                         [1, 1, 0, 1])
        (inbox / "two.txt").write_text("second")
        time.sleep(0.8)  # eight polls' worth: a running route would have taken it
        self.assertTrue((inbox / "two.txt").exists(), "a stopped file route took a file")
        self.assertEqual(sorted(p.name for p in visible_files(outbox)), ["one.txt"])
        # Stopping again changes nothing and is not an error.
        self.assertEqual(bus.admin_json("/routes/files/stop", "POST"), (200, {"id": "files", "state": "stopped"}))

        # Stop the rest route: its path is no longer served; the route on the same address still is.
        self.assertEqual(curl(self.url("/api"), data="before").status, 202)
        self.assertEqual(bus.admin_json("/routes/api/stop", "POST"), (200, {"id": "api", "state": "stopped"}))
        stopped = curl(self.url("/api"), data="while stopped")
        self.assertEqual(stopped.status, 404, stopped)
        self.assertEqual(curl(self.url("/other"), data="still here").status, 202)
        self.assertEqual(len(visible_files(self.dir / "api-out")), 1)
        # A rest route alone on its address: stopped, its port is closed (connection refused).
        self.assertEqual(curl(lone_url, data="x").status, 202)
        self.assertEqual(bus.admin_json("/routes/lone/stop", "POST"), (200, {"id": "lone", "state": "stopped"}))
        refused = curl(lone_url, data="x", timeout=5)
        self.assertEqual((refused.status, refused.returncode), (0, 7), refused)  # curl: 7 = could not connect

        # Unknown ids.
        for action in ("stop", "start"):
            status, body = bus.admin(f"/routes/nope/{action}", "POST")
            self.assertEqual(status, 404, body)
            self.assertIn("nope", body)

        # Start them again: the file dropped while stopped is delivered, the path answers again.
        self.assertEqual(bus.admin_json("/routes/files/start", "POST"), (200, {"id": "files", "state": "running"}))
        wait_for(lambda: (outbox / "two.txt").exists(), 5, what="two.txt delivered after the start")
        self.assertEqual((outbox / "two.txt").read_text(), "second")
        wait_for(lambda: not (inbox / "two.txt").exists(), 5, what="two.txt acknowledged")
        self.assertEqual(bus.admin("/ready")[0], 503, "api and lone are still stopped")
        self.assertEqual(bus.admin_json("/routes/lone/start", "POST"), (200, {"id": "lone", "state": "running"}))
        self.assertEqual(curl(lone_url, data="x").status, 202)
        self.assertEqual(bus.admin("/ready")[0], 503, "api is still stopped")
        self.assertEqual(bus.admin_json("/routes/api/start", "POST"), (200, {"id": "api", "state": "running"}))
        self.assertEqual(bus.admin_json("/routes/api/start", "POST"), (200, {"id": "api", "state": "running"}))
        self.assertEqual(bus.admin_json("/ready"), (200, {"status": "ready"}))
        self.assertEqual(curl(self.url("/api"), data="after").status, 202)
        self.assertEqual(len(visible_files(self.dir / "api-out")), 2)
        self.assertEqual({i: r["state"] for i, r in self.routes().items()},
                         {"api": "running", "other": "running", "files": "running", "lone": "running"})
        (inbox / "three.txt").write_text("third")
        wait_for(lambda: (outbox / "three.txt").exists(), 5, what="three.txt delivered")
        m = self.metrics()
        self.assertEqual(series(m, "switchboard_messages_total", route="files", endpoint="from",
                                outcome="delivered"), 3)
        self.assertEqual(series(m, "switchboard_messages_total", route="api", endpoint="from",
                                outcome="delivered"), 2)

        # A clean stop leaves no claim directory behind, as after a run without stop/start.
        self.stop_bus(bus)
        processing = inbox / ".processing"
        leftovers = sorted(p.name for p in processing.iterdir()) if processing.exists() else []
        self.assertEqual(leftovers, [], "after POST /routes/files/stop and /start, the file inbound's "
                         "first claim directory and its .lock (whose fd stays open) are left in in/.processing "
                         "after a clean exit; FileInbound::start() opens a new claim directory and lock without "
                         "releasing the old ones")

    FIRST = """\
        routes:
          - id: first
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /first }} }}
            to:
              - file: {{ dir: ./first-out }}
        """
    SECOND = """\
          - id: second
            description: added by a reload
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /second }} }}
            to:
              - file: {{ dir: ./second-out }}
        """
    # Two errors: an unknown option and a bad duration.
    THIRD = """\
          - id: third
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /third }} }}
            to:
              - rest: {{ url: "http://127.0.0.1:1/x", methd: PUT }}
                circuit_breaker: {{ failures: 3, pause: soon }}
        """

    def joined(self, *parts):
        return textwrap.dedent("".join(part.rstrip(" ") for part in parts)).format(port=self.port)

    def test_reload(self):
        bus = self.launch(self.FIRST)
        self.assertEqual(curl(self.url("/first"), data="1").status, 202)
        routes_file = self.dir / "routes.yaml"
        valid = self.joined(self.FIRST, self.SECOND)
        routes_file.write_text(valid)
        self.assertEqual(bus.admin_json("/reload", "POST"), (200, {"reloaded": True}))
        routes = self.routes()
        self.assertEqual(list(routes), ["first", "second"])
        self.assertEqual(routes["second"]["description"], "added by a reload")
        self.assertEqual(routes["second"]["state"], "running")
        self.assertEqual(routes["first"]["counters"]["delivered"], 1, "the unchanged route was kept, counters too")
        self.assertEqual(curl(self.url("/second"), data="2").status, 202)
        self.assertEqual(bus.admin("/ready")[0], 200)

        broken = self.joined(self.FIRST, self.SECOND, self.THIRD)
        routes_file.write_text(broken)
        lines = broken.splitlines()
        methd_line = next(i for i, line in enumerate(lines, 1) if "methd" in line)
        pause_line = next(i for i, line in enumerate(lines, 1) if "soon" in line)
        status, body = bus.admin_json("/reload", "POST")
        self.assertEqual(status, 400, body)
        self.assertIs(body["reloaded"], False)
        errors = body["errors"]
        self.assertTrue(errors, body)
        for error in errors:
            self.assertRegex(error, r"^/\S+/routes\.yaml:\d+:\d+: routes\[2\]\.")
        self.assertTrue(any(re.match(rf".*routes\.yaml:{pause_line}:\d+: routes\[2\]\.to\[0\]\.circuit_breaker\."
                                     r"pause: .*'soon'", e) for e in errors), errors)
        # Nothing changed.
        self.assertEqual(list(self.routes()), ["first", "second"])
        self.assertEqual(curl(self.url("/first"), data="3").status, 202)
        self.assertEqual(curl(self.url("/second"), data="4").status, 202)
        self.assertEqual(curl(self.url("/third"), data="5").status, 404)
        self.assertEqual(bus.admin("/ready")[0], 200)
        self.assertTrue(bus.find("reload rejected"))

        # "validate first" (contract §8): the reload names the same errors as `switchboard validate`.
        checked = subprocess.run([BIN, "validate", str(routes_file)], capture_output=True, timeout=30)
        validated = [line for line in checked.stderr.decode().splitlines() if not re.fullmatch(r"\d+ errors?", line)]
        self.assertEqual(checked.returncode, 1)
        self.assertTrue(any(f"routes.yaml:{methd_line}:" in line and "methd" in line for line in validated), validated)
        self.assertEqual(sorted(errors), sorted(validated),
                         "POST /reload and `switchboard validate` disagree on the errors of one file")

    def test_admin_token(self):
        token = "adm1n-t0ken-5150"
        bus = self.launch("""
            routes:
              - id: guarded
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /g }} }}
                to:
                  - log: {{}}
            """, env={"SWITCHBOARD_ADMIN_TOKEN": token})
        for path, method in (("/metrics", "GET"), ("/routes", "GET"), ("/routes/guarded/stop", "POST"),
                             ("/reload", "POST")):
            for wrong in (None, "wrong", token[:-1], token + "x", token.upper()):
                status, body = bus.admin(path, method, token=wrong)
                self.assertEqual(status, 401, f"{method} {path} with token {wrong!r}: {body}")
                self.assertNotIn(token, body)
        self.assertEqual(self.routes_with(bus, token)["guarded"]["state"], "running", "a refused stop stopped it")
        for path in ("/health", "/ready"):
            self.assertEqual(bus.admin(path)[0], 200, path)
        status, text = bus.admin("/metrics", token=token)
        self.assertEqual(status, 200)
        parse_exposition(text)
        self.assertEqual(bus.admin("/routes", token=token)[0], 200)
        # A raw request shows the challenge, and the token in another scheme is refused.
        missing = curl(f"http://{HOST}:{bus.admin_port}/metrics")
        self.assertEqual(missing.status, 401)
        self.assertIn("Bearer", missing.header("WWW-Authenticate") or "")
        self.assertEqual(curl(f"http://{HOST}:{bus.admin_port}/metrics", "-u", f"x:{token}").status, 401)
        self.assertEqual(bus.admin("/routes/guarded/stop", "POST", token=token)[0], 200)
        self.assertEqual(bus.admin("/ready")[0], 503)
        self.assertNotIn(token, bus.log_text())

    def routes_with(self, bus, token):
        status, body = bus.admin("/routes", token=token)
        self.assertEqual(status, 200, body)
        return {route["id"]: route for route in json.loads(body)}


class SecretsTest(AdminTestCase):
    """Credentials from the environment never show in the log (even at trace level), in /routes,
    in /metrics, in any answer, nor in validate's errors."""

    SECRETS = {
        "SB_T_BASIC": "s3cr3t-basic-7731",        # rest inbound basic auth password
        "SB_T_BEARER": "s3cr3t-bearer-4412",      # rest inbound bearer token
        "SB_T_OUT_BASIC": "s3cr3t-outbasic-5519",  # rest outbound basic auth password
        "SB_T_OUT_BEARER": "s3cr3t-outbearer-2290",  # rest outbound bearer token
        "SB_T_PG": "s3cr3t-pg-8806",              # PostgreSQL password in the url
    }
    CLIENT = {
        "wrong password": "s3cr3t-wrong-3357",
        "wrong token": "s3cr3t-wrongtoken-9921",
        "client token": "s3cr3t-client-6620",
    }

    ROUTES = """
        routes:
          - id: basic-in
            from:
              rest:
                listen: "127.0.0.1:{port}"
                path: /basic
                auth: {{ basic: {{ users: {{ alice: "${{env.SB_T_BASIC}}" }} }} }}
            to:
              - rest: {{ url: "{up}/basic", auth: {{ basic: {{ user: bus, password: "${{env.SB_T_OUT_BASIC}}" }} }} }}
            on_error: {{ retry: {{ attempts: 2, delay: 10ms }} }}
          - id: bearer-in
            from:
              rest:
                listen: "127.0.0.1:{port}"
                path: /bearer
                auth: {{ bearer: {{ tokens: ["${{env.SB_T_BEARER}}"] }} }}
            to:
              - rest: {{ url: "{up}/bearer", auth: {{ bearer: "${{env.SB_T_OUT_BEARER}}" }} }}
          - id: db-out
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /db }} }}
            to:
              - database:
                  url: "postgresql://bus:${{env.SB_T_PG}}@127.0.0.1:{closed}/app?connect_timeout=2"
                  statement: INSERT INTO audit(x) VALUES (:x)
                circuit_breaker: {{ failures: 3, pause: 5s }}
            on_error:
              retry: {{ attempts: 2, delay: 10ms }}
              dead_letter: {{ file: {{ dir: ./dead, meta: true }} }}
        """

    def variants(self):
        """Every planted secret, also as it travels in a Basic header."""
        found = {f"env {k}": v for k, v in self.SECRETS.items()}
        found.update(self.CLIENT)
        pairs = {"inbound basic": f"alice:{self.SECRETS['SB_T_BASIC']}",
                 "outbound basic": f"bus:{self.SECRETS['SB_T_OUT_BASIC']}",
                 "wrong basic": f"alice:{self.CLIENT['wrong password']}"}
        for what, pair in pairs.items():
            found[f"{what} (base64)"] = base64.b64encode(pair.encode()).decode()
        return found

    def leaks(self, where, text):
        return [f"{what} ({secret!r}) in {where}" for what, secret in self.variants().items() if secret in text]

    def test_planted_secrets_never_leak(self):
        def respond(request):
            if b'"fail"' in request.body:
                return 500, "text/plain", b"upstream broke"
            return 200, "application/json", b'{"ok": true}'
        upstream = self.peer(respond)
        refusing, closed = closed_port()
        self.sockets.append(refusing)
        bus = self.launch(self.ROUTES, env=self.SECRETS, args=["--log-level", "trace"],
                          up=upstream.url, closed=closed)
        s = self.SECRETS
        c = self.CLIENT

        def send(path, *args, data="{}", authorization=None):
            headers = [f"Authorization: {authorization}"] if authorization else []
            return curl(self.url(path), *args, data=data, headers=headers)
        answers = {
            "basic: none": (send("/basic"), 401),
            "basic: malformed": (send("/basic", authorization=f"Basic {s['SB_T_BASIC']}"), 401),
            "basic: wrong": (send("/basic", "-u", f"alice:{c['wrong password']}"), 403),
            "basic: right": (send("/basic", "-u", f"alice:{s['SB_T_BASIC']}"), 200),
            "basic: upstream fails": (send("/basic", "-u", f"alice:{s['SB_T_BASIC']}", data='{"fail": 1}'), 502),
            "bearer: none": (send("/bearer"), 401),
            "bearer: wrong": (send("/bearer", authorization=f"Bearer {c['wrong token']}"), 403),
            "bearer: as basic": (send("/bearer", "-u", f"x:{s['SB_T_BEARER']}"), 401),
            "bearer: right": (send("/bearer", authorization=f"Bearer {s['SB_T_BEARER']}"), 200),
        }
        for i in range(4):  # the database cannot be reached; the circuit opens after 3 failures
            answers[f"db {i}"] = (send("/db", data='{"x": 1}', authorization=f"Bearer {c['client token']}"), 502)
        for what, (answer, status) in answers.items():
            self.assertEqual(answer.status, status, f"{what}: {answer}")
        # The credentials were really used: the upstream saw the outbound ones, never the inbound ones.
        seen = [(r.path, r.header("Authorization")) for r in upstream.recorded()]
        basic = "Basic " + base64.b64encode(f"bus:{s['SB_T_OUT_BASIC']}".encode()).decode()
        self.assertEqual(seen, [("/basic", basic)] * 3 + [("/bearer", f"Bearer {s['SB_T_OUT_BEARER']}")])
        wait_for(lambda: len(visible_files(self.dir / "dead")) == 8, 10, what="4 dead letters with meta")

        routes_status, routes_text = bus.admin("/routes")
        metrics_status, metrics_text = bus.admin("/metrics")
        self.assertEqual((routes_status, metrics_status), (200, 200))
        self.assertIn("postgresql://bus:***@127.0.0.1", routes_text)
        self.assertEqual(series(parse_exposition(metrics_text)[0], "switchboard_circuit_state", route="db-out"), 2)
        admin_answers = [bus.admin(p)[1] for p in ("/health", "/ready", "/routes/nope/stop")]
        self.stop_bus(bus)
        log = bus.log_text()
        self.assertIn("cannot connect to postgresql://bus:***@", log, "the database failure was logged")

        leaks = self.leaks("the log", log) + self.leaks("/routes", routes_text) + self.leaks("/metrics", metrics_text)
        for what, (answer, _) in answers.items():
            raw = json.dumps(answer.headers) + answer.body.decode(errors="replace")
            leaks += self.leaks(f"the answer to '{what}'", raw)
        for i, text in enumerate(admin_answers):
            leaks += self.leaks(f"admin answer {i}", text)
        config_secrets = {f"env {k}": v for k, v in self.SECRETS.items()}
        for path in visible_files(self.dir / "dead"):
            text = (self.dir / "dead" / path).read_text(errors="replace")
            leaks += [f"{w} in dead letter {path}" for w, v in config_secrets.items() if v in text]
        self.assertEqual(leaks, [])

    def test_validate_errors_next_to_secrets_hide_them(self):
        routes = self.dir / "broken.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: basic-in
                from:
                  rest: { listen: "127.0.0.1:1", path: /b, max_bdy: 1MiB, auth: { basic: { users: { alice: "${env.SB_T_BASIC}", bob: 42 } } } }
                to:
                  - rest: { url: "http://127.0.0.1:1/x", timeout: soon, auth: { basic: { user: bus, password: "${env.SB_T_OUT_BASIC}" } } }
                  - rest: { url: "http://127.0.0.1:1/x", methd: PUT, auth: { bearer: "${env.SB_T_OUT_BEARER}" } }
              - id: bearer-in
                from:
                  rest: { listen: "127.0.0.1:1", path: /t, auth: { bearer: { tokens: ["${env.SB_T_BEARER}"], extra: 1 } } }
                to:
                  - database: { url: "postgresql://bus:${env.SB_T_PG}@127.0.0.1:1/app", statment: "SELECT 1" }
                  - rest: { url: "http://127.0.0.1:1/x", auth: { basic: { user: bus, password: "${env.SB_T_OUT_BASIC}" }, bearer: "${env.SB_T_OUT_BEARER}" } }
                  - rest: { url: "http://127.0.0.1:1/x", auth: { bearer: ["${env.SB_T_OUT_BEARER}"] } }
              - id: unset
                from: { rest: { listen: "127.0.0.1:1", path: /u, auth: { basic: { users: { carol: "${env.SB_T_UNSET_SECRET}" } } } } }
                to:
                  - log: {}
            """))
        checked = subprocess.run([BIN, "validate", str(routes)], capture_output=True, timeout=30,
                                 env=dict(os.environ, **self.SECRETS))
        output = (checked.stdout + checked.stderr).decode(errors="replace")
        self.assertEqual(checked.returncode, 1, output)
        for fragment in ("max_bdy", "timeout", "methd", "statment", "SB_T_UNSET_SECRET"):
            self.assertIn(fragment, output)
        self.assertRegex(output, r"broken\.yaml:4:\d+: ")
        self.assertEqual(self.leaks("validate output", output), [], output)

    def test_validate_error_for_a_mistyped_database_url_hides_its_password(self):
        """A typo in the scheme ("postgresq://") must not print the password in the error."""
        routes = self.dir / "typo.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: typo
                from: { rest: { listen: "127.0.0.1:1", path: /t } }
                to:
                  - database: { url: "postgresq://bus:${env.SB_T_PG}@127.0.0.1:1/app", statement: "SELECT 1" }
            """))
        checked = subprocess.run([BIN, "validate", str(routes)], capture_output=True, timeout=30,
                                 env=dict(os.environ, **self.SECRETS))
        output = (checked.stdout + checked.stderr).decode(errors="replace")
        self.assertEqual(checked.returncode, 1, output)
        self.assertIn("is not a database url", output)
        self.assertEqual(self.leaks("validate output", output), [],
                         f"the url is echoed with its password:\n{output}")

    def test_password_in_the_database_url_query_is_redacted(self):
        """libpq takes the password as ?password=... too (adapters/database/README.md: every
        libpq parameter works in the query string); it must be hidden like user:password@."""
        refusing, closed = closed_port()
        self.sockets.append(refusing)
        bus = self.launch("""
            routes:
              - id: db-query-password
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /db }} }}
                to:
                  - database:
                      url: "postgresql://bus@127.0.0.1:{closed}/app?connect_timeout=2&password=${{env.SB_T_PG}}"
                      statement: INSERT INTO audit(x) VALUES (:x)
            """, env=self.SECRETS, closed=closed)
        answer = curl(self.url("/db"), data='{"x": 1}')
        self.assertEqual(answer.status, 502, answer)
        routes_text = bus.admin("/routes")[1]
        self.stop_bus(bus)
        leaks = (self.leaks("the log", bus.log_text()) + self.leaks("/routes", routes_text)
                 + self.leaks("the 502 answer", answer.body.decode(errors="replace")))
        self.assertEqual(leaks, [], "the password of a ?password= parameter leaks")


if __name__ == "__main__":
    unittest.main(verbosity=2)
