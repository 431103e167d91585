"""The amqp adapter end to end: the real binary against a real RabbitMQ 3.10 node (brokerkit),
started once for the module; every test uses queues and exchanges of its own. Covers the
inbound's headers and acknowledgement, declaring and binding, the outbound's properties,
headers and publisher confirms, competing consumers (also across a kill -9), a broker outage,
a failing downstream (requeue, or the dead letter endpoint), a wrong password, amqps://
(the node has a TLS listener too, with a certificate from a CA of the module's own), and the
telemetry example (examples/telemetry) against this node and a Mosquitto of its own."""
import datetime
import json
import tempfile
import time
import unittest
import uuid

from brokerkit import (BIN, SCALE, BrokerTestCase, MosquittoServer, MqttSubscriber, Outgoing, RabbitServer,
                       bus_adapter_missing, delivery_counts, header, json_bodies, mosquitto_missing, rabbit_missing,
                       unique_name)
from harness import HOST, SOURCE_DIR, Bus, visible_files, wait_for
from peers import NO_PROXY, curl, make_pki

RABBIT = None
PKI = None          # make_pki's files: the node's TLS listener has its server certificate
PKI_DIR = None


def setUpModule():
    global RABBIT, PKI, PKI_DIR
    reason = rabbit_missing() or bus_adapter_missing(BIN, "amqp")
    if reason:
        raise unittest.SkipTest(reason)
    PKI_DIR = tempfile.TemporaryDirectory(prefix="sb-amqp-pki-")
    PKI = make_pki(PKI_DIR.name)
    # One node for the module, TLS listener included: a client certificate is asked for and
    # checked when sent, not required (RabbitMQ's ssl_options are the same for every TLS port).
    RABBIT = RabbitServer(pki=PKI, client_certs="optional").start()
    print(f"\nRabbitMQ on port {RABBIT.port} (TLS {RABBIT.tls_port}) ready in {RABBIT.started_in:.1f}s", flush=True)


def tearDownModule():
    try:
        if RABBIT is not None:
            RABBIT.close()
    finally:
        if PKI_DIR is not None:
            PKI_DIR.cleanup()


# One instance of a competing consumer: its deliveries go to a directory of its own, one file each.
CONSUMER_ROUTE = """
    routes:
      - id: consume
        from:
          amqp: {{ url: "{url}", queue: {queue} }}
        to:
          - file: {{ dir: ./{out}, name: "${{body.id}}.${{message.id}}.json" }}
        concurrency: 8
    """


class AmqpTestCase(BrokerTestCase):
    prefix = "sb-amqp-"

    def queue(self, prefix="q"):
        name = unique_name(prefix)
        RABBIT.declare_queue(name)
        return name

    def wait_queue_empty(self, queue, timeout=60):
        wait_for(lambda: RABBIT.queue_count(queue) == 0, timeout, interval=0.2, what=f"{queue} empty")


class AmqpInboundTest(AmqpTestCase):

    def test_messages_become_files_with_their_properties_and_are_acknowledged(self):
        queue = self.queue()
        total = 200
        RABBIT.publish("", queue, [
            Outgoing(json.dumps({"id": i}).encode(),
                     {"message_id": f"m-{i}", "correlation_id": f"c-{i}", "reply_to": "replies",
                      "headers": {"x-tenant": "acme", "x-seq": i}})
            for i in range(1, total + 1)])
        self.start_bus("""
            routes:
              - id: amqp-to-file
                from:
                  amqp: {{ url: "{url}", queue: {queue} }}
                to:
                  - file: {{ dir: ./out, name: "${{body.id}}.json", meta: true }}
            """, url=RABBIT.url, queue=queue)
        wait_for(lambda: len(delivery_counts(self.dir / "out")) == total, 60, interval=0.1,
                 what=f"{total} files")
        self.assertEqual(set(delivery_counts(self.dir / "out")), set(range(1, total + 1)))
        for i in (1, 77, total):
            self.assertEqual(json.loads((self.dir / "out" / f"{i}.json").read_text()), {"id": i})
            meta = self.meta(f"out/{i}.json")
            self.assertEqual(meta["content_type"], "application/json")
            expected = {"amqp.exchange": "", "amqp.routing_key": queue, "amqp.redelivered": "false",
                        "amqp.message_id": f"m-{i}", "amqp.correlation_id": f"c-{i}", "amqp.reply_to": "replies",
                        "x-tenant": "acme", "x-seq": str(i)}
            self.assertEqual({name: header(meta, name) for name in expected}, expected, meta)
            self.assertRegex(header(meta, "amqp.delivery_tag") or "", r"^[0-9]+$", meta)
        # Acknowledged, not merely delivered: nothing comes back into the queue when the bus goes.
        self.wait_queue_empty(queue)
        self.stop_cleanly(self.bus)
        self.assertEqual(RABBIT.queue_count(queue), 0, "messages were requeued: not acknowledged")

    def test_declare_creates_the_queue_and_binds_it_to_the_exchange(self):
        queue, exchange = unique_name("declared"), unique_name("orders-x")
        self.start_bus("""
            routes:
              - id: declared
                from:
                  amqp:
                    url: "{url}"
                    queue: {queue}
                    declare: true
                    exchange: {exchange}
                    exchange_type: topic
                    bindings: ["order.*"]
                to:
                  - file: {{ dir: ./out, name: "${{body.id}}.json", meta: true }}
            """, url=RABBIT.url, queue=queue, exchange=exchange)
        wait_for(lambda: RABBIT.queue_exists(queue), 20, interval=0.1, what=f"the bus to declare {queue}")
        RABBIT.publish(exchange, "order.created", json_bodies(1, 3))
        RABBIT.publish(exchange, "invoice.created", json_bodies(4, 5))  # matches no binding: dropped
        wait_for(lambda: len(delivery_counts(self.dir / "out")) >= 3, 20, what="the three orders")
        time.sleep(0.5)  # the unbound ones would have come by now
        self.assertEqual(set(delivery_counts(self.dir / "out")), {1, 2, 3})
        meta = self.meta("out/1.json")
        self.assertEqual(header(meta, "amqp.exchange"), exchange)
        self.assertEqual(header(meta, "amqp.routing_key"), "order.created")
        self.stop_cleanly(self.bus)
        # Declared durable: it outlives the bus.
        self.assertTrue(RABBIT.queue_exists(queue))


