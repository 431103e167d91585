"""Reload on SIGHUP: a broken configuration changes nothing, an unchanged route runs on without
a blip, a changed route takes over its HTTP path with no failed request, new routes start and
removed ones stop."""
import signal
import sys
import textwrap
import threading
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import wait_for  # noqa: E402
from peers import BusTestCase, HOST  # noqa: E402

ROUTES = """
    routes:
      - id: orders
        from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /orders }} }}
        steps:
          - set-body: "{orders_body}"
          - set-header: {{ http.status: "200" }}
        to:
          - log: {{ level: debug }}
        reply: last
      - id: stock
        from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /stock }} }}
        steps:
          - set-body: "stock v1"
          - set-header: {{ http.status: "200" }}
        to:
          - log: {{ level: debug }}
        reply: last
    {extra}
    """

PRICES = """\
  - id: prices
    from: { rest: { listen: "127.0.0.1:{port}", path: /prices } }
    steps:
      - set-body: "prices v1"
      - set-header: { http.status: "200" }
    to:
      - log: { level: debug }
    reply: last
"""


class Client(threading.Thread):
    """Posts to one path in a loop, each request on a new connection, and counts what failed."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.answers = []
        self.failures = []

    def run(self):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while not self.stopping.is_set():
            try:
                with opener.open(urllib.request.Request(self.url, data=b"{}", method="POST"), timeout=10) as answer:
                    self.answers.append((answer.status, answer.read().decode()))
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                self.failures.append(repr(e))

    def stop(self):
        self.stopping.set()
        self.join(timeout=20)


class ReloadTest(BusTestCase):
    prefix = "sb-reload-"

    def write(self, orders_body="orders v1", extra=""):
        text = textwrap.dedent(ROUTES).format(port=self.port, orders_body=orders_body,
                                              extra=extra.replace("{port}", str(self.port)))
        (self.dir / "routes.yaml").write_text(text)

    def reload(self, expect):
        seen = len(self.bus.find(expect))
        self.bus.process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(self.bus.find(expect)) > seen, 20, what=f"'{expect}' in the log")

    def client(self, path):
        client = Client(f"http://{HOST}:{self.port}{path}")
        client.start()
        wait_for(lambda: len(client.answers) >= 20 or client.failures, 10, what=f"answers on {path}")
        return client

    def test_reload_replaces_changed_routes_only_and_no_request_fails(self):
        self.write()
        self.start_bus((self.dir / "routes.yaml").read_text().replace("{", "{{").replace("}", "}}"))
        orders, stock = self.client("/orders"), self.client("/stock")
        try:
            # A broken file: rejected, everything keeps serving.
            (self.dir / "routes.yaml").write_text("routes:\n  - id: orders\n    from: [\n")
            self.reload("reload rejected")
            self.assertTrue(self.bus.find("invalid YAML"))
            count = len(orders.answers)
            wait_for(lambda: len(orders.answers) > count + 20, 10, what="orders still answered")

            # A changed route and a new one: the changed route's path passes to its new version.
            self.write(orders_body="orders v2", extra=PRICES)
            self.reload("reloaded:")
            wait_for(lambda: orders.answers and orders.answers[-1][1] == "orders v2", 10, what="orders v2 answering")
            self.assertTrue(self.bus.find("reloaded: 1 unchanged, 2 started, 1 stopped"), self.bus.log_text()[-2000:])
            count = len(stock.answers)
            wait_for(lambda: len(stock.answers) > count + 20, 10, what="stock still answered")

            # The new route answers; removing it stops it.
            prices = self.client("/prices")
            prices.stop()
            self.assertEqual(prices.failures, [])
            self.assertEqual({body for _, body in prices.answers}, {"prices v1"})
            self.write(orders_body="orders v2")
            self.reload("reloaded:")
            self.assertTrue(self.bus.find("reloaded: 2 unchanged, 0 started, 1 stopped"), self.bus.log_text()[-2000:])
        finally:
            orders.stop()
            stock.stop()
        self.assertEqual(orders.failures, [], "a request to the replaced route failed")
        self.assertEqual(stock.failures, [], "a request to the unchanged route failed")
        statuses = {status for status, _ in orders.answers + stock.answers}
        self.assertEqual(statuses, {200})
        bodies = [body for _, body in orders.answers]
        switch = bodies.index("orders v2")
        self.assertEqual(set(bodies[:switch]), {"orders v1"})
        self.assertEqual(set(bodies[switch:]), {"orders v2"}, "once switched, only the new route answers")
        self.assertEqual({body for _, body in stock.answers}, {"stock v1"})
        print(f"\nreload: {len(orders.answers)} + {len(stock.answers)} requests across three reloads, none failed",
              flush=True)
        gone = self.client_once("/prices")
        self.assertEqual(gone, 404)

    def client_once(self, path):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(urllib.request.Request(f"http://{HOST}:{self.port}{path}", data=b"{}"), timeout=10) as a:
                return a.status
        except urllib.error.HTTPError as e:
            return e.code


if __name__ == "__main__":
    unittest.main(verbosity=2)
