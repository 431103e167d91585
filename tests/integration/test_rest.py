"""The rest adapter end to end: the real binary, the real curl, Python peers as upstreams.
Covers every answer of the request-reply table, what a request becomes as a message,
routes sharing an address, TLS and mutual TLS, clients that misbehave and upstreams that fail."""
import json
import re
import select
import socket
import struct
import tempfile
import threading
import time
import unittest
from pathlib import Path

from harness import Bus, visible_files, wait_for
from peers import HOST, BusTestCase, GarbagePeer, closed_port, curl, free_port, make_pki, raw_exchange

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

class RestTestCase(BusTestCase):

    prefix = "sb-rest-"

    def garbage_peer(self):
        peer = GarbagePeer()
        self.peers.append(peer)
        return peer.start()

    def meta_files(self, directory):
        return sorted(p for p in visible_files(self.dir / directory) if p.name.endswith(".meta.json"))

    def read_meta(self, directory):
        found = wait_for(lambda: self.meta_files(directory), 15, what=f"a .meta.json in {directory}")
        self.assertEqual(len(found), 1, found)
        return json.loads((self.dir / directory / found[0]).read_text())

    def assert_error_body(self, result, status, *fragments):
        self.assertEqual(result.status, status, result)
        self.assertEqual(result.header("Content-Type"), "application/json", result)
        error = result.json()
        self.assertEqual(error["status"], status)
        for fragment in fragments:
            self.assertIn(fragment, error["error"])
        return error["error"]

    def assert_serving(self, path="/alive", data="ping", expected=202):
        """A plain request to the bus is answered normally."""
        result = curl(self.url(path), data=data)
        self.assertEqual(result.status, expected, result)
        return result