class AmqpOutboundTest(AmqpTestCase):

    def test_rest_to_exchange_with_properties_headers_and_confirms(self):
        exchange, queue = unique_name("events-x"), self.queue("events")
        RABBIT.declare_exchange(exchange, "topic")
        RABBIT.bind(queue, exchange, "event.*")
        self.start_bus("""
            routes:
              - id: rest-to-amqp
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /events }} }}
                to:
                  - amqp:
                      url: "{url}"
                      exchange: {exchange}
                      declare: true
                      exchange_type: topic
                      routing_key: "event.${{body.kind}}"
                      headers: {{ x-source: switchboard, x-kind: "${{body.kind}}" }}
                reply: none
              - id: transient
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /transient }} }}
                to:
                  - amqp: {{ url: "{url}", exchange: {exchange}, routing_key: event.transient, persistent: false }}
                reply: none
              - id: unroutable
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /nowhere }} }}
                to:
                  - amqp: {{ url: "{url}", exchange: {exchange}, routing_key: nobody.listens, mandatory: true }}
                reply: none
            """, url=RABBIT.url, exchange=exchange)
        kinds = {}
        for n in range(20):
            kind = ("created", "paid", "shipped")[n % 3]
            answer = curl(self.url("/events"), data=json.dumps({"n": n, "kind": kind}),
                          headers=["Content-Type: application/json", "X-Tenant: acme"])
            self.assertEqual(answer.status, 202, answer)
            kinds[answer.json()["id"]] = (n, kind)
        # 202 comes after the endpoint succeeded, which is after the broker's confirm: all are there.
        self.assertEqual(RABBIT.queue_count(queue), 20)
        received = RABBIT.get_all(queue)
        self.assertEqual(len(received), 20)
        for message in received:
            properties = message.properties
            self.assertIn(properties.message_id, kinds, "message_id is the bus's message id")
            n, kind = kinds.pop(properties.message_id)
            self.assertEqual(json.loads(message.body), {"n": n, "kind": kind})
            self.assertEqual(message.exchange, exchange)
            self.assertEqual(message.routing_key, f"event.{kind}")
            self.assertEqual(properties.content_type, "application/json")
            self.assertEqual(properties.delivery_mode, 2, "persistent by default")
            headers = {k.lower(): v for k, v in (properties.headers or {}).items()}
            self.assertEqual(headers.get("x-source"), "switchboard")
            self.assertEqual(headers.get("x-kind"), kind)
            self.assertEqual(headers.get("x-tenant"), "acme", "message headers go along (forward_headers)")
            dotted = [k for k in headers if k.startswith(("amqp.", "http."))]
            self.assertEqual(dotted, [], "the bus's own dotted headers are not forwarded")
        self.assertEqual(kinds, {})

        answer = curl(self.url("/transient"), data='{"n": 99}', headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 202, answer)
        [transient] = RABBIT.get_all(queue)
        self.assertNotEqual(transient.properties.delivery_mode, 2, "persistent: false")

        answer = curl(self.url("/nowhere"), data='{"n": 100}', headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 502, f"an unroutable mandatory message is an endpoint error: {answer}")
        print(f"\nunroutable with mandatory: 502 {answer.json().get('error')!r}", flush=True)
        self.assertEqual(RABBIT.queue_count(queue), 0)
        self.stop_cleanly(self.bus)


    def test_a_broker_blocking_publishers_fails_sends_at_once_until_it_unblocks(self):
        # A memory alarm (the watermark set to nothing) makes RabbitMQ stop reading from
        # publishing connections. The bus asked to be told (connection.blocked): the publish
        # caught by the alarm fails after `timeout`, the next ones fail at once, and publishing
        # resumes when the alarm clears, on the same connection.
        queue = self.queue("alarm")
        self.start_bus("""
            routes:
              - id: rest-to-amqp
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /events }} }}
                to:
                  - amqp: {{ url: "{url}", exchange: "", routing_key: {queue}, timeout: 2s }}
                reply: none
            """, url=RABBIT.url, queue=queue)

        def post(n):
            started = time.monotonic()
            answer = curl(self.url("/events"), data=json.dumps({"n": n}), headers=["Content-Type: application/json"])
            return answer, time.monotonic() - started

        self.assertEqual(post(0)[0].status, 202)
        RABBIT.ctl("set_vm_memory_high_watermark", "0.000001")
        try:
            n = 1
            deadline = time.monotonic() + 30
            while not self.bus.find("the broker blocks publishers"):
                self.assertLess(time.monotonic(), deadline, "no connection.blocked from the broker")
                post(n)
                n += 1
            answer, took = post(100)
            self.assertEqual(answer.status, 502, answer)
            self.assertIn("connection.blocked", answer.json()["error"])
            self.assertLess(took, 1.0, "a blocked broker fails the send at once")
            print(f"\nblocked: {answer.json()['error']!r} in {took * 1000:.0f} ms", flush=True)
        finally:
            RABBIT.ctl("set_vm_memory_high_watermark", "0.4")
        wait_for(lambda: post(200)[0].status == 202, 30, interval=0.5, what="publishing again after the alarm")
        self.assertTrue(self.bus.find("the broker takes publishes again"))
        bodies = [json.loads(message.body)["n"] for message in RABBIT.get_all(queue)]
        self.assertIn(0, bodies)
        self.assertIn(200, bodies)
        self.assertNotIn(100, bodies, "a send failed at once was never written")
        self.stop_cleanly(self.bus)


