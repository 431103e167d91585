"""The shipped route files validate, and the quickstart does what its README says."""
import json
import shutil
import socket
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import BIN, SOURCE_DIR, Bus, visible_files, wait_for


class ExamplesTest(unittest.TestCase):
    def test_shipped_route_files_validate(self):
        targets = [SOURCE_DIR / "routes"] + sorted(p.parent for p in (SOURCE_DIR / "examples").glob("*/routes.yaml"))
        for target in targets:
            result = subprocess.run([BIN, "validate", str(target)], capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 0, f"{target}: {result.stderr}")

    def test_quickstart(self):
        with tempfile.TemporaryDirectory(prefix="sb-quickstart-") as tmp:
            work = Path(tmp)
            shutil.copy(SOURCE_DIR / "examples" / "quickstart" / "routes.yaml", work)
            (work / "inbox").mkdir()
            for sample in (SOURCE_DIR / "examples" / "quickstart" / "sample").glob("*.json"):
                shutil.copy(sample, work / "inbox")
            (work / "inbox" / "broken.json").write_text("not json")
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            with Bus(work / "routes.yaml", work, plugins=[], env={"QUICKSTART_PORT": str(port)}) as bus:
                bus.start()
                posted = subprocess.run(["curl", "-s", "-w", " %{http_code}", "-X", "POST",
                                         "-H", "Content-Type: application/json",
                                         "-d", '{"order": {"id": 3, "amount": 1200}}',
                                         f"http://127.0.0.1:{port}/orders/3"], capture_output=True, text=True,
                                        timeout=30)
                self.assertTrue(posted.stdout.endswith(" 202"), posted.stdout)
                self.assertIn('"id"', posted.stdout)
                wait_for(lambda: len(visible_files(work / "archive")) == 4, 15, what="all inputs acknowledged")
                wait_for(lambda: visible_files(work / "dead"), 5, what="dead letter")
                self.assertEqual(bus.stop()[0], 0)
                self.assertTrue(bus.find("order 2 from order-2.json"))
                self.assertTrue(bus.find("switchboard alive at"))
            self.assertTrue((work / "outbox" / "order-1.json").exists())
            meta = json.loads((work / "outbox" / "order-2.json.meta.json").read_text())
            self.assertEqual(meta["headers"]["X-Source-File"], "order-2.json")
            self.assertIn("X-Received-At", meta["headers"])
            self.assertEqual(sorted(p.name for p in visible_files(work / "outbox" / "big")),
                             ["http-order-3.json", "order-2.json"])
            dead = [p for p in visible_files(work / "dead") if p.suffix == ".json" and p.name.endswith(".meta.json")]
            self.assertEqual(len(dead), 1)
            headers = json.loads((work / "dead" / dead[0]).read_text())["headers"]
            self.assertEqual(headers["file.name"], "broken.json")
            self.assertIn("not valid JSON", headers["error.message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
