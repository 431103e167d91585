"""30 s of offered load far above a REST route's capacity.

The route has concurrency 2 and queue 4 and forwards to a peer that answers after 100 ms,
so it can serve about 20 requests/s; wrk (or, without wrk, 64 threads in a child process)
offers as many as it can over 256 connections for 30 s. The bus must not crash; callers it
cannot take get 503 with Retry-After (contract §6); its RSS stays under 100 MiB; and once the
load stops a plain client is answered 2xx within 1 s (asking again every 50 ms while it gets
503: the queue may still hold requests of the load's closed connections)."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from peers import HOST, BusTestCase  # noqa: E402

SECONDS = int(os.environ.get("FAULT_OVERLOAD_SECONDS", "30"))
CONNECTIONS = 256
RSS_BOUND_MIB = 100
PEER_DELAY = 0.1

WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.body = '{"order": 1, "amount": 250}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; busy = 0; busy_with_retry_after = 0; other = 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then
    busy = busy + 1
    if headers["Retry-After"] or headers["retry-after"] then busy_with_retry_after = busy_with_retry_after + 1 end
  else other = other + 1 end
end
function done(summary, latency, requests)
  local t = {ok = 0, busy = 0, busy_with_retry_after = 0, other = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format('RESULT {"2xx": %d, "503": %d, "503 with Retry-After": %d, "other": %d}\n',
                         t.ok, t.busy, t.busy_with_retry_after, t.other))
end
"""