class CompetingConsumersTest(AmqpTestCase):
    """Two bus instances on one queue share the work; what a killed one held goes to the other."""

    def start_consumers(self, queue):
        first = self.start_bus(CONSUMER_ROUTE, routes_name="a.yaml", url=RABBIT.url, queue=queue, out="out-a")
        second = self.start_bus(CONSUMER_ROUTE, routes_name="b.yaml", url=RABBIT.url, queue=queue, out="out-b")
        return first, second

    def delivered(self):
        return delivery_counts(self.dir / "out-a"), delivery_counts(self.dir / "out-b")

    def test_two_instances_share_20000_messages(self):
        queue, total = self.queue(), 20_000 // SCALE
        started = time.monotonic()
        RABBIT.publish("", queue, json_bodies(1, total))
        published_in = time.monotonic() - started
        first, second = self.start_consumers(queue)
        started = time.monotonic()
        wait_for(lambda: len(set().union(*self.delivered())) == total, 180, interval=0.5,
                 what=f"all {total} messages delivered")
        elapsed = time.monotonic() - started
        a, b = self.delivered()
        self.assertEqual(set(a) | set(b), set(range(1, total + 1)), "every message delivered")
        duplicates = sum((a + b).values()) - total
        self.assertEqual(duplicates, 0, "a message was delivered twice without any failure")
        self.assertGreater(len(a), 0, "the first instance did no work")
        self.assertGreater(len(b), 0, "the second instance did no work")
        self.wait_queue_empty(queue)
        self.stop_cleanly(first)
        self.stop_cleanly(second)
        self.assertEqual(RABBIT.queue_count(queue), 0, "messages were requeued: not acknowledged")
        print(f"\ntwo consumers: {total} published in {published_in:.1f}s, delivered in {elapsed:.1f}s "
              f"({total / elapsed:.0f}/s): {len(a)} + {len(b)}", flush=True)

    def test_kill_9_of_one_instance_loses_nothing(self):
        queue, total = self.queue(), 10_000 // SCALE
        RABBIT.publish("", queue, json_bodies(1, total))
        doomed, survivor = self.start_consumers(queue)
        wait_for(lambda: sum(len(d) for d in self.delivered()) >= total // 5, 120, interval=0.02,
                 what="a fifth of the messages delivered")
        doomed.kill9()
        self.forget(doomed)
        at_kill = len(delivery_counts(self.dir / "out-a"))
        self.assertLess(sum(len(d) for d in self.delivered()), total, "the kill came after the run, not during it")
        wait_for(lambda: len(set().union(*self.delivered())) == total, 180, interval=0.5,
                 what="every message delivered by the survivor")
        a, b = self.delivered()
        self.assertEqual(set(a) | set(b), set(range(1, total + 1)), "a message was lost with the killed instance")
        duplicated = sorted(i for i, n in (a + b).items() if n > 1)
        # Only messages delivered to the killed instance and not yet acknowledged come again: at
        # most its prefetch, which is its concurrency (8).
        self.assertLessEqual(len(duplicated), 8, duplicated)
        self.wait_queue_empty(queue)
        self.stop_cleanly(survivor)
        self.assertEqual(RABBIT.queue_count(queue), 0)
        print(f"\nkill -9: {at_kill} delivered by the killed instance, {len(b)} by the survivor, "
              f"{len(duplicated)} delivered twice", flush=True)


