"""A slow peer on one route does not slow another route of the same bus.

Route A (rest /a -> rest to a peer answering after 5 s) and route B (rest /b -> rest to a
fast peer) share one bus and one listen address. B's latency is measured with a fixed set of
requests (4 threads x 3,000 sequential requests, http.client, kept-alive connections) alone,
then again while A is hammered by 48 concurrent connections (more than A's concurrency +
queue, so A is saturated and some of its callers get 503). B's median may be at most 10 %
worse plus 5 ms."""
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import wait_for  # noqa: E402
from peers import HOST, BusTestCase  # noqa: E402

THREADS = 4
PER_THREAD = 3000
HAMMER_CONNECTIONS = 48
A_CONCURRENCY = 8
A_QUEUE = 32
SLOW_SECONDS = 5

# Runs in its own process, so its threads do not compete with the measuring threads for the GIL.
HAMMER = r"""
import http.client, json, sys, threading, time
host, port, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
counts, lock, stop = {}, threading.Lock(), threading.Event()
def hammer(i):
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("POST", "/a", body=b'{"hammer": %d}' % i, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                conn.close(); conn = None
        except Exception as e:
            status = type(e).__name__
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            counts[status] = counts.get(status, 0) + 1
        if status != 200:
            time.sleep(0.05)
for i in range(connections):
    threading.Thread(target=hammer, args=(i,), daemon=True).start()
print("started", flush=True)
sys.stdin.read()  # until the test closes our stdin
stop.set()
with lock:
    print(json.dumps({str(k): v for k, v in counts.items()}), flush=True)
"""


def quick(peer):
    peer.server.RequestHandlerClass.disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer
    peer.server.handle_error = lambda request, client_address: None
    return peer


class SlowPeerIsolationTest(BusTestCase):
    prefix = "sb-fault-slow-"

    def measure(self, label, per_thread=PER_THREAD):
        latencies, errors = [], []
        lock = threading.Lock()

        def run(t):
            conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            mine = []
            try:
                for i in range(per_thread):
                    started = time.perf_counter()
                    conn.request("POST", "/b", body=json.dumps({"t": t, "i": i}),
                                 headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    body = response.read()
                    mine.append(time.perf_counter() - started)
                    if response.status != 200:
                        errors.append((response.status, body[:200]))
            except Exception as e:  # reported below
                errors.append(repr(e))
            finally:
                conn.close()
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.perf_counter() - started
        self.assertEqual(errors, [], f"{label}: route B failed")
        self.assertEqual(len(latencies), THREADS * per_thread)
        latencies.sort()
        figures = {
            "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
            "max_ms": latencies[-1] * 1000,
            "per_s": len(latencies) / elapsed,
        }
        print(f"slow-peer: B {label}: {len(latencies)} requests in {elapsed:.2f}s = {figures['per_s']:.0f}/s, "
              f"median {figures['median_ms']:.2f} ms, p95 {figures['p95_ms']:.2f} ms, max {figures['max_ms']:.1f} ms",
              flush=True)
        return figures

    def test_slow_route_does_not_slow_the_other(self):
        slow = self.peer()
        slow.respond = lambda request: (slow.hang(SLOW_SECONDS), (200, "application/json", b'{"slow": true}'))[1]
        quick(slow)
        fast = quick(self.peer(lambda request: (200, "application/json", b'{"fast": true}')))
        self.start_bus("""
            routes:
              - id: a-slow
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /a }} }}
                to:
                  - rest: {{ url: "{slow}/a" }}
                concurrency: {ac}
                queue: {aq}
              - id: b-fast
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /b }} }}
                to:
                  - rest: {{ url: "{fast}/b" }}
                concurrency: 8
                queue: 64
            """, slow=slow.url, fast=fast.url, ac=A_CONCURRENCY, aq=A_QUEUE)
        print("", flush=True)
        self.measure("warm-up", per_thread=100)
        alone = self.measure("alone")

        hammer = subprocess.Popen([sys.executable, "-c", HAMMER, HOST, str(self.port), str(HAMMER_CONNECTIONS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(hammer.stdout.readline().strip(), "started")
            # A is saturated: its concurrency is held at the slow peer and its queue is full.
            wait_for(lambda: slow.count() >= A_CONCURRENCY, 20, what="route A's slots busy at the slow peer")
            time.sleep(1.0)
            at_slow_before = slow.count()
            loaded = self.measure(f"while A is hammered by {HAMMER_CONNECTIONS} connections")
            at_slow_during = slow.count() - at_slow_before
        finally:
            out, _ = hammer.communicate(input="", timeout=30)
        counts = json.loads(out.strip().splitlines()[-1])
        print(f"slow-peer: A's callers got {counts}; {slow.count()} requests reached the slow peer "
              f"({at_slow_during} while B was measured)", flush=True)
        bound = alone["median_ms"] * 1.10 + 5.0
        print(f"slow-peer: B median alone {alone['median_ms']:.2f} ms, while A is hammered "
              f"{loaded['median_ms']:.2f} ms (bound {bound:.2f} ms); "
              f"throughput {alone['per_s']:.0f}/s -> {loaded['per_s']:.0f}/s", flush=True)
        self.assertGreater(counts.get("503", 0), 0, "A was not saturated: no caller was refused")
        self.assertLessEqual(loaded["median_ms"], bound)
        self.assertIsNone(self.bus.process.poll())


if __name__ == "__main__":
    unittest.main(verbosity=2)
