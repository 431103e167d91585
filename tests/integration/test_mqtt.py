"""The mqtt adapter end to end: the real binary against a real Mosquitto 2.0 broker (brokerkit),
one per test (it starts in a few milliseconds, and every test gets fresh sessions). Covers QoS 1
intake into files, rest -> mqtt with the retain flag and a payload template, redelivery of a
message whose route failed, a broker restart in the middle of a stream of QoS 1 messages, a
shared subscription split between two buses, mqtts (with and without a trusted CA, mutual TLS)
and logins with a password file."""
import json
import socket
import tempfile
import threading
import time
import unittest
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from brokerkit import (BIN, SCALE, BrokerTestCase, MosquittoServer, MqttPublisher, MqttSubscriber,
                       bus_adapter_missing, delivery_counts, header, json_bodies, mosquitto_missing)
from harness import HOST, wait_for
from peers import curl, make_pki

# Every delivery becomes a file of its own: `<id>.<message id>.json`.
READINGS_ROUTE = """
    routes:
      - id: readings
        from:
          mqtt: {{ url: "{url}", topics: ["sensors/+/reading"] }}
        to:
          - file: {{ dir: ./out, name: "${{body.id}}.${{message.id}}.json", meta: {meta} }}
    """


def mqtt_to_files(route_id, out=None, **mqtt):
    """A route `route_id` from an mqtt inbound with the options `mqtt` to the files
    ./<out>/<body.id>.<message.id>.json (`out`: the route id unless given), for start_routes."""
    return {"id": route_id, "from": {"mqtt": mqtt},
            "to": [{"file": {"dir": f"./{out or route_id}", "name": "${body.id}.${message.id}.json"}}]}


def rest_to_mqtt(route_id, port, path, **mqtt):
    """A route `route_id` from POST <path> on `port` to an mqtt outbound with the options `mqtt`;
    the caller is answered after the publish (202, or the failure: 502, 504)."""
    return {"id": route_id, "from": {"rest": {"listen": f"127.0.0.1:{port}", "path": path}}, "to": [{"mqtt": mqtt}]}


class MqttTestCase(BrokerTestCase):
    prefix = "sb-mqtt-"

    pki = None    # a make_pki dict: the broker listens with TLS too
    users = None  # {name: password}: the broker admits only them

    @classmethod
    def setUpClass(cls):
        reason = mosquitto_missing(users=bool(cls.users)) or bus_adapter_missing(BIN, "mqtt")
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self):
        super().setUp()
        self.broker = MosquittoServer(pki=self.pki, users=self.users)
        # Cleanups run after tearDown: every bus is stopped before its broker.
        self.addCleanup(self.broker.close)
        self.broker.start()

    def delivered(self):
        """Counter of the ids the readings route wrote."""
        return delivery_counts(self.dir / "out")

    def start_readings_bus(self, meta="false"):
        bus = self.start_bus(READINGS_ROUTE, url=self.broker.url, meta=meta)
        self.broker.wait_subscribed("sensors/+/reading")
        return bus

    def delivered_to(self, out):
        """Counter of the ids an mqtt_to_files route wrote to ./<out>."""
        return delivery_counts(self.dir / out)

    def meta_of(self, directory, body_id):
        """The .meta.json of the one file written for the body with `body_id`."""
        [path] = (self.dir / directory).glob(f"{body_id}.*.meta.json")
        return json.loads(path.read_text())