class BrokerOutageTest(AmqpTestCase):

    def test_rabbitmq_down_for_10_seconds(self):
        source, target, exchange = self.queue("source"), self.queue("target"), unique_name("relay-x")
        RABBIT.declare_exchange(exchange, "direct")
        RABBIT.bind(target, exchange, "relayed")
        before, after = 3_000 // SCALE, 1_000 // SCALE
        RABBIT.publish("", source, json_bodies(1, before))
        bus = self.start_bus("""
            routes:
              - id: relay
                from:
                  amqp: {{ url: "{url}", queue: {source} }}
                to:
                  - amqp: {{ url: "{url}", exchange: {exchange}, routing_key: relayed }}
                timeout: 120s
                on_error:
                  retry: {{ attempts: 200, delay: 200ms, max_delay: 1s }}
            """, url=RABBIT.url, source=source, exchange=exchange)
        wait_for(lambda: RABBIT.queue_count(target) >= before // 5, 60, interval=0.05,
                 what="a fifth relayed before the outage")
        self.assertEqual(RABBIT.stop(), 0)
        down_at = time.monotonic()
        time.sleep(10)
        self.assert_alive(bus, "while RabbitMQ was down ")
        RABBIT.start()  # the same ports and data: the durable queues and their messages are back
        up_at = time.monotonic()
        wait_for(lambda: RABBIT.consumer_count(source) > 0, 60, interval=0.1, what="the bus consuming again")
        consuming_after = time.monotonic() - up_at
        RABBIT.publish("", source, json_bodies(before + 1, before + after))
        relayed = {}

        def everything_relayed():
            for message in RABBIT.get_all(target, idle=0.2):
                key = json.loads(message.body)["id"]
                relayed[key] = relayed.get(key, 0) + 1
            return len(relayed) == before + after

        wait_for(everything_relayed, 120, interval=0.5, what="every message relayed after the outage")
        recovered_in = time.monotonic() - up_at
        self.assertEqual(set(relayed), set(range(1, before + after + 1)), "nothing lost")
        duplicates = sum(relayed.values()) - (before + after)
        self.assert_alive(bus, "after the outage ")
        self.wait_queue_empty(source)
        complaints = self.complaints(bus)
        self.stop_cleanly(bus)
        self.assertEqual(RABBIT.queue_count(source), 0)
        print(f"\noutage: down {up_at - down_at:.1f}s (restart took {RABBIT.started_in:.1f}s); the bus consumed "
              f"again {consuming_after:.1f}s after it came back; all {before + after} relayed after "
              f"{recovered_in:.1f}s, {duplicates} twice; the bus said: {complaints[:3]}", flush=True)