class RestAnswersTest(RestTestCase):
    """Point 2 of contract §6: one test per answer of the request-reply table."""

    def test_200_is_the_reply_endpoints_response(self):
        upstream = self.peer(lambda request: (201, "text/plain; charset=utf-8", b"created: " + request.body))
        self.start_bus("""
            routes:
              - id: orders
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /orders }} }}
                to:
                  - rest: {{ url: "{up}/erp/orders" }}
            """, up=upstream.url)
        result = curl(self.url("/orders"), data='{"amount": 250}', headers=["Content-Type: application/json"])
        self.assertEqual(result.status, 201, result)
        self.assertEqual(result.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(result.body, b'created: {"amount": 250}')
        [seen] = upstream.recorded()
        self.assertEqual((seen.method, seen.path), ("POST", "/erp/orders"))
        self.assertEqual(seen.header("Content-Type"), "application/json")
        self.assertEqual(seen.body, b'{"amount": 250}')

    def test_reply_index_picks_the_endpoint_that_answers(self):
        first = self.peer(lambda request: (200, "application/xml", b"<first/>"))
        second = self.peer(lambda request: (200, "application/json", b'{"second": true}'))
        self.start_bus("""
            routes:
              - id: two-hops
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /two }} }}
                to:
                  - rest: {{ url: "{first}/one" }}
                  - rest: {{ url: "{second}/two" }}
                reply: 0
            """, first=first.url, second=second.url)
        result = curl(self.url("/two"), data="x")
        self.assertEqual((result.status, result.header("Content-Type"), result.body),
                         (200, "application/xml", b"<first/>"), result)
        # The first response became the message the second endpoint received.
        self.assertEqual(second.recorded()[0].body, b"<first/>")

    def test_202_with_the_message_id_when_nothing_replies(self):
        upstream = self.peer()
        self.start_bus("""
            routes:
              - id: fire-and-forget
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /none }} }}
                to:
                  - rest: {{ url: "{up}/sink" }}
                reply: none
              - id: logged
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /log }} }}
                to:
                  - log: {{ message: "logged ${{message.id}}: ${{body}}" }}
              - id: filed
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /file }} }}
                to:
                  - file: {{ dir: ./out }}
            """, up=upstream.url)
        none = curl(self.url("/none"), data="to the sink")
        self.assertEqual(none.status, 202, none)
        self.assertEqual(none.header("Content-Type"), "application/json")
        self.assertRegex(none.json()["id"], UUID)
        self.assertEqual([r.body for r in upstream.recorded()], [b"to the sink"])

        logged = curl(self.url("/log"), data="hello log")
        self.assertEqual(logged.status, 202, logged)
        message_id = logged.json()["id"]
        self.assertRegex(message_id, UUID)
        self.assertNotEqual(message_id, none.json()["id"])
        wait_for(lambda: self.bus.find(f"logged {message_id}: hello log"), 10, what="the log line")

        filed = curl(self.url("/file"), data="hello file")
        self.assertEqual(filed.status, 202, filed)
        self.assertEqual((self.dir / "out" / filed.json()["id"]).read_bytes(), b"hello file")

    def test_204_when_a_filter_drops_the_message(self):
        upstream = self.peer()
        self.start_bus("""
            routes:
              - id: positive-only
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /amounts }} }}
                steps:
                  - filter: "${{body.amount}} > 0"
                to:
                  - rest: {{ url: "{up}/amounts" }}
            """, up=upstream.url)
        dropped = curl(self.url("/amounts"), data='{"amount": 0}', headers=["Content-Type: application/json"])
        self.assertEqual(dropped.status, 204, dropped)
        self.assertEqual(dropped.body, b"")
        self.assertEqual(upstream.count(), 0)
        passed = curl(self.url("/amounts"), data='{"amount": 7}', headers=["Content-Type: application/json"])
        self.assertEqual(passed.status, 200, passed)
        self.assertEqual(upstream.count(), 1)

    def test_400_when_a_step_needs_json_and_gets_something_else(self):
        upstream = self.peer()
        self.start_bus("""
            routes:
              - id: needs-json
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /orders }} }}
                steps:
                  - set-header: {{ X-Amount: "${{body.amount}}" }}
                to:
                  - rest: {{ url: "{up}/orders" }}
                on_error:
                  retry: {{ attempts: 3, delay: 50ms }}
            """, up=upstream.url)
        bad = curl(self.url("/orders"), data='{"amount": 12,', headers=["Content-Type: application/json"])
        self.assert_error_body(bad, 400, "not valid JSON")
        self.assertRegex(bad.header("X-Message-Id") or "", UUID)
        self.assertEqual(upstream.count(), 0)
        good = curl(self.url("/orders"), data='{"amount": 12}', headers=["Content-Type: application/json"])
        self.assertEqual(good.status, 200, good)
        self.assertEqual(upstream.recorded()[0].header("X-Amount"), "12")

    def test_413_for_a_body_over_max_body(self):
        self.start_bus("""
            routes:
              - id: small
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /small, max_body: 1KiB }} }}
                to:
                  - file: {{ dir: ./out }}
            """)
        self.assertEqual(curl(self.url("/small"), data="x" * 1024).status, 202, "exactly max_body passes")
        over = curl(self.url("/small"), data="x" * 1025)
        self.assert_error_body(over, 413, "1024")
        big = curl(self.url("/small"), data="y" * (3 * 1024 * 1024))
        self.assert_error_body(big, 413)
        # Without a Content-Length the limit holds while the body streams in.
        chunked = curl(self.url("/small"), data="z" * 5000, headers=["Transfer-Encoding: chunked"])
        self.assert_error_body(chunked, 413)
        # A Content-Length announcing more is refused before any body is sent.
        received, closed = raw_exchange(self.port, b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n")
        self.assertTrue(received.startswith(b"HTTP/1.1 413 "), received)
        self.assertTrue(closed)
        self.assertEqual(len(visible_files(self.dir / "out")), 1, "only the request within the limit was taken")
        self.assert_serving("/small")


class RestAuthTest(RestTestCase):
    """401 without (or with malformed) credentials, 403 with wrong ones; the right ones pass
    and the credentials do not travel on."""

    def routes_with(self, auth, upstream):
        self.start_bus("""
            routes:
              - id: guarded
                from:
                  rest:
                    listen: "127.0.0.1:{port}"
                    path: /guarded
                    auth: {auth}
                to:
                  - rest: {{ url: "{up}/in" }}
            """, auth=auth, up=upstream.url)

    def test_basic(self):
        upstream = self.peer()
        self.routes_with("{ basic: { users: { alice: s3cret, bob: hunter2 } } }", upstream)
        missing = curl(self.url("/guarded"), data="x")
        self.assert_error_body(missing, 401)
        self.assertIn("Basic", missing.header("WWW-Authenticate") or "")
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["Authorization: Basic !!!"]).status, 401)
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["Authorization: Bearer s3cret"]).status, 401)
        wrong = curl(self.url("/guarded"), "-u", "alice:wrong", data="x")
        self.assert_error_body(wrong, 403)
        self.assertEqual(curl(self.url("/guarded"), "-u", "mallory:s3cret", data="x").status, 403)
        self.assertEqual(upstream.count(), 0)
        self.assertEqual(curl(self.url("/guarded"), "-u", "alice:s3cret", data="x").status, 200)
        self.assertEqual(curl(self.url("/guarded"), "-u", "bob:hunter2", data="x").status, 200)
        self.assertEqual(upstream.count(), 2)
        self.assertTrue(all(r.header("Authorization") is None for r in upstream.recorded()))

    def test_bearer(self):
        upstream = self.peer()
        self.routes_with("{ bearer: { tokens: [tok-one, tok-two] } }", upstream)
        missing = curl(self.url("/guarded"), data="x")
        self.assert_error_body(missing, 401)
        self.assertIn("Bearer", missing.header("WWW-Authenticate") or "")
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["Authorization: tok-one"]).status, 401)
        self.assert_error_body(curl(self.url("/guarded"), data="x", headers=["Authorization: Bearer tok-three"]), 403)
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["Authorization: Bearer tok-on"]).status, 403)
        self.assertEqual(upstream.count(), 0)
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["Authorization: Bearer tok-two"]).status, 200)
        self.assertEqual(curl(self.url("/guarded"), "--oauth2-bearer", "tok-one", data="x").status, 200)
        self.assertEqual(upstream.count(), 2)
        self.assertTrue(all(r.header("Authorization") is None for r in upstream.recorded()))

    def test_api_key(self):
        upstream = self.peer()
        self.routes_with("{ api_key: { header: X-Key, keys: [key-1] } }", upstream)
        missing = curl(self.url("/guarded"), data="x")
        self.assert_error_body(missing, 401)
        self.assertEqual(missing.header("WWW-Authenticate"), 'ApiKey header="X-Key"')
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["X-Key;"]).status, 401, "empty key")
        self.assertEqual(curl(self.url("/guarded"), data="x", headers=["Authorization: key-1"]).status, 401)
        self.assert_error_body(curl(self.url("/guarded"), data="x", headers=["X-Key: key-2"]), 403)
        self.assertEqual(upstream.count(), 0)
        passed = curl(self.url("/guarded"), data="x", headers=["x-key: key-1", "X-Other: kept"])
        self.assertEqual(passed.status, 200, passed)
        [seen] = upstream.recorded()
        self.assertIsNone(seen.header("X-Key"))
        self.assertEqual(seen.header("X-Other"), "kept")


