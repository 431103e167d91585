"""The shipped route files validate, and the quickstart, the SOAP bridge and the outbox do what
their READMEs say. The telemetry example is run in test_amqp.py, on that module's RabbitMQ node."""
import json
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import BIN, SOURCE_DIR, Bus, visible_files, wait_for
from peers import curl, free_port
from pgkit import PostgresServer, missing_binaries
from soapkit import CONTENT_TYPE, NodeSoapServer, node_env, parse_envelope, soap_client


class ExamplesTest(unittest.TestCase):
    def test_shipped_route_files_validate(self):
        targets = [SOURCE_DIR / "routes"] + sorted(p.parent for p in (SOURCE_DIR / "examples").glob("*/routes.yaml"))
        for target in targets:
            # From the example's directory, as its README runs it: files it names are relative to it.
            result = subprocess.run([BIN, "validate", str(target)], cwd=target, capture_output=True, text=True,
                                    timeout=30)
            self.assertEqual(result.returncode, 0, f"{target}: {result.stderr}")

    def test_a_wrong_expectation_fails_with_a_diff(self):
        """`switchboard test` on the quickstart with one right and one wrong case: exit 1, the
        wrong one shows expected and actual lines, and the summary counts both."""
        quickstart = SOURCE_DIR / "examples" / "quickstart"
        with tempfile.TemporaryDirectory(prefix="sb-cases-") as tmp:
            cases = Path(tmp) / "cases.yaml"
            cases.write_text(
                "cases:\n"
                "  - name: right\n"
                "    route: order-ledger\n"
                "    input: { body: { id: 7, amount: 99.5, source: a.json } }\n"
                "    expect: [ { endpoint: 0, body_json: { id: 7, amount: 99.5, source: a.json } } ]\n"
                "  - name: wrong amount\n"
                "    route: order-ledger\n"
                "    input: { body: { id: 7, amount: 99.5, source: a.json } }\n"
                "    expect: [ { endpoint: 0, body_json: { id: 7, amount: 100, source: a.json } } ]\n")
            result = subprocess.run([BIN, "test", "routes.yaml", "--cases", str(cases)], cwd=quickstart,
                                    capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("PASS  order-ledger: right", result.stdout)
        self.assertIn("FAIL  order-ledger: wrong amount", result.stdout)
        self.assertIn("to[0] body differs as JSON:", result.stdout)
        self.assertIn('-   "amount": 100,', result.stdout)
        self.assertIn('+   "amount": 99.5,', result.stdout)
        self.assertTrue(result.stdout.rstrip().endswith("1 passed, 1 failed"), result.stdout)

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
                wait_for(lambda: len(visible_files(work / "ledger")) == 3, 15, what="orders through orders.db")
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
            with sqlite3.connect(work / "orders.db") as db:
                rows = db.execute("SELECT id, amount, source, state FROM orders ORDER BY id").fetchall()
            self.assertEqual(rows, [(1, 120.0, "order-1.json", "in-ledger"), (2, 4800.0, "order-2.json", "in-ledger"),
                                    (3, 1200.0, "http-order-3.json", "in-ledger")])
            self.assertEqual(json.loads((work / "ledger" / "order-3.json").read_text()),
                             {"id": 3, "amount": 1200.0, "source": "http-order-3.json"})

    def test_soap_bridge(self):
        env = node_env()
        example = SOURCE_DIR / "examples" / "soap-bridge"
        with tempfile.TemporaryDirectory(prefix="sb-soap-bridge-") as tmp:
            work = Path(tmp)
            for name in ("routes.yaml", "orders.wsdl", "get-order-response.xml"):
                shutil.copy(example / name, work)
            server = NodeSoapServer(work, env).start()
            rest_port, soap_port = free_port(), free_port()
            try:
                ports = {"SOAP_BRIDGE_PORT": str(rest_port), "SOAP_BRIDGE_SOAP_PORT": str(soap_port),
                         "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
                # (a) against node-soap's server
                with Bus(work / "routes.yaml", work, plugins=[], env=dict(ports, ORDERS_SOAP_URL=server.url)) as bus:
                    bus.start()
                    answer = curl(f"http://127.0.0.1:{rest_port}/orders/42")
                    self.assertEqual(answer.status, 200, answer)
                    self.assertEqual(answer.header("Content-Type"), "application/json")
                    self.assertEqual(answer.json(), {"id": 42, "status": "open", "total": 304.5})
                    self.assertEqual([(c["operation"], c["args"]) for c in server.calls()], [("GetOrder", {"id": "42"})])
                    faulted = curl(f"http://127.0.0.1:{rest_port}/orders/A-1")
                    self.assertEqual(faulted.status, 502, faulted)
                    self.assertIn("no such order: A-1", faulted.json()["error"])
                    self.assertEqual(len(server.calls()), 2, "a Client fault is not retried")
                    self.assertEqual(bus.stop()[0], 0)

                # (b) with node-soap's client through the served WSDL, and (a) calling (b)
                with Bus(work / "routes.yaml", work, plugins=[],
                         env=dict(ports, ORDERS_SOAP_URL=f"http://127.0.0.1:{soap_port}/orders")) as bus:
                    bus.start()
                    code, printed, stderr = soap_client(env, f"http://127.0.0.1:{soap_port}/orders?wsdl", "GetOrder",
                                                        {"id": "7"})
                    self.assertEqual(code, 0, stderr)
                    self.assertEqual(printed["result"], {"id": "7", "status": "received", "total": 0})
                    self.assertEqual(printed["content_type"], CONTENT_TYPE["1.1"])
                    code, printed, stderr = soap_client(env, f"http://127.0.0.1:{soap_port}/orders?wsdl", "GetOrder",
                                                        {"id": "8"}, port="OrdersSoap12")
                    self.assertEqual(code, 0, stderr)
                    self.assertEqual(parse_envelope(printed["response"])[0], "1.2")
                    answer = curl(f"http://127.0.0.1:{rest_port}/orders/9")
                    self.assertEqual(answer.status, 200, answer)
                    self.assertEqual(answer.json(), {"id": 9, "status": "received", "total": 0})
                    self.assertEqual(bus.stop()[0], 0)
            finally:
                server.stop()
            answered = sorted(p.name for p in visible_files(work / "answered") if p.name.endswith(".xml"))
            self.assertEqual([name.split("-")[0] for name in answered], ["7", "8", "9"])
            meta = json.loads((work / "answered" / (answered[0] + ".meta.json")).read_text())
            self.assertEqual(meta["headers"]["soap.operation"], "GetOrder")
            self.assertEqual(meta["headers"]["X-Service"], "orders")

    def test_outbox(self):
        reason = missing_binaries()
        if reason:
            self.skipTest(reason)
        example = SOURCE_DIR / "examples" / "outbox"
        with tempfile.TemporaryDirectory(prefix="sb-outbox-") as tmp, PostgresServer() as pg:
            work = Path(tmp)
            shutil.copy(example / "routes.yaml", work)
            pg.psql((example / "schema.sql").read_text())
            pg.psql("INSERT INTO outbox(topic, payload) VALUES ('order.created', '{\"order\": 42}'), "
                    "('order.paid', '{\"order\": 42, \"amount\": 9.5}')")
            port = free_port()
            env = {"OUTBOX_DB_URL": pg.url, "AUDIT_PORT": str(port), "EVENTS_URL": f"http://127.0.0.1:{port}/events",
                   "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
            with Bus(work / "routes.yaml", work, plugins=[], env=env) as bus:
                bus.start()
                wait_for(lambda: pg.psql("SELECT count(*) FROM outbox WHERE sent_at IS NULL").strip() == "0", 15,
                         what="outbox events marked sent")
                manual = curl(f"http://127.0.0.1:{port}/events/manual", data='{"id": 99, "data": {"x": 1}}',
                              headers=["Content-Type: application/json"])
                self.assertEqual(manual.status, 200, manual)
                self.assertEqual(manual.json(), [{"event_id": 99, "topic": "manual"}])
                again = curl(f"http://127.0.0.1:{port}/events/manual", data='{"id": 99, "data": {"x": 2}}',
                             headers=["Content-Type: application/json"])
                self.assertEqual((again.status, again.json()), (200, []), "a duplicate is ignored")
                self.assertEqual(bus.stop()[0], 0)
            with sqlite3.connect(work / "audit.db") as db:
                rows = db.execute("SELECT event_id, topic, body FROM audit ORDER BY event_id").fetchall()
            self.assertEqual([(r[0], r[1], json.loads(r[2])) for r in rows],
                             [(1, "order.created", {"order": 42}), (2, "order.paid", {"order": 42, "amount": 9.5}),
                              (99, "manual", {"x": 1})])
            self.assertFalse(visible_files(work / "dead"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