class FailingDownstreamTest(AmqpTestCase):

    ROUTE = """
        routes:
          - id: to-failing-peer
            from:
              amqp: {{ url: "{url}", queue: {queue} }}
            to:
              - rest: {{ url: "{peer}/orders" }}
            on_error:
              retry: {{ attempts: 2, delay: 50ms }}
              {dead_letter}
        """

    def failing_peer(self):
        return self.peer(lambda request: (500, "application/json", b'{"error": "down"}'))

    def test_a_message_that_failed_stays_in_the_queue(self):
        queue, peer = self.queue(), self.failing_peer()
        RABBIT.publish("", queue, json_bodies(1, 1))
        bus = self.start_bus(self.ROUTE, url=RABBIT.url, queue=queue, peer=peer.url, dead_letter="")
        # Two attempts, then the message goes back to the queue and comes again: two more.
        wait_for(lambda: peer.count() >= 4, 30, what="the message tried, requeued and tried again")
        counted_at = peer.count()
        time.sleep(2)
        tries_in_2s = peer.count() - counted_at
        self.stop_cleanly(bus)
        self.assertEqual(RABBIT.queue_count(queue), 1, "the failed message is back in the queue")
        [message] = RABBIT.get_all(queue)
        self.assertEqual(json.loads(message.body), {"id": 1})
        print(f"\nfailing downstream without a dead letter: {tries_in_2s} more requests in 2 s after the first "
              f"redelivery", flush=True)

    def test_the_dead_letter_endpoint_takes_a_message_that_failed(self):
        queue, peer = self.queue(), self.failing_peer()
        RABBIT.publish("", queue, json_bodies(1, 3))
        bus = self.start_bus(self.ROUTE, url=RABBIT.url, queue=queue, peer=peer.url,
                             dead_letter="dead_letter: { file: { dir: ./dead, name: '${body.id}.json', meta: true } }")
        wait_for(lambda: len(delivery_counts(self.dir / "dead")) == 3, 30, what="three dead letters")
        self.wait_queue_empty(queue)
        self.stop_cleanly(bus)
        self.assertEqual(RABBIT.queue_count(queue), 0, "a dead-lettered message is acknowledged")
        self.assertEqual(peer.count(), 6, "two attempts each")
        meta = self.meta("dead/2.json")
        self.assertEqual(header(meta, "error.attempts"), "2")
        self.assertEqual(header(meta, "error.endpoint"), "rest")
        self.assertEqual(header(meta, "amqp.routing_key"), queue)
        self.assertEqual(json.loads((self.dir / "dead" / "2.json").read_text()), {"id": 2})


class CredentialsTest(AmqpTestCase):

    def test_a_wrong_password_stops_the_start_with_the_reason_and_without_the_password(self):
        # A consumer the broker refuses at start is a configuration error, like any route that
        # cannot start: the bus says why and exits 3 rather than run without the route.
        secret = "s3cr3t-wrong-4417"
        queue = self.queue()
        url = f"amqp://guest:{secret}@{HOST}:{RABBIT.port}/"
        bus = self.start_bus("""
            routes:
              - id: bad-inbound
                from:
                  amqp: {{ url: "{url}", queue: {queue} }}
                to:
                  - file: {{ dir: ./out }}
            """, wait_ready=False, url=url, queue=queue)
        self.assertEqual(bus.process.wait(timeout=30), 3, bus.log_text())
        self.forget(bus)
        log = bus.log_text()
        self.assertIn(f"amqp://guest:***@{HOST}:{RABBIT.port}/", log)
        self.assertIn("ACCESS_REFUSED", log)
        self.assertNotIn(secret, log, "the password is in the log")

    def test_a_wrong_password_on_the_way_out_fails_the_request_not_the_bus(self):
        secret = "s3cr3t-wrong-4418"
        queue = self.queue()
        url = f"amqp://guest:{secret}@{HOST}:{RABBIT.port}/"
        bus = self.start_bus("""
            routes:
              - id: bad-outbound
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /send }} }}
                to:
                  - amqp: {{ url: "{url}", routing_key: {queue}, timeout: 5s }}
            """, url=url, queue=queue)
        answer = curl(self.url("/send"), data='{"n": 1}', headers=["Content-Type: application/json"], timeout=30)
        self.assertEqual(answer.status, 502, answer)
        self.assertIn(b"ACCESS_REFUSED", answer.body)
        self.assert_alive(bus, "on a wrong password ")
        self.assertNotIn(secret, bus.log_text(), "the password is in the log")
        self.assertNotIn(secret, answer.body.decode(errors="replace"), "the password is in the answer")
        print(f"\nwrong password on the way out: {answer.status} {answer.body[:200]!r}", flush=True)