class MqttInboundTest(MqttTestCase):

    def test_2000_qos1_messages_become_files(self):
        total = 2_000 // SCALE
        bus = self.start_readings_bus(meta="true")
        started = time.monotonic()
        self.broker.publish("sensors/7/reading", json_bodies(1, total), qos=1)
        wait_for(lambda: len(self.delivered()) == total, 60, interval=0.1, what=f"{total} files")
        elapsed = time.monotonic() - started
        delivered = self.delivered()
        self.assertEqual(set(delivered), set(range(1, total + 1)))
        self.assertEqual([i for i, n in delivered.items() if n > 1], [], "delivered twice without a failure")
        meta = self.meta_of("out", 42)
        expected = {"mqtt.topic": "sensors/7/reading", "mqtt.qos": "1", "mqtt.retain": "false",
                    "mqtt.duplicate": "false"}
        self.assertEqual({name: header(meta, name) for name in expected}, expected, meta)
        self.stop_cleanly(bus)
        print(f"\nmqtt -> file: {total} QoS 1 messages in {elapsed:.1f}s ({total / elapsed:.0f}/s)", flush=True)

    def test_a_message_whose_route_failed_is_delivered_again(self):
        # The peer refuses the first two calls. Without a retry, each failure ends the route, so
        # the bus must not acknowledge: the broker sends the message again (flagged duplicate).
        peer = self.peer(lambda request: (500, "application/json", b'{"error": "not yet"}') if peer.count() <= 2
                         else (200, "application/json", b'{"ok": true}'))
        bus = self.start_bus("""
            routes:
              - id: forward
                from:
                  mqtt: {{ url: "{url}", topics: [orders/new] }}
                to:
                  - file: {{ dir: ./tries, meta: true }}
                  - rest: {{ url: "{peer}/orders" }}
            """, url=self.broker.url, peer=peer.url)
        self.broker.wait_subscribed("orders/new")
        self.broker.publish("orders/new", [json.dumps({"order": 1})])
        wait_for(lambda: peer.count() >= 3, 30, what="the third try, which the peer takes")
        time.sleep(0.5)  # a message acknowledged at last does not come again
        bodies = [json.loads(request.body) for request in peer.recorded()]
        self.assertEqual(bodies, [{"order": 1}] * 3)
        tries = sorted((json.loads(p.read_text()) for p in (self.dir / "tries").glob("*.meta.json")),
                       key=lambda meta: header(meta, "mqtt.duplicate"))
        self.assertEqual([header(meta, "mqtt.duplicate") for meta in tries], ["false", "true", "true"])
        self.stop_cleanly(bus)


    def test_a_slow_route_keeps_the_connection_alive(self):
        # MQTT 3.1.1 §3.1.2.10: a client sends a control packet at least once per keep-alive,
        # or the broker may cut it off. The route takes one message at a time and the peer needs
        # 3 s for each, so the third message waits 3 s for room. The bus talks to Mosquitto
        # through a relay that times what the bus sends: the gaps must stay within keepalive.
        relay = PacketTimer(self.broker.port)
        self.addCleanup(relay.close)

        def slow(request):
            time.sleep(3)
            return 200, "application/json", b'{"ok": true}'
        peer = self.peer(slow)
        bus = self.start_bus("""
            routes:
              - id: slow
                from:
                  mqtt: {{ url: "mqtt://127.0.0.1:{relay}", topics: [slow/in], keepalive: 1s }}
                to:
                  - rest: {{ url: "{peer}/slow", timeout: 10s }}
                concurrency: 1
                queue: 1
            """, relay=relay.port, peer=peer.url)
        self.broker.wait_subscribed("slow/in")
        started = time.monotonic()
        self.broker.publish("slow/in", [json.dumps({"n": n}) for n in range(3)])
        wait_for(lambda: peer.count() >= 3, 30, what="3 messages at the slow peer")
        gap = relay.longest_gap(since=started)
        print(f"\nslow route: longest silence from the bus {gap * 1000:.0f} ms (keepalive 1000 ms)", flush=True)
        self.assertLess(gap, 1.0)
        time.sleep(1)
        self.assertEqual(sorted(json.loads(request.body)["n"] for request in peer.recorded()), list(range(3)))
        self.assertEqual(bus.find("mqtt connection lost"), [])
        self.stop_cleanly(bus)


