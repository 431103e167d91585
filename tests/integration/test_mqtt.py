"""The mqtt adapter end to end: the real binary against a real Mosquitto 2.0 broker (brokerkit),
one per test (it starts in a few milliseconds, and every test gets fresh sessions). Covers QoS 1
intake into files, rest -> mqtt with the retain flag and a payload template, redelivery of a
message whose route failed, and a broker restart in the middle of a stream of QoS 1 messages."""
import json
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from brokerkit import (BIN, SCALE, BrokerTestCase, MosquittoServer, MqttPublisher, MqttSubscriber,
                       bus_adapter_missing, delivery_counts, header, json_bodies, mosquitto_missing)
from harness import wait_for
from peers import curl

# Every delivery becomes a file of its own: `<id>.<message id>.json`.
READINGS_ROUTE = """
    routes:
      - id: readings
        from:
          mqtt: {{ url: "{url}", topics: ["sensors/+/reading"] }}
        to:
          - file: {{ dir: ./out, name: "${{body.id}}.${{message.id}}.json", meta: {meta} }}
    """


class MqttTestCase(BrokerTestCase):
    prefix = "sb-mqtt-"

    @classmethod
    def setUpClass(cls):
        reason = mosquitto_missing() or bus_adapter_missing(BIN, "mqtt")
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self):
        super().setUp()
        self.broker = MosquittoServer()
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