class AmqpTlsTest(AmqpTestCase):
    """amqps:// to the node's TLS listener. Its certificate is for IP 127.0.0.1 and DNS localhost;
    the tests publish and read over the plain port. The bus is given `localhost`: librabbitmq
    0.11 checks the host name against the certificate's DNS names only (see the IP test)."""

    def tls_url(self, host="localhost", password=None):
        return f"amqps://{RABBIT.user}:{password or RABBIT.password}@{host}:{RABBIT.tls_port}/"

    def test_amqps_with_the_test_ca_consumes_and_publishes(self):
        inbox, outbox, total = self.queue("tls-in"), self.queue("tls-out"), 50
        RABBIT.publish("", inbox, json_bodies(1, total))
        self.start_bus("""
            routes:
              - id: amqps-in
                from:
                  amqp: {{ url: "{url}", queue: {inbox}, tls_ca: "{ca}" }}
                to:
                  - file: {{ dir: ./out, name: "${{body.id}}.json" }}
              - id: amqps-out
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /send }} }}
                to:
                  - amqp: {{ url: "{url}", routing_key: {outbox}, tls_ca: "{ca}" }}
                reply: none
            """, url=self.tls_url(), inbox=inbox, outbox=outbox, ca=PKI["ca"])
        wait_for(lambda: len(delivery_counts(self.dir / "out")) == total, 30, interval=0.1,
                 what=f"{total} files from the queue, read over TLS")
        self.assertEqual(set(delivery_counts(self.dir / "out")), set(range(1, total + 1)))
        answers = [curl(self.url("/send"), data=json.dumps({"id": i}), headers=["Content-Type: application/json"])
                   for i in (1, 2, 3)]
        self.assertEqual([a.status for a in answers], [202] * 3, answers)
        received = RABBIT.get_all(outbox)
        self.assertEqual([json.loads(m.body) for m in received], [{"id": 1}, {"id": 2}, {"id": 3}])
        self.assertEqual({(m.exchange, m.routing_key) for m in received}, {("", outbox)})
        self.wait_queue_empty(inbox)
        self.assertEqual(self.complaints(self.bus), [])
        self.stop_cleanly(self.bus)
        self.assertEqual(RABBIT.queue_count(inbox), 0, "messages read over TLS were requeued: not acknowledged")

    def test_amqps_to_an_ip_address_its_certificate_names(self):
        # The certificate has subjectAltName IP:127.0.0.1: the host check must match IP entries
        # too, as curl, Python and the mqtt adapter do.
        queue = self.queue("tls-ip")
        self.start_bus("""
            routes:
              - id: amqps-ip
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /send }} }}
                to:
                  - amqp: {{ url: "{url}", routing_key: {queue}, tls_ca: "{ca}" }}
                reply: none
            """, url=self.tls_url(host=HOST), queue=queue, ca=PKI["ca"])
        answer = curl(self.url("/send"), data='{"id": 1}', headers=["Content-Type: application/json"])
        if answer.status != 202:
            print(f"\namqps to {HOST}: {answer.status} {answer.body[:200]!r}", flush=True)
        self.assertEqual(answer.status, 202, answer)
        self.assertEqual(RABBIT.queue_count(queue), 1)

    def test_amqps_without_a_ca_is_refused_and_retried_and_unverified_goes_through(self):
        # Without tls_ca the system's CAs decide, and none of them signed the node's certificate.
        # That is a connection failure like a broker that is down, not a start-up error: the
        # inbound warns and reconnects with backoff (0.5 s doubling to 5 s; RabbitMQ does not log
        # a handshake the client broke off, so the attempts are not counted here), the outbound
        # answers 502.
        secret = "s3cr3t-tls-4419"
        queue, outbox = self.queue("tls-no-ca"), self.queue("tls-unverified")
        RABBIT.publish("", queue, json_bodies(1, 3))
        bus = self.start_bus("""
            routes:
              - id: no-ca-in
                from:
                  amqp: {{ url: "{url}", queue: {queue} }}
                to:
                  - file: {{ dir: ./out }}
              - id: no-ca-out
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /send }} }}
                to:
                  - amqp: {{ url: "{url}", routing_key: {queue}, timeout: 5s }}
              - id: unverified-out
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /unverified }} }}
                to:
                  - amqp: {{ url: "{plain}", routing_key: {outbox}, tls_verify: false }}
                reply: none
            """, url=self.tls_url(password=secret), plain=self.tls_url(), queue=queue, outbox=outbox)
        redacted = f"amqps://guest:***@localhost:{RABBIT.tls_port}/"
        refused = f"cannot connect to localhost:{RABBIT.tls_port}: SSL peer cert verification failed"
        warnings = [line for line in bus.log_lines() if line.get("route") == "no-ca-in" and line.get("level") == "warn"]
        self.assertTrue(warnings, bus.log_text())
        self.assertEqual(warnings[0]["msg"], f"broker unavailable, consuming will wait for it: {refused}")
        self.assertEqual(warnings[0].get("url"), redacted)
        answer = curl(self.url("/send"), data='{"id": 9}', headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 502, answer)
        self.assertEqual(answer.json()["error"], f"amqp {redacted} default exchange: {refused}")
        answer = curl(self.url("/unverified"), data='{"id": 10}', headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 202, f"tls_verify: false takes any certificate: {answer}")
        self.assertEqual([json.loads(m.body) for m in RABBIT.get_all(outbox)], [{"id": 10}])
        time.sleep(1)  # past the consumer's first backoff (0.5 s) and its next attempt
        self.assert_alive(bus, "on an untrusted certificate ")
        self.assertEqual(bus.admin("/ready")[0], 200)
        self.assertEqual((RABBIT.consumer_count(queue), RABBIT.queue_count(queue)), (0, 3), "nothing consumed")
        self.assertEqual(delivery_counts(self.dir / "out"), {})
        self.assertNotIn(secret, bus.log_text(), "the password is in the log")
        print(f"\namqps without tls_ca: {warnings[0]['msg']!r}; {self.complaints(bus)[1:]}", flush=True)
        self.stop_cleanly(bus)

    def test_mutual_tls_with_the_client_certificate_and_a_stranger_refused(self):
        inbox, outbox = self.queue("mtls-in"), self.queue("mtls-out")
        RABBIT.publish("", inbox, json_bodies(1, 3))
        refusals = RABBIT.log_text(limit=None).count("Unknown CA")
        client = f'tls_ca: "{PKI["ca"]}", tls_cert: "{PKI["client_cert"]}", tls_key: "{PKI["client_key"]}"'
        stranger = (f'tls_ca: "{PKI["ca"]}", tls_cert: "{PKI["other_client_cert"]}", '
                    f'tls_key: "{PKI["other_client_key"]}"')
        bus = self.start_bus("""
            routes:
              - id: mtls-in
                from:
                  amqp: {{ url: "{url}", queue: {inbox}, {client} }}
                to:
                  - file: {{ dir: ./out, name: "${{body.id}}.json" }}
              - id: mtls-out
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /send }} }}
                to:
                  - amqp: {{ url: "{url}", routing_key: {outbox}, {client} }}
                reply: none
              - id: stranger-out
                from: {{ rest: {{ listen: "127.0.0.1:{port}", path: /stranger }} }}
                to:
                  - amqp: {{ url: "{url}", routing_key: {outbox}, {stranger}, timeout: 5s }}
            """, url=self.tls_url(), inbox=inbox, outbox=outbox, client=client, stranger=stranger)
        wait_for(lambda: set(delivery_counts(self.dir / "out")) == {1, 2, 3}, 30, what="three files over mutual TLS")
        answer = curl(self.url("/send"), data='{"id": 4}', headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 202, answer)
        # A certificate from another CA: the node refuses it (TLS 1.3: after the client finished
        # its side of the handshake, so librabbitmq notices only when it logs in).
        answer = curl(self.url("/stranger"), data='{"id": 5}', headers=["Content-Type: application/json"])
        self.assertEqual(answer.status, 502, answer)
        wait_for(lambda: RABBIT.log_text(limit=None).count("Unknown CA") > refusals, 10,
                 what="RabbitMQ to log the stranger's certificate as from an unknown CA")
        self.assertEqual([json.loads(m.body) for m in RABBIT.get_all(outbox)], [{"id": 4}])
        self.wait_queue_empty(inbox)
        self.stop_cleanly(bus)
        print(f"\nmutual TLS, a stranger's certificate: {answer.status} {answer.json().get('error')!r}", flush=True)