class PacketTimer:
    """A TCP relay to a broker on 127.0.0.1 that notes when the client sends anything."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.sent_at = []
        self.closing = False
        self.sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((HOST, self.upstream_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, target, timed):
        try:
            while data := source.recv(65536):
                if timed:
                    self.sent_at.append(time.monotonic())
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def longest_gap(self, since):
        times = [since] + [t for t in self.sent_at if t >= since] + [time.monotonic()]
        return max(b - a for a, b in zip(times, times[1:]))

    def close(self):
        self.closing = True
        for s in self.sockets:
            s.close()


class MqttOutboundTest(MqttTestCase):

    def test_rest_posts_are_published(self):
        with MqttSubscriber(self.broker, ["orders/#"], qos=1) as subscriber:
            self.start_bus("""
                routes:
                  - id: orders
                    from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /orders }} }}
                    to:
                      - mqtt: {{ url: "{url}", topic: "orders/${{body.id}}", qos: 1 }}
                    reply: none
                  - id: status
                    from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /status }} }}
                    to:
                      - mqtt:
                          url: "{url}"
                          topic: "status/${{body.device}}"
                          retain: true
                          payload: "${{body.state}}"
                    reply: none
                """, url=self.broker.url)
            total = 200

            def post(i):
                return curl(self.url("/orders"), data=json.dumps({"id": i}), headers=["Content-Type: application/json"])

            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(pool.map(post, range(1, total + 1)))
            self.assertEqual([a.status for a in answers if a.status != 202], [], answers[:3])
            wait_for(lambda: subscriber.count() >= total, 20, what=f"{total} messages at the subscriber")
            time.sleep(0.3)  # none more
            received = subscriber.messages()
        self.assertEqual(len(received), total)
        self.assertEqual(sorted(json.loads(m.payload)["id"] for m in received), list(range(1, total + 1)))
        for message in received:
            self.assertEqual(message.topic, f"orders/{json.loads(message.payload)['id']}")
            self.assertEqual(message.qos, 1)
            self.assertFalse(message.retain)

        answer = curl(self.url("/status"), data='{"device": "pump-1", "state": "on"}',
                      headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 202, answer)
        # A subscriber that comes later still gets it: the broker retained it.
        with MqttSubscriber(self.broker, ["status/#"]) as late:
            wait_for(lambda: late.count() >= 1, 10, what="the retained message")
            time.sleep(0.2)
            retained = late.messages()
        self.assertEqual(len(retained), 1, retained)
        self.assertEqual((retained[0].topic, retained[0].payload, retained[0].retain), ("status/pump-1", b"on", True))
        self.stop_cleanly(self.bus)


class MqttBrokerRestartTest(MqttTestCase):

    def test_broker_restart_in_the_middle_of_a_qos1_stream(self):
        total = 3_000 // SCALE
        bus = self.start_readings_bus()
        publisher = MqttPublisher(self.broker, "sensors/1/reading", json_bodies(1, total), interval=0.002).start()
        self.addCleanup(publisher.stop)
        wait_for(lambda: publisher.published >= total // 4, 30, what="a quarter published")
        self.assertEqual(self.broker.stop(), 0)
        time.sleep(2)
        self.broker.start()  # the same port and persistence file: the bus's session is back
        acknowledged = {index + 1 for index in publisher.wait_done(60)}
        self.assertIsNone(publisher.error)
        self.assertEqual(publisher.published, total)
        self.assertGreater(len(acknowledged), total // 2, "the publisher got few PUBACKs: nothing to check")
        wait_for(lambda: acknowledged <= set(self.delivered()), 60, interval=0.2,
                 what="every acknowledged message delivered")
        self.assert_alive(bus, "across the broker restart ")
        delivered = self.delivered()
        duplicates = sum(delivered.values()) - len(delivered)
        unacknowledged_delivered = len(set(delivered) - acknowledged)
        complaints = self.complaints(bus)
        self.stop_cleanly(bus)
        print(f"\nbroker restart: {len(acknowledged)} of {total} acknowledged to the publisher, all delivered; "
              f"{unacknowledged_delivered} more delivered without a PUBACK, {duplicates} twice; the bus said: "
              f"{complaints[:5]}", flush=True)


class MqttSharedSubscriptionTest(MqttTestCase):

    def test_two_buses_share_the_work_of_one_shared_subscription(self):
        total = 1_000 // SCALE
        workers = ("worker-a", "worker-b")
        # The same route in both, each bus with a client id and an output directory of its own.
        buses = [self.start_routes([mqtt_to_files("jobs", out=worker, url=self.broker.url, client_id=worker,
                                                  topics=["$share/workers/jobs/#"])], routes_name=f"{worker}.yaml")
                 for worker in workers]
        for worker in workers:
            self.broker.wait_subscribed("$share/workers/jobs/#", client_prefix=worker)
        self.broker.publish("jobs/render", json_bodies(1, total // 2))
        self.broker.publish("jobs/mail/send", json_bodies(total // 2 + 1, total))

        def delivered():
            return [self.delivered_to(worker) for worker in workers]

        wait_for(lambda: len(sum(delivered(), Counter())) == total, 30, interval=0.1, what=f"{total} jobs")
        time.sleep(0.3)  # none more
        each = delivered()
        self.assertEqual(set(sum(each, Counter())), set(range(1, total + 1)))
        self.assertTrue(all(each), f"one bus did all the work: {[len(c) for c in each]}")
        for bus in buses:
            self.stop_cleanly(bus)
        print(f"\nshared subscription: {total} jobs split {' + '.join(str(sum(c.values())) for c in each)} "
              f"between {' and '.join(workers)}, {sum(sum(each, Counter()).values()) - total} twice", flush=True)


class MqttTlsTest(MqttTestCase):
    """The broker listens on mqtt:// (where the tests publish), on mqtts:// and on mqtts:// with
    client certificates, all with a certificate for 127.0.0.1 from a CA of the test's own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix="sb-mqtt-pki-")
        cls.addClassCleanup(directory.cleanup)
        cls.pki = make_pki(directory.name)

    def test_mqtts_with_the_ca_with_a_client_certificate_and_unverified(self):
        ca, total = self.pki["ca"], 100
        bus = self.start_routes([
            mqtt_to_files("tls", url=self.broker.tls_url, topics=["tls/#"], tls_ca=ca),
            mqtt_to_files("mutual", url=self.broker.mtls_url, topics=["mutual/#"], tls_ca=ca,
                          tls_cert=self.pki["client_cert"], tls_key=self.pki["client_key"]),
            mqtt_to_files("unverified", url=self.broker.tls_url, topics=["unverified/#"], tls_verify=False)])
        routes = ("tls", "mutual", "unverified")
        for route in routes:
            self.broker.wait_subscribed(f"{route}/#")
            self.broker.publish(f"{route}/1", json_bodies(1, total))
        for route in routes:
            wait_for(lambda: len(self.delivered_to(route)) == total, 20, interval=0.1, what=f"{total} files of {route}")
        self.assertEqual((self.broker.connections_on(self.broker.tls_port),
                          self.broker.connections_on(self.broker.mtls_port)), (2, 1))
        self.stop_cleanly(bus)

    def test_mqtts_with_an_untrusted_certificate_is_a_connection_failure_retried(self):
        bus = self.start_routes([
            mqtt_to_files("system-cas", url=self.broker.tls_url, topics=["tls/#"]),
            mqtt_to_files("no-client-cert", url=self.broker.mtls_url, topics=["mutual/#"], tls_ca=self.pki["ca"])])
        # Retried with backoff (0.5 s, 1 s, ...): the broker sees the attempts come again.
        wait_for(lambda: min(self.broker.connections_on(port) for port in (self.broker.tls_port, self.broker.mtls_port))
                 >= 3, 10, interval=0.1, what="three attempts on each TLS port")
        self.assert_alive(bus)
        failures = {route: [line["msg"] for line in bus.log_lines()
                            if line.get("route") == route and line.get("level") == "warn"]
                    for route in ("system-cas", "no-client-cert")}
        # Mosquitto sends its CA along: "self-signed certificate in certificate chain".
        self.assertTrue(any("TLS: the broker's certificate is not trusted: " in msg for msg in failures["system-cas"]),
                        failures)
        # The refusal is an alert after the handshake (TLS 1.3): read, it names the certificate;
        # when the broker has already closed the socket, the write says so.
        self.assertTrue(any("certificate required" in msg or "the broker closed the connection" in msg
                            for msg in failures["no-client-cert"]), failures)
        self.assertEqual(bus.admin("/ready")[0], 200)
        self.stop_cleanly(bus)
        print(f"\nmqtts refused: {failures}", flush=True)