class RestLoadAndFailureAnswersTest(RestTestCase):
    def test_503_with_retry_after_when_the_intake_is_full(self):
        gate = threading.Event()
        upstream = self.peer(lambda request: (gate.wait(30), (200, "text/plain", b"finally"))[1])
        self.start_bus("""
            routes:
              - id: narrow
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /narrow }} }}
                to:
                  - rest: {{ url: "{up}/slow" }}
                concurrency: 1
                queue: 1
              - id: alive
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /alive }} }}
                to:
                  - log: {{}}
            """, up=upstream.url)
        results = {}

        def call(i):
            results[i] = curl(self.url("/narrow"), data=f"request {i}", timeout=60)

        callers = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        try:
            for caller in callers:
                caller.start()
            # One request is at the upstream and one waits in the queue: the other four are refused.
            wait_for(lambda: len(results) >= 4, 30, what="four refused requests")
            self.assertEqual(upstream.count(), 1)
            self.assert_serving("/alive")  # another route on the same address is unaffected
        finally:
            gate.set()
            for caller in callers:
                caller.join(timeout=60)
        statuses = sorted(r.status for r in results.values())
        self.assertEqual(statuses, [200, 200, 503, 503, 503, 503], results)
        for result in results.values():
            if result.status == 503:
                self.assert_error_body(result, 503, "busy")
                self.assertEqual(result.header("Retry-After"), "1")
            else:
                self.assertEqual(result.body, b"finally")
        self.assertEqual(upstream.count(), 2)
        self.assertEqual(curl(self.url("/narrow"), data="after").status, 200, "room again once the load is gone")

    def test_502_after_the_retries_of_a_failing_upstream(self):
        upstream = self.peer(lambda request: (500, "text/plain", b"database on fire"))
        self.start_bus("""
            routes:
              - id: failing
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /failing }} }}
                to:
                  - rest: {{ url: "{up}/erp" }}
                on_error:
                  retry: {{ attempts: 2, delay: 50ms }}
            """, up=upstream.url)
        result = curl(self.url("/failing"), data="x")
        message = self.assert_error_body(result, 502, "answered 500", "database on fire", f"{upstream.url}/erp")
        self.assertIn("POST", message)
        self.assertRegex(result.header("X-Message-Id") or "", UUID)
        self.assertEqual(upstream.count(), 2)
        self.assertTrue(self.bus.find("attempt 1 failed, retrying"))

    def test_504_when_the_route_runs_out_of_time(self):
        upstream = self.peer()
        upstream.respond = lambda request: (upstream.hang(15), (200, "text/plain", b"too late"))[1]
        self.start_bus("""
            routes:
              - id: slow
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /slow }} }}
                to:
                  - rest: {{ url: "{up}/hang" }}
                timeout: 1s
              - id: alive
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /alive }} }}
                to:
                  - log: {{}}
            """, up=upstream.url)
        started = time.monotonic()
        result = curl(self.url("/slow"), data="x")
        elapsed = time.monotonic() - started
        self.assert_error_body(result, 504, "timeout")
        self.assertLess(elapsed, 12, "answered by the route's timeout, not by the upstream")
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertEqual(upstream.count(), 1)
        self.assert_serving("/alive")

    def test_404_for_an_unknown_path_and_405_with_allow(self):
        self.start_bus("""
            routes:
              - id: create
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: "/orders/{{id}}", methods: [POST] }} }}
                to: [ {{ log: {{}} }} ]
              - id: replace
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: "/orders/{{id}}", methods: [put, PATCH] }} }}
                to: [ {{ log: {{}} }} ]
            """)
        unknown = curl(self.url("/nothing/here"), data="x")
        self.assert_error_body(unknown, 404, "/nothing/here")
        self.assert_error_body(curl(self.url("/orders"), data="x"), 404)
        self.assert_error_body(curl(self.url("/orders/1/items"), data="x"), 404)
        not_allowed = curl(self.url("/orders/1"), method="DELETE")
        self.assert_error_body(not_allowed, 405, "DELETE")
        allowed = {m.strip() for m in (not_allowed.header("Allow") or "").split(",")}
        self.assertEqual(allowed, {"POST", "PUT", "PATCH"})
        self.assertEqual(curl(self.url("/orders/1"), method="GET").status, 405)
        self.assertEqual(curl(self.url("/orders/1"), data="x").status, 202)
        self.assertEqual(curl(self.url("/orders/1"), data="x", method="PUT").status, 202)
        self.assertEqual(curl(self.url("/orders/1"), data="x", method="PATCH").status, 202)


