"""A plugin call that never returns does not hold a worker forever: once its message is a
second past the route's `timeout`, the call is abandoned and counted, the message fails (the
file goes to .failed/: the call might still succeed, so it is not dead-lettered), the worker
is replaced, and the other messages keep flowing at full concurrency. The bus still stops
on SIGTERM."""
import re
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from harness import visible_files, wait_for  # noqa: E402
from peers import BusTestCase  # noqa: E402

ROUTES = """
    routes:
      - id: stuck
        from: {{ file: {{ dir: in, poll: 50ms }} }}
        to:
          - hang: {{ marker: HANG, seconds: 600 }}
          - file: {{ dir: out }}
        concurrency: 4
        timeout: 2s
"""
NORMAL = 40
HANGING = 3  # per wave: one of the four workers stays free


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in:\n{text}")


class StuckCallTest(BusTestCase):
    def test_a_call_that_never_returns_is_abandoned_and_the_route_goes_on(self):
        inbox, out, failed = self.dir / "in", self.dir / "out", self.dir / "in" / ".failed"
        inbox.mkdir()
        bus = self.start_bus(ROUTES)
        # Two waves: three calls hang, the free worker carries the other messages meanwhile.
        # The second wave only finds three workers for its hanging calls if the first wave's
        # stuck workers were replaced; else the route would stop for the 600 s of the calls.
        for wave in range(2):
            for i in range(HANGING):
                (inbox / f"hang-{wave}-{i}.txt").write_text("HANG")
            time.sleep(0.3)  # the hanging files are claimed first
            began = time.monotonic()
            for i in range(NORMAL):
                (inbox / f"ok-{wave}-{i}.txt").write_text(f"message {i}")
            wait_for(lambda: len(visible_files(out)) == NORMAL * (wave + 1), 15,
                     what=f"wave {wave}: every normal file delivered")
            self.assertLess(time.monotonic() - began, 10, "normal messages waited for the stuck calls")
            wait_for(lambda: len(visible_files(failed)) == HANGING * (wave + 1), 15,
                     what=f"wave {wave}: the hanging files failed")
        self.assertEqual(sorted(str(name) for name in visible_files(failed)),
                         sorted(f"hang-{wave}-{i}.txt" for wave in range(2) for i in range(HANGING)))
        hangs = 2 * HANGING
        status, text = bus.admin("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(metric(text, "switchboard_abandoned_calls_total", route="stuck", endpoint="to[0]"), hangs)
        self.assertEqual(metric(text, "switchboard_errors_total", route="stuck", endpoint="to[0]", kind="timeout"),
                         hangs)
        self.assertEqual(metric(text, "switchboard_messages_total", route="stuck", endpoint="from",
                                outcome="failed"), hangs)
        self.assertEqual(metric(text, "switchboard_messages_total", route="stuck", endpoint="from",
                                outcome="delivered"), 2 * NORMAL)
        abandoned = bus.find("was abandoned and the message failed")
        self.assertEqual(len(abandoned), hangs)
        self.assertTrue(all(re.fullmatch(r"[0-9a-f-]{36}", line.get("message", "")) for line in abandoned))

        code, seconds = bus.stop(timeout=30)
        self.assertEqual(code, 0)
        self.assertLess(seconds, 12, "SIGTERM waited for the abandoned calls")


if __name__ == "__main__":
    unittest.main(verbosity=2)