class TelemetryExampleTest(AmqpTestCase):
    """examples/telemetry as its README runs it, from a copy of routes.yaml: MQTT readings end as
    JSON lines in the archive by way of the exchange and the queue, a POST becomes a retained
    command. Here rather than in test_examples.py so that it shares the module's RabbitMQ node;
    its Mosquitto starts in milliseconds. The route file's own cases run offline (ctest label cases)."""

    TOPIC = "devices/d-42/telemetry"

    def setUp(self):
        super().setUp()
        reason = mosquitto_missing() or bus_adapter_missing(BIN, "mqtt")
        if reason:
            self.skipTest(reason)
        self.broker = MosquittoServer()
        self.addCleanup(self.broker.close)  # after tearDown: the bus goes first
        self.broker.start()

    def start_example(self, hostname):
        """The example's routes, copied, with the REST listener moved from its fixed 8082 to this
        test's port; the brokers and the MQTT client id come from the environment, as in the README."""
        text = (SOURCE_DIR / "examples" / "telemetry" / "routes.yaml").read_text()
        self.assertIn("listen: 127.0.0.1:8082", text)
        (self.dir / "routes.yaml").write_text(text.replace("listen: 127.0.0.1:8082", f"listen: {HOST}:{self.port}"))
        bus = Bus(self.dir / "routes.yaml", self.dir, args=["--drain-timeout", "2s"], plugins=[], binary=BIN,
                  env=dict(NO_PROXY, MQTT_URL=self.broker.url, AMQP_URL=RABBIT.url, HOSTNAME=hostname))
        ready = []
        self.buses.append((bus, lambda: bool(ready)))  # tearDown stops it and reports a death
        bus.start()
        ready.append(True)
        self.bus = bus
        return bus

    def counters(self, bus):
        status, routes = bus.admin_json("/routes")
        self.assertEqual(status, 200, routes)
        return {route["id"]: route["counters"] for route in routes}

    def test_readings_reach_the_archive_and_commands_reach_the_device(self):
        hostname = f"sb-test-{uuid.uuid4().hex[:8]}"
        bus = self.start_example(hostname)
        # Readings published before the subscription, or before the archive queue is bound to
        # the exchange, would reach nobody.
        self.broker.wait_subscribed("devices/+/telemetry", client_prefix=f"telemetry-in-{hostname}")
        wait_for(lambda: RABBIT.queue_exists("telemetry-archive") and RABBIT.consumer_count("telemetry-archive"),
                 20, interval=0.1, what="the bus consuming telemetry-archive")

        first_day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        readings = [{"device": "d-42", "value": 21.5, "unit": "C"},
                    {"device": "d-42", "unit": "C"},  # no value: filtered out
                    {"device": "d-42", "value": 22, "unit": "C"}]
        self.broker.publish(self.TOPIC, [json.dumps(r).encode() for r in readings], qos=1)
        archive = self.dir / "archive" / "telemetry.d-42"

        def archived_lines():
            return [line for path in sorted(archive.glob("*.jsonl"))
                    for line in path.read_text().splitlines(keepends=True)]

        def readings_ended():
            counters = self.counters(bus)["telemetry-in"]
            ended = sum(counters[k] for k in ("delivered", "filtered", "dead_lettered", "failed"))
            return counters if ended >= 3 else None

        in_counters = wait_for(readings_ended, 20, what="all three readings ended")
        self.assertEqual({k: in_counters[k] for k in ("delivered", "filtered", "dead_lettered", "failed")},
                         {"delivered": 2, "filtered": 1, "dead_lettered": 0, "failed": 0}, in_counters)
        wait_for(lambda: self.counters(bus)["telemetry-archive"]["delivered"] == 2, 20,
                 what="both events archived and acknowledged")
        last_day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        # The day is UTC (${now:%Y-%m-%d}); one test may straddle midnight.
        self.assertLessEqual({p.name for p in archive.glob("*.jsonl")}, {f"{first_day}.jsonl", f"{last_day}.jsonl"},
                             visible_files(self.dir / "archive"))
        self.assertEqual([str(p) for p in visible_files(self.dir / "archive")
                          if p.parent.name != "telemetry.d-42"], [])
        lines = archived_lines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[-1].endswith("\n"), lines)
        events = sorted((json.loads(line) for line in lines), key=lambda e: e["value"])
        for event, value in zip(events, (21.5, 22)):
            self.assertEqual({k: event.get(k) for k in ("device", "value", "unit", "topic")},
                             {"device": "d-42", "value": value, "unit": "C", "topic": self.TOPIC}, event)
            self.assertRegex(event.get("received_at") or "", r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", event)
            self.assertEqual(set(event), {"device", "value", "unit", "topic", "received_at"}, event)
        self.wait_queue_empty("telemetry-archive", timeout=10)

        # A command: 202 once the broker has it, to a subscriber now and, retained, to one later.
        with MqttSubscriber(self.broker, ["devices/d-42/commands"]) as subscriber:
            answer = curl(self.url("/devices/d-42/commands"), data='{"action": "reboot"}',
                          headers=["Content-Type: application/json"])
            self.assertEqual(answer.status, 202, answer)
            wait_for(lambda: subscriber.count() >= 1, 10, what="the command at the device")
            [live] = subscriber.messages()
        self.assertEqual((live.topic, json.loads(live.payload), live.qos),
                         ("devices/d-42/commands", {"action": "reboot"}, 1))
        with MqttSubscriber(self.broker, ["devices/d-42/commands"]) as late:
            wait_for(lambda: late.count() >= 1, 10, what="the retained command")
            [retained] = late.messages()
        self.assertEqual((retained.topic, json.loads(retained.payload), retained.retain),
                         ("devices/d-42/commands", {"action": "reboot"}, True))

        self.assertEqual(visible_files(self.dir / "dead"), [])
        complaints = self.complaints(bus)
        self.stop_cleanly(bus)
        self.assertEqual(complaints, [], bus.log_text()[-3000:])
        # Acknowledged after the line was written: nothing comes back when the bus goes.
        self.assertEqual(RABBIT.queue_count("telemetry-archive"), 0, "events were requeued: not acknowledged")
        self.assertEqual(len(archived_lines()), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