class RestMessageTest(RestTestCase):
    """What a request becomes: path.<name>, http.query.<k>, http.* and the request headers."""

    def test_path_query_and_headers_reach_the_upstream(self):
        upstream = self.peer()
        self.start_bus("""
            routes:
              - id: orders
                from:
                  rest:
                    listen: "127.0.0.1:{port}"
                    path: "/customers/{{customer}}/orders/{{order}}"
                    methods: [POST, PUT]
                steps:
                  - set-header:
                      X-Customer: "${{header.path.customer}}"
                      X-Order: "${{header.path.order}}"
                      X-Q: "${{header.http.query.x}}"
                      X-Y: "${{header.http.query.y}}"
                      X-Method: "${{header.http.method}}"
                      X-Path: "${{header.http.path}}"
                to:
                  - rest: {{ url: "{up}/erp/${{header.path.order}}?q=${{header.http.query.y}}&x=${{header.http.query.x}}" }}
            """, up=upstream.url)
        result = curl(self.url("/customers/acme%20corp/orders/42?x=a+b%26c&y=2"), method="PUT", data="{}",
                      headers=["Content-Type: application/json", "X-Trace: trace-1", "Accept: text/plain"])
        self.assertEqual(result.status, 200, result)
        [seen] = upstream.recorded()
        self.assertEqual(seen.method, "POST")  # the outbound's method, not the caller's
        # Values rendered into the URL are percent-encoded: "a b&c" stays one query value.
        self.assertEqual(seen.path, "/erp/42?q=2&x=a%20b%26c")
        self.assertEqual(seen.header("X-Customer"), "acme corp")
        self.assertEqual(seen.header("X-Order"), "42")
        self.assertEqual(seen.header("X-Q"), "a b&c")
        self.assertEqual(seen.header("X-Y"), "2")
        self.assertEqual(seen.header("X-Method"), "PUT")
        self.assertEqual(seen.header("X-Path"), "/customers/acme corp/orders/42")
        self.assertEqual(seen.header("X-Trace"), "trace-1")  # request headers travel on
        self.assertEqual(seen.header("Accept"), "text/plain")
        self.assertEqual(seen.header("Content-Type"), "application/json")
        self.assertFalse([name for name in seen.headers if "." in name], "the bus's own headers stay inside")

    def test_file_outbound_with_meta_shows_the_message(self):
        self.start_bus("""
            routes:
              - id: capture
                from:
                  rest:
                    listen: "127.0.0.1:{port}"
                    path: "/capture/{{kind}}"
                    methods: [POST, GET]
                to:
                  - file: {{ dir: ./out, meta: true }}
            """)
        result = curl(self.url("/capture/invoice?n=1&flag&empty=&n2=%C3%A9"), data="<x/>",
                      headers=["Content-Type: application/xml", "X-Trace: t-9"])
        self.assertEqual(result.status, 202, result)
        message_id = result.json()["id"]
        meta = self.read_meta("out")
        self.assertEqual(meta["id"], message_id)
        self.assertEqual(meta["content_type"], "application/xml")
        headers = {k.lower(): v for k, v in meta["headers"].items()}
        self.assertEqual(headers["http.method"], "POST")
        self.assertEqual(headers["http.path"], "/capture/invoice")
        self.assertTrue(headers["http.remote"].startswith("127.0.0.1:"), headers)
        self.assertEqual(headers["path.kind"], "invoice")
        self.assertEqual(headers["http.query.n"], "1")
        self.assertEqual(headers["http.query.flag"], "")
        self.assertEqual(headers["http.query.empty"], "")
        self.assertEqual(headers["http.query.n2"], "é")
        self.assertEqual(headers["x-trace"], "t-9")
        self.assertEqual((self.dir / "out" / message_id).read_bytes(), b"<x/>")
        get = curl(self.url("/capture/report"))
        self.assertEqual(get.status, 202, get)
        self.assertEqual(json.loads((self.dir / "out" / f"{get.json()['id']}.meta.json").read_text())
                         ["headers"]["http.method"], "GET")

    def test_routes_share_one_address_by_path_and_method(self):
        self.start_bus("""
            routes:
              - id: post-a
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /a, methods: [POST] }} }}
                to: [ {{ file: {{ dir: ./post-a }} }} ]
              - id: get-a
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /a, methods: [GET] }} }}
                to: [ {{ file: {{ dir: ./get-a }} }} ]
              - id: items
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: "/items/{{id}}", methods: [PUT, DELETE] }} }}
                to: [ {{ file: {{ dir: ./items, name: "${{header.http.method}}-${{header.path.id}}" }} }} ]
              - id: root
                from: {{ rest: {{ listen: "127.0.0.1:{port}" }} }}
                to: [ {{ file: {{ dir: ./root }} }} ]
            """)
        posted = curl(self.url("/a"), data="posted")
        got = curl(self.url("/a"))
        put = curl(self.url("/items/7"), data="put", method="PUT")
        deleted = curl(self.url("/items/8"), method="DELETE")
        rooted = curl(self.url("/"), data="root")
        for result in (posted, got, put, deleted, rooted):
            self.assertEqual(result.status, 202, result)
        self.assertEqual((self.dir / "post-a" / posted.json()["id"]).read_bytes(), b"posted")
        self.assertEqual((self.dir / "get-a" / got.json()["id"]).read_bytes(), b"")
        self.assertEqual((self.dir / "items" / "PUT-7").read_bytes(), b"put")
        self.assertTrue((self.dir / "items" / "DELETE-8").exists())
        self.assertEqual((self.dir / "root" / rooted.json()["id"]).read_bytes(), b"root")
        for directory in ("post-a", "get-a", "root"):
            self.assertEqual(len(visible_files(self.dir / directory)), 1, directory)
        self.assertEqual({m.strip() for m in curl(self.url("/a"), method="PUT").header("Allow").split(",")},
                         {"POST", "GET"})
        self.assertEqual(curl(self.url("/items/7"), data="x").status, 405)

    def test_requests_cannot_forge_the_bus_headers(self):
        self.start_bus("""
            routes:
              - id: logged
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: "/in/{{name}}" }} }}
                to:
                  - file: {{ dir: ./out, meta: true }}
            """)
        forged = curl(self.url("/in/real?q=real"), data="x", timeout=10,
                      headers=["http.status: 299", "path.name: forged", "http.query.q: forged",
                               "error.message: forged", "http.method: DELETE"])
        self.assertEqual(forged.status, 202, forged)
        headers = self.read_meta("out")["headers"]
        self.assertEqual(headers["path.name"], "real")
        self.assertEqual(headers["http.query.q"], "real")
        self.assertEqual(headers["http.method"], "POST")
        self.assertNotIn("http.status", headers)
        self.assertNotIn("error.message", headers)
        # A status that is not a number neither hangs the caller nor changes the answer.
        broken = curl(self.url("/in/real"), data="x", headers=["http.status: abc"], timeout=10)
        self.assertEqual(broken.status, 202, broken)


    def test_a_url_that_is_not_http_is_a_permanent_error(self):
        # A value cannot bring its own scheme or host into the URL: it is percent-encoded, so
        # the rendered URL has no http(s) scheme and fails at once, without retries.
        self.start_bus("""
            routes:
              - id: routed
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /routed }} }}
                to:
                  - rest: {{ url: "${{header.X-Target}}/orders" }}
                on_error:
                  retry: {{ attempts: 3, delay: 50ms }}
            """)
        result = curl(self.url("/routed"), data="x", headers=["X-Target: http://127.0.0.1:21"])
        self.assert_error_body(result, 502, "http%3A%2F%2F127.0.0.1%3A21/orders")
        self.assertFalse(self.bus.find("retrying"), "a URL that cannot work is not retried")


