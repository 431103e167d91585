"""The outbound peer goes away for 30 s in the middle of a 10,000-message run.

file inbound -> rest outbound, with on_error retry sized to outlast the outage and a file
dead letter endpoint. After ~2,000 messages the HTTP peer stops (its listening socket is
closed, so connects are refused, and its kept-alive connections are cut); 30 s later a new
peer listens on the same port. At the end every id was answered 200 by the peer or sits in
the dead letter directory: delivered ∪ dead == all ids (contract §6)."""
import http.server
import json
import os
import socket
import sys
import threading
import time
import unittest
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import visible_files, wait_for  # noqa: E402
from peers import HOST, BusTestCase, HttpPeer  # noqa: E402

TOTAL = int(os.environ.get("FAULT_PEER_DOWN_MESSAGES", "10000"))
DOWN_AFTER = 2000
OUTAGE = float(os.environ.get("FAULT_PEER_DOWN_SECONDS", "30"))


class Outage:
    """An HttpPeer that can go down (refusing connects, its open connections cut) and come
    back on the same port. Only answers it gave while up count as delivered."""

    def __init__(self, test):
        self.test = test
        self.lock = threading.Lock()
        self.delivered = Counter()  # id -> times answered 200
        self.up_flag = False
        self.port = None
        self.peer = None
        self.connections = []

    def respond(self, request):
        with self.lock:
            if not self.up_flag:
                raise ConnectionAbortedError("peer going down")  # closes the connection, no answer
            self.delivered[json.loads(request.body)["id"]] += 1
        return 200, "application/json", b'{"ok": true}'

    def up(self):
        peer = HttpPeer(self.respond)
        handler = peer.server.RequestHandlerClass
        handler.disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK
        if self.port is not None:  # come back where the bus expects us
            peer.server.server_close()
            peer.server = http.server.ThreadingHTTPServer((HOST, self.port), handler)
            peer.server.daemon_threads = True
            peer.port, peer.url = self.port, f"http://{HOST}:{self.port}"
            peer.thread = threading.Thread(target=peer.server.serve_forever, kwargs={"poll_interval": 0.05},
                                           daemon=True)
        server = peer.server
        server.handle_error = lambda request, client_address: None
        accept = server.get_request

        def tracked():
            connection, address = accept()
            with self.lock:
                self.connections.append(connection)
            return connection, address

        server.get_request = tracked
        self.port = peer.port
        self.peer = peer
        self.test.peers.append(peer)
        with self.lock:
            self.up_flag = True
        peer.start()
        return peer

    def down(self):
        with self.lock:
            self.up_flag = False
        self.peer.stop()  # the listening socket is closed: connects are refused
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:  # kept-alive connections die too
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def count(self):
        with self.lock:
            return len(self.delivered)


class PeerDownTest(BusTestCase):
    prefix = "sb-fault-down-"

    def test_thirty_second_outage_loses_nothing(self):
        inbox = self.dir / "inbox"
        inbox.mkdir()
        sources = {}
        for i in range(TOTAL):
            key = f"d{i:05d}"
            sources[key] = json.dumps({"id": key, "seq": i}).encode()
            (inbox / f".{key}.part").write_bytes(sources[key])
            os.rename(inbox / f".{key}.part", inbox / f"{key}.json")

        outage = Outage(self)
        peer = outage.up()
        started = time.monotonic()
        bus = self.start_bus("""
            routes:
              - id: relay
                from: {{ file: {{ dir: ./inbox, pattern: "*.json", poll: 50ms }} }}
                to:
                  - rest: {{ url: "{up}/ingest", timeout: 5s, connect_timeout: 1s }}
                concurrency: 4
                queue: 32
                timeout: 3m
                on_error:
                  retry: {{ attempts: 40, delay: 200ms, backoff: 2.0, max_delay: 2s }}
                  dead_letter:
                    file: {{ dir: ./dead, meta: true }}
            """, up=peer.url)

        wait_for(lambda: outage.count() >= DOWN_AFTER, 60, interval=0.01, what=f"{DOWN_AFTER} delivered")
        outage.down()
        down_at = time.monotonic()
        delivered_before = outage.count()
        print(f"\npeer-down: peer stopped after {delivered_before} delivered ({down_at - started:.1f}s into the run); "
              f"down for {OUTAGE:.0f}s", flush=True)
        time.sleep(OUTAGE)
        self.assertIsNone(bus.process.poll(), "the bus died during the outage")
        in_flight = [p for p in (inbox / ".processing").rglob("*.json")]
        retries_during = len(bus.find("failed, retrying"))
        outage.up()
        back_at = time.monotonic()
        print(f"peer-down: peer back on port {outage.port}; during the outage {retries_during} retries logged, "
              f"{len(in_flight)} files claimed and waiting, {len(visible_files(inbox))} untouched", flush=True)

        def finished():
            claimed = [p for p in (inbox / ".processing").rglob("*") if p.is_file() and p.suffix != ".lock"]
            return not visible_files(inbox) and not claimed

        wait_for(finished, 90, interval=0.2, what="inbox and .processing empty")
        recovered_seconds = time.monotonic() - back_at
        retry_lines = bus.find("failed, retrying")
        attempts = [int(line["msg"].split()[2]) for line in bus.find("delivered after ")]
        print(f"peer-down: first retry logged: {retry_lines[0]['msg'] if retry_lines else None!r}; "
              f"{len(attempts)} messages delivered after a retry, the most attempts {max(attempts, default=0)}",
              flush=True)
        code, _ = bus.stop()
        self.assertEqual(code, 0, bus.log_text()[-3000:])

        dead = Counter()
        dead_dir = self.dir / "dead"
        for path in visible_files(dead_dir):
            if path.name.endswith(".meta.json"):
                continue
            dead[json.loads((dead_dir / path).read_bytes())["id"]] += 1
        delivered = set(outage.delivered)
        failed = inbox / ".failed"
        failed_dir = [p.name for p in failed.rglob("*") if p.is_file()] if failed.exists() else []
        duplicates = sum(outage.delivered.values()) - len(delivered)
        delivered_after = len(delivered) - delivered_before
        print(f"peer-down: all {TOTAL}: {len(delivered)} delivered ({delivered_before} before, {delivered_after} after "
              f"the outage; {duplicates} delivered twice), {len(dead)} dead-lettered, "
              f"{len(delivered & set(dead))} both, {len(failed_dir)} in .failed; |delivered ∪ dead| = "
              f"{len(delivered | set(dead))}; the rest took {recovered_seconds:.1f}s after the peer came back; "
              f"run {time.monotonic() - started:.1f}s", flush=True)
        self.assertEqual(set(sources) - (delivered | set(dead)), set(), "ids neither delivered nor dead-lettered")
        self.assertEqual((delivered | set(dead)) - set(sources), set())
        self.assertEqual(len(delivered | set(dead)), TOTAL)
        self.assertEqual(failed_dir, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
