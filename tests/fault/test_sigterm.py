"""SIGTERM with 1,000 messages in flight.

1,000 JSON files, file inbound -> rest outbound to a peer answering after ~50 ms, concurrency 8
and the default queue (1024), so every file is claimed and in flight at once; the route can
finish ~160/s. SIGTERM comes as soon as the poller has claimed every file (~750 of them still in
flight, the rest delivered). The bus must stop intake, finish what it
can within --drain-timeout (3 s here, not enough for all) and exit 0 within that timeout
(contract §1, §6). Each file is then either delivered (the peer saw it and it left the inbox)
or unacknowledged (still in the inbox or claimed under .processing). A second start recovers
the rest: all 1,000 end up at the peer, none lost."""
import json
import os
import signal
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import Bus, visible_files, wait_for  # noqa: E402
from peers import NO_PROXY, BusTestCase  # noqa: E402

TOTAL = 1000
DRAIN_SECONDS = 3
EXIT_SLACK = 1.5  # start-up of the signal handling and process teardown
PEER_DELAY = 0.05


class SigtermTest(BusTestCase):
    prefix = "sb-fault-term-"

    def claimed(self):
        processing = self.inbox / ".processing"
        if not processing.exists():
            return []
        return [p for p in processing.rglob("*") if p.is_file() and p.suffix != ".lock"]

    def ids_in(self, paths):
        return {Path(p).stem for p in paths}

    def test_sigterm_while_busy_loses_nothing(self):
        upstream = self.peer()
        upstream.respond = lambda request: (upstream.hang(PEER_DELAY), (200, "application/json", b'{"ok": true}'))[1]
        upstream.server.RequestHandlerClass.disable_nagle_algorithm = True
        upstream.server.handle_error = lambda request, client_address: None
        self.inbox = self.dir / "inbox"
        self.inbox.mkdir()
        ids = {f"t{i:04d}" for i in range(TOTAL)}
        for key in sorted(ids):
            (self.inbox / f".{key}.part").write_text(json.dumps({"id": key}))
            os.rename(self.inbox / f".{key}.part", self.inbox / f"{key}.json")
        routes = self.dir / "routes.yaml"
        routes.write_text(f"""
routes:
  - id: relay
    from: {{ file: {{ dir: ./inbox, pattern: "*.json", poll: 50ms }} }}
    to:
      - rest: {{ url: "{upstream.url}/ingest" }}
    concurrency: 8
""")

        def seen():
            return {json.loads(r.body)["id"] for r in upstream.recorded()}

        first = Bus(routes, self.dir, args=["--drain-timeout", f"{DRAIN_SECONDS}s"], env=NO_PROXY)
        second = Bus(routes, self.dir, args=["--drain-timeout", f"{DRAIN_SECONDS}s"], env=NO_PROXY)
        try:
            first.start()
            # Busy: every file taken from the inbox, most of them still in flight.
            wait_for(lambda: not visible_files(self.inbox), 30, interval=0.01, what="every file claimed")
            in_flight = len(self.claimed())
            at_signal = upstream.count()
            code, seconds = first.stop(signal.SIGTERM, timeout=DRAIN_SECONDS + 20)
            during_drain = upstream.count() - at_signal
            reported = [line["msg"] for line in first.find("drain timeout")]
            print(f"\nsigterm: SIGTERM after {at_signal} delivered with {in_flight} files claimed (in flight); exit "
                  f"code {code} after {seconds:.2f}s (drain timeout {DRAIN_SECONDS}s); {during_drain} delivered during "
                  f"the drain; log: {reported or 'drained completely'}", flush=True)
            self.assertEqual(code, 0, first.log_text()[-3000:])
            self.assertLessEqual(seconds, DRAIN_SECONDS + EXIT_SLACK)
            self.assertGreater(during_drain, 0, "messages in flight were not finished during the drain")

            delivered = seen()
            waiting = self.ids_in(visible_files(self.inbox))
            claimed = self.ids_in(self.claimed())
            gone = ids - waiting - claimed  # acknowledged: deleted from the inbox
            print(f"sigterm: after the first run: {len(delivered)} ids at the peer, {len(gone)} acknowledged, "
                  f"{len(claimed)} left claimed (unacknowledged), {len(waiting)} untouched in the inbox; "
                  f"{len(delivered & (claimed | waiting))} delivered but not yet acknowledged", flush=True)
            self.assertEqual(gone - delivered, set(), "acknowledged without reaching the peer: lost")
            self.assertEqual(ids - (delivered | waiting | claimed), set())

            second.start()
            wait_for(lambda: not visible_files(self.inbox) and not self.claimed(), 60, interval=0.2,
                     what="inbox and .processing empty after the restart")
            recovered = len(second.find("recovered a file claimed by a stopped instance"))
            code, _ = second.stop(signal.SIGTERM, timeout=DRAIN_SECONDS + 20)
            self.assertEqual(code, 0, second.log_text()[-3000:])
        finally:
            first.__exit__()
            second.__exit__()

        final = seen()
        posts = upstream.count()
        print(f"sigterm: after the restart ({recovered} claimed files recovered): {len(final)} of {TOTAL} ids at the "
              f"peer, {posts} posts ({posts - len(final)} duplicates)", flush=True)
        self.assertEqual(recovered, len(claimed))
        self.assertEqual(ids - final, set(), "lost")
        self.assertEqual(final, ids)


if __name__ == "__main__":
    unittest.main(verbosity=2)