class RestTlsTest(RestTestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki_dir = tempfile.TemporaryDirectory(prefix="sb-rest-pki-")
        cls.pki = make_pki(cls.pki_dir.name)

    @classmethod
    def tearDownClass(cls):
        cls.pki_dir.cleanup()

    def test_tls(self):
        pki = self.pki
        self.start_bus("""
            routes:
              - id: secure
                from:
                  rest:
                    listen: "127.0.0.1:{port}"
                    path: /secure
                    tls: {{ cert: "{cert}", key: "{key}" }}
                to:
                  - file: {{ dir: ./out }}
            """, cert=pki["server_cert"], key=pki["server_key"])
        ok = curl(self.url("/secure", "https"), "--cacert", pki["ca"], data="over tls")
        self.assertEqual(ok.status, 202, ok)
        self.assertEqual((self.dir / "out" / ok.json()["id"]).read_bytes(), b"over tls")
        untrusted = curl(self.url("/secure", "https"), data="x")  # the system CAs do not know ours
        self.assertNotEqual(untrusted.returncode, 0, untrusted)
        self.assertEqual(untrusted.status, 0)
        wrong_ca = curl(self.url("/secure", "https"), "--cacert", pki["other_ca"], data="x")
        self.assertEqual(wrong_ca.status, 0, wrong_ca)
        plain = curl(self.url("/secure"), data="x", timeout=10)
        self.assertNotEqual(plain.status, 202, plain)
        self.assertEqual(len(visible_files(self.dir / "out")), 1)
        self.assertEqual(curl(self.url("/secure", "https"), "--cacert", pki["ca"], data="again").status, 202)

    def test_mutual_tls(self):
        pki = self.pki
        self.start_bus("""
            routes:
              - id: mutual
                from:
                  rest:
                    listen: "127.0.0.1:{port}"
                    path: /mutual
                    tls: {{ cert: "{cert}", key: "{key}", client_ca: "{ca}" }}
                to:
                  - file: {{ dir: ./out }}
            """, cert=pki["server_cert"], key=pki["server_key"], ca=pki["ca"])
        url = self.url("/mutual", "https")
        anonymous = curl(url, "--cacert", pki["ca"], data="x", timeout=10)
        self.assertEqual(anonymous.status, 0, anonymous)
        self.assertNotEqual(anonymous.returncode, 0)
        stranger = curl(url, "--cacert", pki["ca"], "--cert", pki["other_client_cert"], "--key",
                        pki["other_client_key"], data="x", timeout=10)
        self.assertEqual(stranger.status, 0, stranger)
        known = curl(url, "--cacert", pki["ca"], "--cert", pki["client_cert"], "--key", pki["client_key"],
                     data="with a certificate")
        self.assertEqual(known.status, 202, known)
        self.assertEqual([(self.dir / "out" / p).read_bytes() for p in visible_files(self.dir / "out")],
                         [b"with a certificate"])

    def test_outbound_tls_with_ca_and_client_certificate(self):
        pki = self.pki
        front = free_port()
        self.start_bus("""
            routes:
              - id: front
                from: {{ rest: {{ listen: "127.0.0.1:{front}", path: /front }} }}
                to:
                  - rest:
                      url: "https://127.0.0.1:{port}/mutual"
                      tls: {{ ca: "{ca}", cert: "{client_cert}", key: "{client_key}" }}
              - id: no-client-cert
                from: {{ rest: {{ listen: "127.0.0.1:{front}", path: /anonymous }} }}
                to:
                  - rest: {{ url: "https://127.0.0.1:{port}/mutual", tls: {{ ca: "{ca}" }} }}
              - id: mutual
                from:
                  rest:
                    listen: "127.0.0.1:{port}"
                    path: /mutual
                    tls: {{ cert: "{cert}", key: "{key}", client_ca: "{ca}" }}
                to:
                  - file: {{ dir: ./out }}
            """, front=front, cert=pki["server_cert"], key=pki["server_key"], ca=pki["ca"],
                       client_cert=pki["client_cert"], client_key=pki["client_key"])
        through = curl(f"http://{HOST}:{front}/front", data="relayed")
        self.assertEqual(through.status, 202, through)  # the TLS route's answer, relayed
        self.assertEqual((self.dir / "out" / through.json()["id"]).read_bytes(), b"relayed")
        refused = curl(f"http://{HOST}:{front}/anonymous", data="x")
        self.assertEqual(refused.status, 502, refused)
        self.assertIn(f"https://127.0.0.1:{self.port}/mutual", refused.json()["error"])


class RestBadClientTest(RestTestCase):
    """Clients that are slow, leave early, announce too much or do not speak HTTP; the bus
    cuts them off and keeps serving everybody else."""

    ROUTES = """
        routes:
          - id: intake
            from:
              rest:
                listen: "127.0.0.1:{port}"
                path: /in
                read_timeout: 1s
                idle_timeout: 30s
            to:
              - file: {{ dir: ./out }}
          - id: alive
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /alive }} }}
            to:
              - log: {{}}
        """

    def trickle(self, prefix, byte=b"a", interval=0.2, limit=20):
        """Sends `prefix`, then one byte per `interval`; returns (seconds until the bus closed
        the connection or None, what the bus sent)."""
        s = socket.create_connection((HOST, self.port), timeout=10)
        self.sockets.append(s)
        s.sendall(prefix)
        received = b""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            readable, _, _ = select.select([s], [], [], interval)
            if readable:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    return time.monotonic() - started, received
                if not chunk:
                    return time.monotonic() - started, received
                received += chunk
                continue
            try:
                s.sendall(byte)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started, received
        return None, received

    def assert_cut_off(self, closed_after, received):
        self.assertIsNotNone(closed_after, "the bus kept a trickling connection open for 20s")
        self.assertLess(closed_after, 10)
        self.assertNotIn(b"HTTP/1.1 2", received)

    def test_slowloris_header_is_cut_off(self):
        self.start_bus(self.ROUTES)
        closed_after, received = self.trickle(b"POST /in HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        self.assert_cut_off(closed_after, received)
        self.assertEqual(visible_files(self.dir / "out"), [])
        self.assert_serving("/in")

    def test_slowloris_on_a_kept_alive_connection_is_cut_off(self):
        self.start_bus(self.ROUTES)
        s = socket.create_connection((HOST, self.port), timeout=10)
        self.sockets.append(s)
        s.sendall(b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst")
        first = b""
        while b'"}' not in first:
            chunk = s.recv(4096)
            self.assertTrue(chunk, first)
            first += chunk
        self.assertTrue(first.startswith(b"HTTP/1.1 202 "), first)
        # The next request on the same connection gets read_timeout too, not idle_timeout (30s).
        started = time.monotonic()
        s.sendall(b"POST /in HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        closed_after = None
        while time.monotonic() - started < 20:
            readable, _, _ = select.select([s], [], [], 0.2)
            if readable:
                try:
                    if not s.recv(4096):
                        closed_after = time.monotonic() - started
                        break
                except ConnectionResetError:
                    closed_after = time.monotonic() - started
                    break
            else:
                try:
                    s.sendall(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed_after = time.monotonic() - started
                    break
        self.assertIsNotNone(closed_after, "a trickling second request held the connection for 20s")
        self.assertLess(closed_after, 10)
        self.assertEqual(len(visible_files(self.dir / "out")), 1)
        self.assert_serving("/alive")

    def test_slow_body_is_cut_off(self):
        self.start_bus(self.ROUTES)
        closed_after, received = self.trickle(b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        self.assert_cut_off(closed_after, received)
        self.assertEqual(visible_files(self.dir / "out"), [])
        self.assert_serving("/in")

    def test_a_client_leaving_mid_body_makes_no_message(self):
        self.start_bus(self.ROUTES)
        for _ in range(20):
            with socket.create_connection((HOST, self.port), timeout=10) as s:
                s.sendall(b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"b" * 100)
        with socket.create_connection((HOST, self.port), timeout=10) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
            s.sendall(b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"b" * 100)
        ok = self.assert_serving("/in", data="whole")
        self.assertEqual([(self.dir / "out" / p).read_bytes() for p in visible_files(self.dir / "out")], [b"whole"])
        self.assertEqual(ok.json()["id"], visible_files(self.dir / "out")[0].name)

    def test_ten_gibibyte_content_length_is_refused_unread(self):
        bus = self.start_bus(self.ROUTES)
        started = time.monotonic()
        received, closed = raw_exchange(
            self.port, b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n\r\n" + b"c" * 65536)
        self.assertLess(time.monotonic() - started, 10)
        self.assertTrue(received.startswith(b"HTTP/1.1 413 "), received)
        self.assertIn(b"10737418240", received)
        self.assertTrue(closed)
        rss_kib = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{bus.process.pid}/status").read_text()).group(1))
        self.assertLess(rss_kib, 512 * 1024, "the bus did not buffer the announced body")
        self.assert_serving("/in")

    def test_malformed_requests_get_400_or_a_close(self):
        self.start_bus(self.ROUTES)
        malformed = [
            b"GARBAGE\r\n\r\n",
            b"POST /in HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
            b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            b"POST /in HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
            b"POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
            b"\x00" * 64 + b"\r\n\r\n",
        ]
        for request in malformed:
            received, closed = raw_exchange(self.port, request)
            self.assertTrue(closed, request)
            if received:
                self.assertTrue(received.startswith(b"HTTP/1.1 400 "), (request, received))
                self.assertIn(b'"status":400', received)
        self.assertEqual(visible_files(self.dir / "out"), [])
        self.assert_serving("/in")

    def test_expect_100_continue_is_answered_before_the_body(self):
        self.start_bus(self.ROUTES)
        with socket.create_connection((HOST, self.port), timeout=10) as s:
            s.sendall(b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            interim = b""
            while b"\r\n\r\n" not in interim:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "closed instead of 100 Continue")
                interim += chunk
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            s.sendall(b"body")
            final = interim.partition(b"\r\n\r\n")[2]
            while b'"}' not in final:
                chunk = s.recv(4096)
                self.assertTrue(chunk, final)
                final += chunk
            self.assertTrue(final.startswith(b"HTTP/1.1 202 "), final)
        # curl asks for 100-continue on bodies over 1MiB, and must not wait a second for it:
        # with read_timeout 1s such an upload would otherwise be cut off.
        big = curl(self.url("/in"), data=b"u" * (2 * 1024 * 1024))
        self.assertEqual(big.status, 202, big)
        self.assertEqual((self.dir / "out" / big.json()["id"]).stat().st_size, 2 * 1024 * 1024)
        refused = curl(self.url("/nowhere"), data=b"v" * (2 * 1024 * 1024))
        self.assertEqual(refused.status, 404, refused)

    def test_oversized_header_gets_431(self):
        self.start_bus(self.ROUTES)
        received, closed = raw_exchange(
            self.port, b"POST /in HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 40000 + b"\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(received.startswith(b"HTTP/1.1 431 "), received[:200])
        self.assertTrue(closed)
        self.assert_serving("/in")


class RestOutboundFaultTest(RestTestCase):
    """Upstreams that are down, hang, fail or speak garbage: each message fails on its own with
    a clear error, reaches the dead letter endpoint, and the bus keeps serving."""

    ROUTES = """
        routes:
          - id: faulty
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /faulty }} }}
            to:
              - rest: {{ url: "{up}/erp", timeout: 500ms, connect_timeout: 2s }}
            on_error:
              retry: {{ attempts: {attempts}, delay: 50ms }}
              dead_letter:
                file: {{ dir: ./dead, meta: true }}
          - id: alive
            from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /alive }} }}
            to:
              - log: {{}}
        """

    def fail_through(self, up, attempts=2, statuses=(502,), made=None):
        """Sends one message through the faulty route; returns (answer, error text, dead letter meta)."""
        self.start_bus(self.ROUTES, up=up, attempts=attempts)
        result = curl(self.url("/faulty"), data='{"order": 1}', headers=["Content-Type: application/json"])
        self.assertIn(result.status, statuses, result)
        error = self.assert_error_body(result, result.status, f"POST {up}/erp")
        meta = self.read_meta("dead")
        self.assertEqual(meta["id"], result.header("X-Message-Id"))
        headers = meta["headers"]
        self.assertEqual(headers["error.message"], error)
        self.assertEqual(headers["error.attempts"], str(attempts if made is None else made))
        self.assertEqual(headers["error.endpoint"], "rest")
        self.assertEqual(headers["error.route"], "faulty")
        self.assertEqual(headers["http.path"], "/faulty")  # the message as it came in
        dead = [p for p in visible_files(self.dir / "dead") if not p.name.endswith(".meta.json")]
        self.assertEqual([(self.dir / "dead" / p).read_bytes() for p in dead], [b'{"order": 1}'])
        self.assert_serving("/alive")
        again = curl(self.url("/faulty"), data="again")
        self.assertIn(again.status, statuses, again)
        return result, error, headers

    def test_upstream_down(self):
        holder, port = closed_port()
        self.sockets.append(holder)
        _, error, _ = self.fail_through(f"http://127.0.0.1:{port}")
        self.assertRegex(error, r"(?i)connect|refused")

    def test_upstream_hangs_past_the_outbound_timeout(self):
        upstream = self.peer()
        upstream.respond = lambda request: (upstream.hang(15), (200, "text/plain", b"too late"))[1]
        # A timed-out exchange is a gateway timeout: 504, or 502 as any outbound failure.
        started = time.monotonic()
        _, error, _ = self.fail_through(upstream.url, statuses=(502, 504))
        self.assertLess(time.monotonic() - started, 15, "the outbound timeout, not the upstream, ended it")
        self.assertRegex(error, r"(?i)timed? ?out")
        self.assertGreaterEqual(upstream.count(), 2)

    def test_upstream_answers_500(self):
        upstream = self.peer(lambda request: (500, "text/plain", b"internal fire"))
        _, error, _ = self.fail_through(upstream.url)
        self.assertIn("answered 500", error)
        self.assertIn("internal fire", error)
        self.assertEqual(upstream.count(), 2 + 2)  # two messages, two attempts each

    def test_upstream_answers_garbage(self):
        upstream = self.garbage_peer()
        _, error, _ = self.fail_through(upstream.url)
        self.assertRegex(error, r"(?i)HTTP/0\.9|weird|unsupported|invalid|malformed")
        self.assertGreaterEqual(upstream.connections, 2)

    def test_upstream_answers_a_broken_status_line(self):
        upstream = GarbagePeer(b"HTTP/1.1 2x0 Fine\r\nContent-Length: 2\r\n\r\nok")
        self.peers.append(upstream.start())
        _, error, _ = self.fail_through(upstream.url)
        self.assertRegex(error, r"(?i)weird|unsupported|invalid|malformed|HTTP/0\.9")
        self.assertGreaterEqual(upstream.connections, 2)

    def test_upstream_4xx_is_not_retried(self):
        upstream = self.peer(lambda request: (404, "application/json", b'{"error": "no such order"}'))
        _, error, headers = self.fail_through(upstream.url, attempts=3, made=1)
        self.assertIn("answered 404", error)
        self.assertIn("no such order", error)
        self.assertEqual(headers["error.attempts"], "1")
        self.assertEqual(upstream.count(), 2, "one attempt per message")
        self.assertFalse(self.bus.find("retrying"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
