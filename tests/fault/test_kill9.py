"""kill -9 loop: file inbound -> rest outbound -> file outbound, killed at random moments.

20,000 small JSON files (each with a unique id) go through one route
`file -> to: [rest, file]`; the bus is killed with SIGKILL at 5 seeded random moments and
started again each time. At the end nothing is lost (every id reached the HTTP peer and the
output directory), no output file is partial, and duplicates stay within what can be in
flight at a kill (contract §6: at-least-once, file outbound writes via temp + rename).

With `idempotent`, the same loop runs end to end without any duplicate: the killed bus posts
to a second Switchboard (the receiver, never killed) with an Idempotency-Key header; the
receiver's route is idempotent on that key, so a repeated post gets the first answer again
without reaching the peer, and the sender's output files are named from the answer's id.

Set FAULT_SEED to replay a run's kill marks and delays; FAULT_KILL9_FILES to change the file count."""
import json
import os
import random
import sys
import time
import unittest
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import Bus, visible_files, wait_for  # noqa: E402
from peers import NO_PROXY, BusTestCase  # noqa: E402

TOTAL = int(os.environ.get("FAULT_KILL9_FILES", "20000"))
KILLS = 5
CONCURRENCY = 4
QUEUE = 32
MARGIN = 4  # the one file claimed while the route waits for room, and some slack


def quiet_and_quick(peer):
    """HttpPeer writes headers and body in two sends: without TCP_NODELAY each answer waits
    for the bus's delayed ACK (~40 ms), which caps a run at ~100 messages/s. Connections the
    killed bus dropped are not worth a traceback either."""
    peer.server.RequestHandlerClass.disable_nagle_algorithm = True
    peer.server.handle_error = lambda request, client_address: None
    return peer


def body_for(i):
    return json.dumps({"id": f"k{i:05d}", "seq": i, "note": "kill -9 loop"}, separators=(",", ":")).encode()


