"""file -> file routes end to end: at-least-once across kill -9, drain on SIGTERM,
retries, dead letters, and faults that stay inside one message."""
import hashlib
import json
import os
import signal
import tempfile
import textwrap
import threading
import time
import unittest
from collections import Counter
from pathlib import Path

from harness import Bus, visible_files, wait_for


def drop(inbox, name, data):
    """Writes a file the way a careful producer does: under a dot name, then renamed."""
    temporary = inbox / f".{name}.part"
    temporary.write_bytes(data)
    os.rename(temporary, inbox / name)


def payload(i):
    # Distinct sizes and contents, some over a page, so a partial copy cannot pass.
    return (f"file {i}\n".encode() + hashlib.sha256(str(i).encode()).hexdigest().encode() * (1 + i % 40))


class FileRouteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sb-file-")
        self.dir = Path(self.tmp.name)
        self.inbox = self.dir / "inbox"
        self.outbox = self.dir / "outbox"
        self.inbox.mkdir()

    def tearDown(self):
        self.tmp.cleanup()

    def write_routes(self, text):
        path = self.dir / "routes.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def test_ten_thousand_files_survive_kill_9(self):
        routes = self.write_routes("""
            routes:
              - id: copy
                from: { file: { dir: ./inbox, poll: 50ms } }
                to:
                  - file: { dir: ./outbox, name: "${header.file.name}--${message.id}" }
                concurrency: 4
                queue: 64
            """)
        total = 10_000
        sources = {f"f{i:05d}.dat": payload(i) for i in range(total)}
        names = sorted(sources)
        dropper = threading.Thread(target=lambda: [drop(self.inbox, n, sources[n]) for n in names])
        bus = Bus(routes, self.dir).start()
        try:
            dropper.start()
            # Kill while files are moving: after some arrived, while more are claimed and waiting.
            processing = self.inbox / ".processing"
            wait_for(lambda: len(visible_files(self.outbox)) >= 2000, 120, interval=0.01, what="2000 delivered")
            wait_for(lambda: next(processing.rglob("*.dat"), None), 60, interval=0.001, what="a file in flight")
            bus.kill9()
            delivered_before_kill = len(visible_files(self.outbox))
            claimed_at_kill = [p for p in (self.inbox / ".processing").rglob("*.dat")]
            waiting_at_kill = len(visible_files(self.inbox))
            self.assertLess(delivered_before_kill, total)
            self.assertGreater(len(claimed_at_kill) + waiting_at_kill, 0, "the kill came after the run, not during it")
            bus = Bus(routes, self.dir).start()
            dropper.join()
            wait_for(lambda: len({p.name.split("--")[0] for p in visible_files(self.outbox)}) == total, 300,
                     interval=0.5, what="all files delivered")
            wait_for(lambda: not visible_files(self.inbox), 60, what="inbox drained")
            if claimed_at_kill:
                self.assertTrue(bus.find("recovered a file claimed by a stopped instance"))
            code, _ = bus.stop()
            self.assertEqual(code, 0)
        finally:
            bus.__exit__()
            dropper.join()

        copies = Counter()
        for path in visible_files(self.outbox):
            original = path.name.split("--")[0]
            copies[original] += 1
            self.assertEqual((self.outbox / path).read_bytes(), sources[original], f"{path} differs from its source")
        self.assertEqual(set(copies), set(sources))
        duplicated = [name for name, count in copies.items() if count > 1]
        # Only files in flight at the kill may arrive twice: at most queue + concurrency.
        self.assertLessEqual(len(duplicated), 64 + 4, duplicated[:10])
        leftovers = [p for p in (self.outbox).iterdir() if p.name.startswith(".")]
        self.assertEqual([p for p in leftovers if not p.name.endswith(".tmp")], [])
        processing = self.inbox / ".processing"
        self.assertEqual([p for p in processing.rglob("*") if p.is_file() and p.suffix != ".lock"], [])
        print(f"\n10000 files: {delivered_before_kill} delivered before kill -9, {len(claimed_at_kill)} in flight "
              f"and {waiting_at_kill} waiting at the kill, {len(duplicated)} delivered twice")

    def test_sigterm_drains_and_loses_nothing(self):
        routes = self.write_routes("""
            routes:
              - id: copy
                from: { file: { dir: ./inbox, poll: 50ms } }
                to:
                  - file: { dir: ./outbox, name: "${header.file.name}" }
                concurrency: 2
                queue: 32
            """)
        sources = {f"s{i:04d}.dat": payload(i) for i in range(3000)}
        for name, data in sources.items():
            drop(self.inbox, name, data)
        with Bus(routes, self.dir, args=["--drain-timeout", "5s"]) as bus:
            bus.start()
            wait_for(lambda: len(visible_files(self.outbox)) >= 200, 60, what="200 files delivered")
            code, seconds = bus.stop(signal.SIGTERM)
            self.assertEqual(code, 0)
            self.assertLess(seconds, 5 + 2)
            self.assertTrue(bus.find("stopped"))
        self.assertLess(len(visible_files(self.outbox)), len(sources), "stopped before the end, as intended")
        with Bus(routes, self.dir) as bus:
            bus.start()
            wait_for(lambda: len(visible_files(self.outbox)) == len(sources), 120, interval=0.2, what="all delivered")
            self.assertEqual(bus.stop()[0], 0)
        for name, data in sources.items():
            self.assertEqual((self.outbox / name).read_bytes(), data)
        self.assertEqual(visible_files(self.inbox), [])

    def test_retry_then_success_and_dead_letter(self):
        state = self.dir / "state"
        state.mkdir()
        routes = self.write_routes(f"""
            routes:
              - id: flaky-then-ok
                from: {{ file: {{ dir: ./inbox, pattern: "ok-*", poll: 50ms }} }}
                to:
                  - flaky: {{ fail_times: 2, state_dir: {state} }}
                  - file: {{ dir: ./outbox }}
                on_error:
                  retry: {{ attempts: 3, delay: 50ms }}
              - id: always-fails
                from: {{ file: {{ dir: ./inbox, pattern: "bad-*", poll: 50ms }} }}
                to:
                  - flaky: {{ fail_times: 1000 }}
                on_error:
                  retry: {{ attempts: 3, delay: 700ms, backoff: 1.0 }}
                  dead_letter:
                    file: {{ dir: ./dead, meta: true }}
            """)
        with Bus(routes, self.dir) as bus:
            bus.start()
            drop(self.inbox, "ok-1.txt", b"hello")
            drop(self.inbox, "bad-1.txt", b"doomed")
            # While retries are pending, the failing file is claimed, not acknowledged.
            time.sleep(0.5)
            claimed = [p.name for p in (self.inbox / ".processing").rglob("bad-1.txt")]
            self.assertEqual(claimed, ["bad-1.txt"])
            wait_for(lambda: visible_files(self.dir / "dead"), 20, what="dead letter")
            wait_for(lambda: not list((self.inbox / ".processing").rglob("bad-1.txt")), 10, what="acknowledged")
            wait_for(lambda: visible_files(self.outbox), 10, what="ok file delivered")
            delivered = visible_files(self.outbox)
            self.assertEqual((self.outbox / delivered[0]).read_bytes(), b"hello")
            attempts = (state / "attempts.log").read_text().split()
            self.assertEqual(attempts[1::2], ["1", "2", "3"])
            self.assertTrue(bus.find("delivered after 3 attempts"))
            self.assertEqual(bus.stop()[0], 0)

        dead = [p for p in visible_files(self.dir / "dead") if not p.name.endswith(".meta.json")]
        self.assertEqual(len(dead), 1)
        self.assertEqual((self.dir / "dead" / dead[0]).read_bytes(), b"doomed")
        meta = json.loads((self.dir / "dead" / f"{dead[0]}.meta.json").read_text())
        self.assertEqual(meta["headers"]["error.attempts"], "3")
        self.assertEqual(meta["headers"]["error.route"], "always-fails")
        self.assertEqual(meta["headers"]["error.endpoint"], "flaky")
        self.assertIn("attempt 3 fails", meta["headers"]["error.message"])
        self.assertEqual(meta["headers"]["file.name"], "bad-1.txt")
        self.assertEqual(visible_files(self.inbox), [])
        self.assertFalse((self.inbox / ".failed").exists())

    def test_failing_dead_letter_leaves_the_file_unacknowledged(self):
        routes = self.write_routes("""
            routes:
              - id: nowhere-to-go
                from: { file: { dir: ./inbox, poll: 50ms } }
                to:
                  - flaky: { fail_times: 1000 }
                on_error:
                  dead_letter:
                    flaky: { fail_times: 1000 }
            """)
        with Bus(routes, self.dir) as bus:
            bus.start()
            drop(self.inbox, "x.txt", b"keep me")
            wait_for(lambda: (self.inbox / ".failed" / "x.txt").exists(), 10, what="file parked in .failed")
            self.assertTrue(bus.find("dead letter endpoint failed"))
            self.assertEqual(bus.stop()[0], 0)
        self.assertEqual((self.inbox / ".failed" / "x.txt").read_bytes(), b"keep me")

    def test_a_throwing_plugin_fails_one_message_only(self):
        routes = self.write_routes("""
            routes:
              - id: explosive
                from: { file: { dir: ./inbox, poll: 50ms } }
                to:
                  - explode: { marker: BOOM }
                  - file: { dir: ./outbox, name: "${header.file.name}" }
              - id: ticking
                from: { timer: { period: 100ms } }
                to:
                  - file: { dir: ./ticks }
            """)
        with Bus(routes, self.dir) as bus:
            bus.start()
            drop(self.inbox, "a.txt", b"fine")
            drop(self.inbox, "b.txt", b"this one goes BOOM")
            drop(self.inbox, "c.txt", b"also fine")
            wait_for(lambda: len(visible_files(self.outbox)) == 2, 10, what="two good files")
            wait_for(lambda: (self.inbox / ".failed" / "b.txt").exists(), 10, what="bad file failed")
            ticks = len(visible_files(self.dir / "ticks"))
            drop(self.inbox, "d.txt", b"after the explosion")
            wait_for(lambda: (self.outbox / "d.txt").exists(), 10, what="route still running")
            wait_for(lambda: len(visible_files(self.dir / "ticks")) > ticks + 2, 10, what="other route running")
            self.assertTrue(any("explode: marker found" in line.get("msg", "") for line in bus.log_lines()))
            self.assertEqual(bus.stop()[0], 0)
        self.assertEqual(sorted(p.name for p in visible_files(self.outbox)), ["a.txt", "c.txt", "d.txt"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