# The fallback load generator, in its own process so it does not hold the test's GIL.
THREADS_LOAD = r"""
import http.client, json, sys, threading, time
host, port, seconds, threads = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
counts = {"2xx": 0, "503": 0, "503 with Retry-After": 0, "other": 0, "errors": 0}
lock = threading.Lock()
deadline = time.monotonic() + seconds
def load():
    conn = None
    while time.monotonic() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("POST", "/orders", body=b'{"order": 1}', headers={"Content-Type": "application/json"})
            r = conn.getresponse(); r.read()
            key = "2xx" if 200 <= r.status < 300 else "503" if r.status == 503 else "other"
            with lock:
                counts[key] += 1
                if r.status == 503 and r.getheader("Retry-After"):
                    counts["503 with Retry-After"] += 1
            if r.will_close:
                conn.close(); conn = None
        except Exception:
            with lock:
                counts["errors"] += 1
            if conn is not None:
                conn.close()
            conn = None
ts = [threading.Thread(target=load) for _ in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
print("RESULT " + json.dumps(counts), flush=True)
"""


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class OverloadTest(BusTestCase):
    prefix = "sb-fault-overload-"

    def test_far_above_capacity_for_thirty_seconds(self):
        upstream = self.peer()
        upstream.respond = lambda request: (upstream.hang(PEER_DELAY), (200, "application/json", b'{"ok": true}'))[1]
        upstream.server.RequestHandlerClass.disable_nagle_algorithm = True
        upstream.server.handle_error = lambda request, client_address: None
        bus = self.start_bus("""
            routes:
              - id: orders
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /orders }} }}
                to:
                  - rest: {{ url: "{up}/orders" }}
                concurrency: 2
                queue: 4
            """, up=upstream.url)
        pid = bus.process.pid
        url = f"http://{HOST}:{self.port}/orders"
        rss_before = status_field(pid, "VmRSS")
        fds_before = len(os.listdir(f"/proc/{pid}/fd"))

        samples = []  # (rss KiB, open fds)
        probes = []   # (status, Retry-After) of a plain client during the load
        stop = threading.Event()

        def monitor():
            while not stop.is_set():
                try:
                    samples.append((status_field(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))))
                except OSError:
                    return  # the process is gone; asserted below
                stop.wait(0.25)

        def probe():
            while not stop.wait(0.5):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                try:
                    conn.request("POST", "/orders", body=b'{"probe": true}',
                                 headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    probes.append((response.status, response.getheader("Retry-After")))
                except Exception as e:
                    probes.append((repr(e), None))
                finally:
                    conn.close()

        watchers = [threading.Thread(target=monitor), threading.Thread(target=probe)]
        for watcher in watchers:
            watcher.start()
        wrk = shutil.which("wrk")
        try:
            if wrk:
                script = self.dir / "overload.lua"
                script.write_text(WRK_SCRIPT)
                command = [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "5s", "-s", str(script), url]
                generator = f"wrk -t2 -c{CONNECTIONS} -d{SECONDS}s"
            else:
                command = [sys.executable, "-c", THREADS_LOAD, HOST, str(self.port), str(SECONDS), "64"]
                generator = "64 Python threads (wrk not installed)"
            print(f"\noverload: {generator} against concurrency 2 + queue 4, peer answering after "
                  f"{PEER_DELAY * 1000:.0f} ms (capacity ~{2 / PEER_DELAY:.0f}/s); "
                  f"RSS before {rss_before / 1024:.1f} MiB, "
                  f"{fds_before} open fds", flush=True)
            load = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 60)
        finally:
            stop.set()
            for watcher in watchers:
                watcher.join(timeout=10)

        # Right after the load: a plain client is served 2xx within 1 s. The queue may still hold
        # requests of the load's closed connections for a moment, so a 503 may come first; the
        # client asks again every 50 ms until the second is over.
        load_stopped = time.monotonic()
        after = []  # (seconds since the load stopped, status)
        after_body = b""
        while True:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                conn.request("POST", "/orders", body=b'{"after": true}', headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                after_body = response.read()
                after.append((time.monotonic() - load_stopped, response.status))
            except Exception as e:
                after.append((time.monotonic() - load_stopped, repr(e)))
            finally:
                conn.close()
            if isinstance(after[-1][1], int) and 200 <= after[-1][1] < 300:
                break
            if time.monotonic() - load_stopped > 1.0:
                break
            time.sleep(0.05)

        self.assertEqual(load.returncode, 0, load.stderr)
        result_line = [line for line in load.stdout.splitlines() if line.startswith("RESULT ")]
        self.assertTrue(result_line, load.stdout + load.stderr)
        counts = json.loads(result_line[-1][len("RESULT "):])
        summary = [line.strip() for line in load.stdout.splitlines()
                   if any(k in line for k in ("Requests/sec", "Socket errors", "Non-2xx", "requests in"))]
        rss_max = max(s[0] for s in samples) if samples else 0
        fds_max = max(s[1] for s in samples) if samples else 0
        time.sleep(1)
        fds_after = len(os.listdir(f"/proc/{pid}/fd")) if bus.process.poll() is None else -1
        probe_statuses = {}
        for status, retry_after in probes:
            key = f"{status} Retry-After={retry_after}" if status == 503 else str(status)
            probe_statuses[key] = probe_statuses.get(key, 0) + 1
        print(f"overload: answers {counts}; {' | '.join(summary)}", flush=True)
        print(f"overload: a plain client every 0.5 s got {probe_statuses}", flush=True)
        print(f"overload: RSS max {rss_max / 1024:.1f} MiB over {len(samples)} samples (bound {RSS_BOUND_MIB} MiB); "
              f"open fds {fds_before} before, max {fds_max}, {fds_after} 1 s after", flush=True)
        print(f"overload: right after the load a plain client got {[status for _, status in after]}, the last "
              f"{after[-1][0] * 1000:.0f} ms after the load stopped (first answer in {after[0][0] * 1000:.0f} ms); "
              f"the peer saw {upstream.count()} requests in all", flush=True)

        self.assertIsNone(bus.process.poll(), f"the bus crashed:\n{bus.log_text()[-3000:]}")
        self.assertGreater(counts["503"], 0, "no caller was refused: the load did not exceed the capacity")
        self.assertEqual(counts["503 with Retry-After"], counts["503"], "a 503 without Retry-After")
        self.assertTrue(any(status == 503 and retry_after for status, retry_after in probes), probes)
        self.assertGreater(counts["2xx"], 0)
        self.assertLess(rss_max, RSS_BOUND_MIB * 1024)
        status, seconds = after[-1][1], after[-1][0]
        self.assertTrue(isinstance(status, int) and 200 <= status < 300, (after, after_body[:300]))
        self.assertLess(seconds, 1.0, after)


if __name__ == "__main__":
    unittest.main(verbosity=2)