class Kill9LoopTest(BusTestCase):
    prefix = "sb-fault-kill9-"

    def claimed_files(self):
        processing = self.inbox / ".processing"
        if not processing.exists():
            return []
        return [p for p in processing.rglob("*") if p.is_file() and p.suffix != ".lock"]

    def new_bus(self):
        return Bus(self.routes, self.dir, args=["--drain-timeout", "5s"], env=NO_PROXY)

    def test_kill9_loop_loses_nothing(self):
        extra_peer, extra_out, claimed = self.kill_loop(idempotent=False)
        bound = KILLS * (CONCURRENCY + QUEUE + MARGIN)
        self.assertLessEqual(extra_peer, bound)
        self.assertLessEqual(extra_out, bound)
        # Tighter: only a file still claimed when its instance died can be delivered again.
        self.assertLessEqual(extra_peer, claimed)
        self.assertLessEqual(extra_out, claimed)

    def test_kill9_loop_with_idempotent_receive(self):
        # The sender remembers per file which endpoint took it, so a file claimed again after a
        # kill skips the endpoints it already reached. A post in progress at a kill (the
        # receiver took it, the answer never arrived) is repeated; the receiver answers it from
        # its store. Output files are named from the item's id, so writing one again after a
        # kill between the write and its record replaces it with the same content.
        extra_peer, extra_out, _ = self.kill_loop(idempotent=True)
        self.assertEqual(extra_peer, 0)
        self.assertEqual(extra_out, 0)

    def kill_loop(self, idempotent):
        seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(2 ** 31))
        rng = random.Random(seed)
        # Each instance is killed at a random moment while work remains: once the peer has seen a
        # random number of posts (so the kills land inside the run on a slow or a fast machine),
        # plus a random delay.
        marks = sorted(rng.randrange(TOTAL // 20, TOTAL * 9 // 10) for _ in range(KILLS))
        delays = [round(rng.uniform(0.0, 0.25), 3) for _ in range(KILLS)]
        print(f"\nkill9: seed={seed} files={TOTAL} kill at peer posts >= {marks} plus delays (s) {delays}", flush=True)

        peer = self.peer(lambda request: (200, "application/json", request.body))  # echo: the body goes on to the file
        quiet_and_quick(peer)
        self.inbox = self.dir / "inbox"
        self.outbox = self.dir / "outbox"
        self.inbox.mkdir()
        target = f"{peer.url}/ingest"
        receiver = None
        if idempotent:
            # The receiving system: a Switchboard that relays each post to the peer once.
            receiver_dir = self.dir / "receiver"
            receiver_dir.mkdir()
            (receiver_dir / "routes.yaml").write_text(f"""
routes:
  - id: ingest
    from: {{ rest: {{ listen: "127.0.0.1:{self.port}", path: /ingest, methods: [POST] }} }}
    to:
      - rest: {{ url: "{peer.url}/ingest", timeout: 10s }}
    concurrency: 8
    idempotent: {{ key: "${{header.Idempotency-Key}}", store: ./seen.db }}
""")
            receiver = Bus(receiver_dir / "routes.yaml", receiver_dir, args=["--drain-timeout", "5s"], env=NO_PROXY)
            receiver.start()
            target = self.url("/ingest")
        self.routes = self.dir / "routes.yaml"
        self.routes.write_text(f"""
routes:
  - id: relay
    from: {{ file: {{ dir: ./inbox, pattern: "*.json", poll: 50ms }} }}
    to:
      - rest: {{ url: "{target}", timeout: 10s{', headers: { Idempotency-Key: "${header.file.name}" }' if idempotent else ''} }}
      - file: {{ dir: ./outbox, name: "{'${body.id}' if idempotent else '${message.id}'}.json" }}
    concurrency: {CONCURRENCY}
    queue: {QUEUE}
    on_error:
      retry: {{ attempts: 10, delay: 100ms, max_delay: 1s }}
""" + ("""    idempotent: { key: "${header.file.name}", store: ./seen.db }
""" if idempotent else ""))
        started = time.monotonic()
        sources = {}
        for i in range(TOTAL):
            data = body_for(i)
            sources[f"k{i:05d}"] = data
            temporary = self.inbox / f".k{i:05d}.part"
            temporary.write_bytes(data)
            os.rename(temporary, self.inbox / f"k{i:05d}.json")
        print(f"kill9: wrote {TOTAL} files in {time.monotonic() - started:.1f}s", flush=True)

        run_started = time.monotonic()
        buses = []
        claimed_at_kills = []
        try:
            for n, (mark, delay) in enumerate(zip(marks, delays), 1):
                bus = self.new_bus()
                buses.append(bus)
                bus.start()
                wait_for(lambda: peer.count() >= mark or bus.process.poll() is not None, 60, interval=0.005,
                         what=f"{mark} posts at the peer")
                time.sleep(delay)
                self.assertIsNone(bus.process.poll(), f"bus died before kill {n}:\n{bus.log_text()[-3000:]}")
                bus.kill9()
                claimed_at_kills.append(len(self.claimed_files()))
                print(f"kill9: kill {n} (mark {mark} + {delay}s): peer has {peer.count()} requests, "
                      f"outbox {len(visible_files(self.outbox))} files, inbox {len(visible_files(self.inbox))} "
                      f"waiting, {claimed_at_kills[-1]} claimed (in flight)", flush=True)
            bus = self.new_bus()
            buses.append(bus)
            bus.start()

            def drained():
                return not visible_files(self.inbox) and not self.claimed_files()

            wait_for(drained, 100, interval=0.25, what="inbox and .processing empty")
            run_seconds = time.monotonic() - run_started
            code, _ = bus.stop()
            self.assertEqual(code, 0, bus.log_text()[-3000:])
            recovered = sum(len(b.find("recovered a file claimed by a stopped instance")) for b in buses)
            if receiver:
                replayed = len(receiver.find("answered with its first reply"))
                in_progress = len(receiver.find("is in progress in another message"))
                code, _ = receiver.stop()
                self.assertEqual(code, 0, receiver.log_text()[-3000:])
                print(f"kill9 idempotent: the receiver answered {replayed} repeated posts from its store and "
                      f"refused {in_progress} while their first post was still in progress", flush=True)
        finally:
            for b in buses + ([receiver] if receiver else []):
                b.__exit__()

        # Everything reached the peer, at least once.
        at_peer = Counter(json.loads(r.body)["id"] for r in peer.recorded())
        self.assertEqual(set(sources) - set(at_peer), set(), "ids never posted to the peer")
        self.assertEqual(set(at_peer) - set(sources), set())

        # Everything reached the output directory, whole.
        in_outbox = Counter()
        for path in visible_files(self.outbox):
            data = (self.outbox / path).read_bytes()
            try:
                document = json.loads(data)
            except ValueError:
                self.fail(f"partial or corrupt output file {path}: {data[:200]!r}")
            self.assertEqual(data, sources[document["id"]], f"{path} differs from its source")
            in_outbox[document["id"]] += 1
        self.assertEqual(set(sources) - set(in_outbox), set(), "ids never written to the outbox")

        hidden = [p.name for p in self.outbox.iterdir() if p.name.startswith(".")]
        self.assertEqual([name for name in hidden if not name.endswith(".tmp")], [], "unexpected hidden files")

        extra_peer = sum(at_peer.values()) - len(at_peer)
        extra_out = sum(in_outbox.values()) - len(in_outbox)
        print(f"kill9{' idempotent' if idempotent else ''}: run {run_seconds:.1f}s over {KILLS + 1} starts; "
              f"{sum(claimed_at_kills)} files in flight at the kills, {recovered} recovered by the next starts; "
              f"peer saw {sum(at_peer.values())} posts for {len(at_peer)} ids ({extra_peer} duplicates, "
              f"{sum(1 for c in at_peer.values() if c > 1)} ids twice or more); outbox {sum(in_outbox.values())} "
              f"files for {len(in_outbox)} ids ({extra_out} duplicates); {len(hidden)} orphaned hidden temp files",
              flush=True)
        return extra_peer, extra_out, sum(claimed_at_kills)

if __name__ == "__main__":
    unittest.main(verbosity=2)