class MqttLoginTest(MqttTestCase):
    """A broker without anonymous access, whose password file has the user `bus`."""

    PASSWORD = "s3cret-Right"
    WRONG = "hunter2-Wrong"
    users = {"bus": PASSWORD}

    def login(self, password):
        return {"url": self.broker.url, "username": "bus", "password": password}

    def test_the_right_credentials_subscribe_and_publish(self):
        bus = self.start_routes([rest_to_mqtt("post-orders", self.port, "/orders", topic="orders/${body.id}",
                                              **self.login(self.PASSWORD)),
                                 mqtt_to_files("orders", topics=["orders/#"], **self.login(self.PASSWORD))])
        self.broker.wait_subscribed("orders/#")
        answers = [curl(self.url("/orders"), data=json.dumps({"id": i}), headers=["Content-Type: application/json"])
                   for i in (1, 2, 3)]
        self.assertEqual([a.status for a in answers], [202] * 3, answers)
        wait_for(lambda: set(self.delivered_to("orders")) == {1, 2, 3}, 10, what="the orders back from the broker")
        self.stop_cleanly(bus)

    def test_a_wrong_password_at_start_exits_3(self):
        bus = self.start_routes([mqtt_to_files("orders", topics=["orders/#"], **self.login(self.WRONG))],
                                wait_ready=False)
        wait_for(lambda: bus.process.poll() is not None, 15, what="the bus to exit")
        self.forget(bus)
        log = bus.log_text()
        self.assertEqual(bus.process.returncode, 3, log)
        # Mosquitto 2.0 answers a wrong password to an MQTT 3.1.1 client with CONNACK 5, not 4.
        self.assertRegex(log, r"route orders cannot start: .*broker refused the connection: "
                              r"(wrong username or password \(4\)|not authorized \(wrong username or password, or no access\) \(5\))")
        self.assertNotIn(self.WRONG, log)

    def test_a_wrong_password_for_publishing_fails_the_caller_and_the_bus_runs_on(self):
        bus = self.start_routes([rest_to_mqtt("post-orders", self.port, "/orders", topic="orders/new", timeout="1s",
                                              **self.login(self.WRONG))])
        for _ in range(2):
            answer = curl(self.url("/orders"), data='{"id": 1}', headers=["Content-Type: application/json"])
            self.assertTrue(500 <= answer.status < 600, answer)
        self.assert_alive(bus)
        self.assertNotIn(self.WRONG, bus.log_text() + answer.body.decode(errors="replace"))
        self.stop_cleanly(bus)
        print(f"\nwrong password when publishing: {answer.status} {answer.body[:300]!r}", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
