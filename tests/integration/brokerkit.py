"""Message brokers for the integration tests: a real RabbitMQ 3.10 node and a real Mosquitto 2.0
broker, each a child process on 127.0.0.1 and free ports with its data in a temp directory, and
the clients the tests publish and read with (pika and paho-mqtt: Debian's python3-pika and
python3-paho-mqtt).

    rabbit = RabbitServer().start()
    rabbit.declare_queue("orders")
    rabbit.publish("", "orders", [b'{"id": 1}'])     # the default exchange: the key is the queue
    rabbit.queue_count("orders"), rabbit.get_all("orders")
    rabbit.url        # amqp://guest:guest@127.0.0.1:PORT/
    RabbitServer(pki=peers.make_pki(d))     # also rabbit.tls_url (amqps://), client certificates optional
    rabbit.stop()     # graceful; start() again brings it back on the same ports and data, so
                      # durable queues and their persistent messages survive
    rabbit.close()    # stop and remove the directory

    mosquitto = MosquittoServer().start()   # persistence on: a restart keeps QoS 1 sessions
    mosquitto.url     # mqtt://127.0.0.1:PORT
    MosquittoServer(pki=peers.make_pki(d))  # also mosquitto.tls_url and .mtls_url (mqtts://)
    MosquittoServer(users={"bus": "pw"})    # logins only (the test clients have one of their own)
    with MqttSubscriber(mosquitto, ["orders/#"]) as subscriber: ...
    mosquitto.publish("orders/1", [b"..."])

Without a broker's binaries or its client library, start() raises unittest.SkipTest with the
reason (rabbit_missing() and mosquitto_missing() give it beforehand). BrokerTestCase is the
BusTestCase the broker tests share; bus_adapter_missing() skips them when the bus lacks the adapter."""
import importlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import harness
from harness import HOST, free_port, wait_for
from peers import BusTestCase

# -- client libraries ---------------------------------------------------------------------------

DEBIAN_PYTHON_PACKAGES = Path("/usr/lib/python3/dist-packages")


def _import(name):
    """The module `name`, or None. An interpreter of its own (pyenv, a venv) does not see the
    python3-* packages Debian installed for /usr/bin/python3; pika and paho-mqtt are pure Python
    without dependencies, so Debian's copies serve any Python 3. That directory is on the path
    only while they are imported: the rest of the process sees the modules it saw before."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    if not (DEBIAN_PYTHON_PACKAGES / name.split(".")[0]).is_dir():
        return None
    sys.path.append(str(DEBIAN_PYTHON_PACKAGES))
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
    finally:
        sys.path.remove(str(DEBIAN_PYTHON_PACKAGES))


pika = _import("pika")
mqtt = _import("paho.mqtt.client")


# -- processes ----------------------------------------------------------------------------------

def _owned_by(account, *paths):
    """Hands `paths` to the OS `account` when we are root: the brokers drop to their accounts
    (RabbitMQ is started as one, Mosquitto switches by itself) and must write there."""
    if os.geteuid() != 0:
        return
    import pwd
    entry = pwd.getpwnam(account)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _account_missing(account):
    if os.geteuid() != 0:
        return None
    import pwd
    try:
        pwd.getpwnam(account)
        return None
    except KeyError:
        return f"running as root and there is no '{account}' account to run the broker as"


def _distinct_free_ports(count):
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return list(ports)


def _stop_process_group(process, sig, timeout):
    """Sends `sig` to `process` (a session leader we started), waits `timeout`, then kills its
    whole process group. Returns the exit code, or None if it was not running."""
    if process is None:
        return None
    if process.poll() is None:
        try:
            process.send_signal(sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Children left behind (the leader gone first, or it hung) go with the group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
    return process.returncode


# -- the bus under test -------------------------------------------------------------------------

def bus_adapter_missing(binary, adapter):
    """A reason when the bus at `binary` has no inbound and outbound `adapter`, else None."""
    try:
        listed = subprocess.run([binary, "plugins"], capture_output=True, timeout=30)
    except OSError as e:
        return f"cannot run {binary}: {e}"
    provided = {tuple(line.split()) for line in listed.stdout.decode(errors="replace").splitlines()}
    missing = [kind for kind in ("inbound", "outbound") if (kind, adapter) not in provided]
    if missing:
        return (f"the {adapter} adapter is not built (`switchboard plugins` lists no {' or '.join(missing)} "
                f"{adapter})")
    return None


def delivery_counts(directory):
    """Counter of ids over the files `<id>.<anything>` in `directory`, skipping dot files (the
    file outbound's temporaries) and `.meta.json` files: with ${message.id} in the name each
    delivery writes a file of its own, so a count above 1 is a duplicate."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return Counter()
    counts = Counter()
    for name in names:
        head = name.split(".", 1)[0]
        if not name.startswith(".") and not name.endswith(".meta.json") and head.isdigit():
            counts[int(head)] += 1
    return counts


def json_bodies(first, last):
    """The bodies `{"id": first}` .. `{"id": last}`, as bytes: ids the routes name their files by."""
    return [json.dumps({"id": i}).encode() for i in range(first, last + 1)]


def header(meta, name):
    """A header from a file outbound's .meta.json document, by case-insensitive name (None if absent)."""
    for key, value in meta["headers"].items():
        if key.lower() == name.lower():
            return value
    return None


# The bus runs in each test's directory: a relative SWITCHBOARD_BIN (build/bin/switchboard) is
# made absolute against the directory the tests were started from.
BIN = os.path.abspath(harness.BIN)

# Under AddressSanitizer the bus is several times slower: the volume tests run a fifth of their
# messages there (the optimised build runs them in full).
SCALE = 5 if os.environ.get("SWITCHBOARD_SANITIZED") == "1" else 1


class BrokerTestCase(BusTestCase):
    """A BusTestCase whose buses run the absolute BIN, with the checks the broker tests share."""

    prefix = "sb-broker-"

    def start_bus(self, text, bus_options=None, **kwargs):
        return super().start_bus(text, bus_options={"binary": BIN, **(bus_options or {})}, **kwargs)

    def forget(self, bus):
        """A bus this test killed on purpose is not reported as dead by tearDown."""
        self.buses = [(b, s) for b, s in self.buses if b is not bus]

    def assert_alive(self, bus, when=""):
        self.assertIsNone(bus.process.poll(), f"the bus exited {when}({bus.process.returncode}):\n"
                                              f"{bus.log_text()[-3000:]}")

    def stop_cleanly(self, bus):
        """SIGTERM: the bus drains and exits 0 (and tearDown does not count it as died)."""
        self.assert_alive(bus)
        code, _ = bus.stop()
        self.forget(bus)
        self.assertEqual(code, 0, bus.log_text()[-3000:])

    def start_routes(self, routes, **kwargs):
        """Starts a bus with `routes`, a list of route dicts, written as JSON (which is YAML):
        for routes put together in code rather than as YAML text."""
        text = json.dumps({"routes": routes}, indent=2).replace("{", "{{").replace("}", "}}")
        return self.start_bus(text, **kwargs)

    def meta(self, path):
        """The .meta.json document the file outbound wrote next to `path` (relative to the test dir)."""
        return json.loads((self.dir / f"{path}.meta.json").read_text())

    @staticmethod
    def complaints(bus):
        """The distinct warn and error messages of `bus`'s log, in order: printed for the record."""
        seen = []
        for line in bus.log_lines():
            if line.get("level") in ("warn", "error") and line.get("msg") not in seen:
                seen.append(line.get("msg"))
        return seen


# -- RabbitMQ -----------------------------------------------------------------------------------

RABBIT_SERVER = Path(os.environ.get("SWITCHBOARD_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server"))
RABBIT_ACCOUNT = "rabbitmq"


def rabbit_missing():
    """A reason string when RabbitMQ cannot be started and used here, else None."""
    if not (RABBIT_SERVER.is_file() and os.access(RABBIT_SERVER, os.X_OK)):
        return f"RabbitMQ not installed ({RABBIT_SERVER} missing; package rabbitmq-server)"
    if shutil.which("epmd") is None:
        return "epmd not found (Erlang's port mapper; package erlang-base)"
    if pika is None:
        return "the Python AMQP client pika is not installed (package python3-pika)"
    return _account_missing(RABBIT_ACCOUNT)


class Received(NamedTuple):
    """One message read back from a queue."""
    body: bytes
    properties: object  # pika.BasicProperties: content_type, delivery_mode, message_id, headers, ...
    exchange: str
    routing_key: str
    redelivered: bool


class Outgoing(NamedTuple):
    """A message to publish with properties of its own (message_id, correlation_id, headers, ...)."""
    body: bytes
    properties: dict


class _BrokerProcess:
    """What both brokers share: a child process (`process`) with its data in `base`; the
    subclass gives start() and stop()."""

    process = None
    base = None

    def running(self):
        return self.process is not None and self.process.poll() is None

    def close(self):
        """stop() and remove the directory."""
        try:
            self.stop()
        finally:
            if self.base is not None:
                shutil.rmtree(self.base, ignore_errors=True)
                self.base = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class RabbitServer(_BrokerProcess):
    """One RabbitMQ node with its own ports (AMQP, distribution, epmd), data and log directory.
    The node's epmd is our child too, so nothing outlives stop(); every port is on 127.0.0.1.

    With `pki` (a peers.make_pki dict) it also listens with TLS on a port of its own (tls_url),
    with the server certificate for 127.0.0.1 and localhost. RabbitMQ's ssl_options hold for
    every TLS listener of a node, so `client_certs` decides for that one port: "optional" (the
    default: a client certificate is asked for and, when one is sent, must come from the CA;
    a client without one is let in), "required" (fail_if_no_peer_cert) or "none" (verify_none)."""

    user = password = "guest"
    CLIENT_CERTS = {"none": ("verify_none", "false"), "optional": ("verify_peer", "false"),
                    "required": ("verify_peer", "true")}

    def __init__(self, start_timeout=60, stop_timeout=30, pki=None, client_certs="optional"):
        if client_certs not in self.CLIENT_CERTS:
            raise ValueError(f"client_certs: one of {', '.join(self.CLIENT_CERTS)}, not {client_certs!r}")
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.pki = pki
        self.client_certs = client_certs
        self.base = None
        self.port = self.dist_port = self.epmd_port = self.tls_port = None
        self.tls_problem = None  # the last failed TLS handshake of start(), for its timeout message
        self.process = None
        self.epmd = None
        self.started_in = None  # seconds the last start() took until AMQP connections were accepted

    @property
    def url(self):
        return f"amqp://{self.user}:{self.password}@{HOST}:{self.port}/"

    @property
    def tls_url(self):
        return f"amqps://{self.user}:{self.password}@{HOST}:{self.tls_port}/"

    @property
    def nodename(self):
        return f"sb{self.port}@localhost"

    @property
    def log_dir(self):
        return self.base / "log"

    # -- lifecycle ------------------------------------------------------------------------------

    def _prepare(self):
        reason = rabbit_missing()
        if reason:
            raise unittest.SkipTest(reason)
        self.base = Path(tempfile.mkdtemp(prefix="sb-rabbit-"))
        self.port, self.dist_port, self.epmd_port, *tls_port = _distinct_free_ports(4 if self.pki else 3)
        config = (f"listeners.tcp.default = {HOST}:{self.port}\n"
                  "loopback_users = none\n"
                  # The machine's whole disk and memory are not ours to judge: no alarm stops publishers.
                  "disk_free_limit.absolute = 1MB\n"
                  "log.console = false\n"
                  "log.file.level = info\n")
        owned = [self.base, self.base / "mnesia", self.log_dir, self.base / "rabbitmq.conf",
                 self.base / "enabled_plugins"]
        if self.pki:
            # Copies the node's account can read (the key's directory may well be private).
            tls = self.base / "tls"
            tls.mkdir()
            for key in ("ca", "server_cert", "server_key"):
                shutil.copy(self.pki[key], tls / key)
                owned.append(tls / key)
            owned.append(tls)
            [self.tls_port] = tls_port
            verify, fail_if_no_peer_cert = self.CLIENT_CERTS[self.client_certs]
            config += (f"listeners.ssl.default = {HOST}:{self.tls_port}\n"
                       f"ssl_options.cacertfile = {tls / 'ca'}\n"
                       f"ssl_options.certfile = {tls / 'server_cert'}\n"
                       f"ssl_options.keyfile = {tls / 'server_key'}\n"
                       f"ssl_options.verify = {verify}\n"
                       f"ssl_options.fail_if_no_peer_cert = {fail_if_no_peer_cert}\n")
        (self.base / "rabbitmq.conf").write_text(config)
        (self.base / "enabled_plugins").write_text("[].\n")  # not /etc/rabbitmq's list
        for sub in ("mnesia", "log"):
            (self.base / sub).mkdir()
        _owned_by(RABBIT_ACCOUNT, *owned)

    def _environment(self):
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.base),  # the Erlang cookie is made and read here
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            # Erlang distribution listens on every interface unless told otherwise; and idle
            # schedulers must not spin: the node shares two cores with the bus under test.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1} "
                                                   "+sbwt none +sbwtdcpu none +sbwtdio none",
        }

    def _as_rabbitmq(self):
        """Popen keywords that run a child as the rabbitmq account when we are root. Not runuser:
        it would stand between us and the server and kill it 2 s after passing on a SIGTERM."""
        if os.geteuid() == 0:
            return {"user": RABBIT_ACCOUNT, "group": RABBIT_ACCOUNT, "extra_groups": []}
        return {}

    def start(self):
        if self.running():
            return self
        if self.base is None:
            self._prepare()
        started = time.monotonic()
        self.tls_problem = None
        environment = self._environment()
        with open(self.base / "epmd.out", "ab") as out:
            self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address", HOST],
                                         cwd=self.base, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=environment, start_new_session=True,
                                         **self._as_rabbitmq())
        with open(self.base / "server.out", "ab") as out:
            # Our child is the rabbitmq-server script: it turns our SIGTERM into a clean node stop.
            self.process = subprocess.Popen([str(RABBIT_SERVER)], cwd=self.base, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT, env=environment,
                                            start_new_session=True, **self._as_rabbitmq())
        deadline = started + self.start_timeout
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}:\n{self.log_text()}")
            if self._accepts_connections():
                self.started_in = time.monotonic() - started
                return self
            if time.monotonic() > deadline:
                self.stop()
                tls = f" (the last TLS handshake: {self.tls_problem!r})" if self.tls_problem else ""
                raise RuntimeError(f"RabbitMQ not accepting AMQP connections after {self.start_timeout}s{tls}:\n"
                                   f"{self.log_text()}")
            time.sleep(0.1)

    def _accepts_connections(self):
        try:
            with socket.create_connection((HOST, self.port), timeout=1):
                pass
        except OSError:
            return False
        try:
            self.connect(timeout=3).close()
        except pika.exceptions.AMQPError:
            return False
        return self.tls_port is None or self._tls_handshake()

    def _tls_handshake(self):
        """True once the TLS listener completes a handshake with a client that trusts the CA (and
        shows the client certificate) and speaks AMQP: a node start() returned has a working TLS port."""
        context = ssl.create_default_context(cafile=self.pki["ca"])
        if self.pki.get("client_cert"):
            context.load_cert_chain(self.pki["client_cert"], self.pki["client_key"])
        try:
            with socket.create_connection((HOST, self.tls_port), timeout=3) as raw:
                with context.wrap_socket(raw, server_hostname=HOST) as tls:
                    tls.sendall(b"AMQP\x00\x00\x09\x01")  # the broker answers with connection.start
                    return len(tls.recv(7)) > 0
        except ssl.SSLCertVerificationError as e:
            # Our own client does not trust the node's certificate: waiting will not mend that.
            self.stop()
            raise RuntimeError(f"the TLS listener on {self.tls_port} has a certificate we do not trust: {e}") from e
        except OSError as e:  # ssl.SSLError too: the node may fail handshakes until it has read its files
            self.tls_problem = e
            return False

    def stop(self):
        """Stops the node cleanly (SIGTERM: queues and messages are written out), then its epmd.
        Returns the server's exit code (None if it was not running)."""
        code = _stop_process_group(self.process, signal.SIGTERM, self.stop_timeout)
        _stop_process_group(self.epmd, signal.SIGTERM, 5)
        self.epmd = None
        return code

    def kill(self):
        """SIGKILL to the node and its epmd: an abrupt crash."""
        code = _stop_process_group(self.process, signal.SIGKILL, 5)
        _stop_process_group(self.epmd, signal.SIGKILL, 5)
        self.epmd = None
        return code

    def ctl(self, *args, timeout=60):
        """Runs `rabbitmqctl ARGS...` against this node; returns its output."""
        ctl = RABBIT_SERVER.with_name("rabbitmqctl")
        done = subprocess.run([str(ctl), *args], cwd=self.base, env=self._environment(), capture_output=True,
                              text=True, timeout=timeout, **self._as_rabbitmq())
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def log_text(self, limit=4000):
        """The tail (`limit` characters, None: all) of the script's output and of the node's log."""
        parts = []
        for path in [self.base / "server.out", *sorted(self.log_dir.glob("*.log"))] if self.base else []:
            try:
                text = path.read_text(errors="replace")
                parts.append(f"--- {path.name}\n{text if limit is None else text[-limit:]}")
            except OSError:
                pass
        return "\n".join(parts)

    # -- AMQP client (pika) ---------------------------------------------------------------------

    def connect(self, timeout=10):
        """A new pika.BlockingConnection as guest."""
        parameters = pika.ConnectionParameters(
            host=HOST, port=self.port, credentials=pika.PlainCredentials(self.user, self.password),
            connection_attempts=1, socket_timeout=timeout, stack_timeout=timeout, blocked_connection_timeout=60)
        return pika.BlockingConnection(parameters)

    def _with_channel(self, work):
        connection = self.connect()
        try:
            return work(connection.channel())
        finally:
            if connection.is_open:
                connection.close()

    def declare_queue(self, queue, durable=True, arguments=None):
        self._with_channel(lambda ch: ch.queue_declare(queue, durable=durable, arguments=arguments))

    def declare_exchange(self, exchange, exchange_type="direct", durable=True):
        self._with_channel(lambda ch: ch.exchange_declare(exchange, exchange_type=exchange_type, durable=durable))

    def bind(self, queue, exchange, routing_key):
        self._with_channel(lambda ch: ch.queue_bind(queue, exchange, routing_key=routing_key))

    def delete_queue(self, queue):
        self._with_channel(lambda ch: ch.queue_delete(queue))

    def _passive_declare(self, queue):
        """The queue's declare-ok frame, or None when there is no such queue."""
        try:
            return self._with_channel(lambda ch: ch.queue_declare(queue, passive=True))
        except pika.exceptions.ChannelClosedByBroker as e:
            if e.reply_code == 404:
                return None
            raise

    def queue_exists(self, queue):
        return self._passive_declare(queue) is not None

    def queue_count(self, queue):
        """Messages ready in `queue` (not those delivered and not yet acknowledged)."""
        return self._passive_declare(queue).method.message_count

    def consumer_count(self, queue):
        return self._passive_declare(queue).method.consumer_count

    def publish(self, exchange, routing_key, bodies, persistent=True, headers=None,
                content_type="application/json", batch=1000, **properties):
        """Publishes each of `bodies` (bytes, text or Outgoing) to `exchange` with `routing_key`
        ("" is the default exchange, where the key names the queue). Returns once the broker took
        them all: one transaction per `batch`, whose commit returns only when the broker has
        routed (and, persistent to a durable queue, written) every message in it. Unroutable
        messages are dropped by the broker as usual. Extra keywords are BasicProperties."""
        def publish_all(channel):
            channel.tx_select()
            count = 0
            for item in bodies:
                body, own = (item.body, item.properties) if isinstance(item, Outgoing) else (item, {})
                merged = {"content_type": content_type, "delivery_mode": 2 if persistent else 1,
                          "headers": headers, **properties, **own}
                channel.basic_publish(exchange, routing_key, body.encode() if isinstance(body, str) else body,
                                      pika.BasicProperties(**merged))
                count += 1
                if count % batch == 0:
                    channel.tx_commit()
            channel.tx_commit()
            return count
        return self._with_channel(publish_all)

    def get_all(self, queue, idle=0.5, limit=None):
        """Takes every message from `queue` (acknowledged, so they are gone) until none came for
        `idle` seconds, or `limit` were taken; returns them as Received in arrival order."""
        def take(channel):
            received = []
            channel.basic_qos(prefetch_count=1000)
            for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=idle):
                if method is None:
                    break
                received.append(Received(body, properties, method.exchange, method.routing_key, method.redelivered))
                if limit is not None and len(received) >= limit:
                    break
            channel.cancel()
            return received
        return self._with_channel(take)


def unique_name(prefix):
    """A queue or exchange name no other test (or earlier run on the same node) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- Mosquitto ----------------------------------------------------------------------------------

MOSQUITTO_ACCOUNT = "mosquitto"


def _mosquitto_binary():
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)


def mosquitto_missing(users=False):
    """A reason string when Mosquitto cannot be started and used here (`users`: with a password
    file), else None."""
    if _mosquitto_binary() is None:
        return "Mosquitto not installed (package mosquitto)"
    if users and shutil.which("mosquitto_passwd") is None:
        return "mosquitto_passwd not found (package mosquitto)"
    if mqtt is None:
        return "the Python MQTT client paho-mqtt is not installed (package python3-paho-mqtt)"
    return _account_missing(MOSQUITTO_ACCOUNT)


class MosquittoServer(_BrokerProcess):
    """One Mosquitto broker on 127.0.0.1 and a free port. Persistence is on and stop() is a clean
    shutdown, so a restart on the same port keeps the persistent sessions (clean_session false),
    their subscriptions and the QoS 1 messages queued for them.

    With `pki` (a peers.make_pki dict) it also listens with TLS on two more ports, with the
    server certificate for 127.0.0.1 and localhost: tls_url, and mtls_url, which requires a
    client certificate from the same CA. With `users` ({name: password}) it admits no anonymous
    clients, only those users; the tests' own clients log in as client_login, a user of their own."""

    def __init__(self, start_timeout=10, stop_timeout=10, max_inflight_messages=None, pki=None, users=None):
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.max_inflight_messages = max_inflight_messages  # None: Mosquitto's default (20)
        self.pki = pki
        self.users = dict(users or {})
        self.client_login = ("sb-test-client", uuid.uuid4().hex) if users else None
        self.base = None
        self.port = self.tls_port = self.mtls_port = None
        self.process = None
        self.started_in = None

    @property
    def url(self):
        return f"mqtt://{HOST}:{self.port}"

    @property
    def tls_url(self):
        return f"mqtts://{HOST}:{self.tls_port}"

    @property
    def mtls_url(self):
        return f"mqtts://{HOST}:{self.mtls_port}"

    def _prepare(self):
        reason = mosquitto_missing(users=bool(self.users))
        if reason:
            raise unittest.SkipTest(reason)
        self.base = Path(tempfile.mkdtemp(prefix="sb-mqtt-"))
        data = self.base / "data"
        data.mkdir()
        owned = [self.base, data]  # Mosquitto reads and writes these as its own account
        lines = ["persistence true", f"persistence_location {data}/",
                 # A file log: Mosquitto buffers what it writes to stdout.
                 "max_queued_messages 100000", f"log_dest file {self.base / 'mosquitto.log'}",
                 "log_type error", "log_type warning", "log_type notice", "log_type information",
                 "log_type subscribe",  # wait_subscribed() reads them
                 "connection_messages true", "log_timestamp_format %H:%M:%S"]
        if self.max_inflight_messages is not None:
            lines.append(f"max_inflight_messages {self.max_inflight_messages}")
        if self.users:
            passwords = self.base / "passwords"
            for number, (name, password) in enumerate([self.client_login, *self.users.items()]):
                subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if number == 0 else []), str(passwords),
                                name, password], check=True, capture_output=True, timeout=30)
            owned.append(passwords)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.port, *tls_ports = _distinct_free_ports(3 if self.pki else 1)
        lines.append(f"listener {self.port} {HOST}")
        if self.pki:
            tls = self.base / "tls"
            tls.mkdir()
            for key in ("ca", "server_cert", "server_key"):
                shutil.copy(self.pki[key], tls / key)
                owned.append(tls / key)
            owned.append(tls)
            self.tls_port, self.mtls_port = tls_ports
            for port, require_certificate in ((self.tls_port, "false"), (self.mtls_port, "true")):
                lines += [f"listener {port} {HOST}", f"cafile {tls / 'ca'}", f"certfile {tls / 'server_cert'}",
                          f"keyfile {tls / 'server_key'}", f"require_certificate {require_certificate}"]
        (self.base / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        # Started as root, Mosquitto switches to its account itself: that one writes the data.
        _owned_by(MOSQUITTO_ACCOUNT, *owned)

    def start(self):
        if self.running():
            return self
        if self.base is None:
            self._prepare()
        started = time.monotonic()
        with open(self.base / "mosquitto.out", "ab") as out:
            self.process = subprocess.Popen([_mosquitto_binary(), "-c", str(self.base / "mosquitto.conf")],
                                            cwd=self.base, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    self.started_in = time.monotonic() - started
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto not listening after {self.start_timeout}s:\n{self.log_text()}")
            time.sleep(0.02)

    def stop(self):
        """Clean shutdown (SIGTERM: the persistence file is written). Returns the exit code."""
        return _stop_process_group(self.process, signal.SIGTERM, self.stop_timeout)

    def log_text(self, limit=4000):
        """The tail (`limit` characters, None: all) of Mosquitto's output and of its log."""
        parts = []
        for name in ("mosquitto.out", "mosquitto.log"):
            try:
                text = (self.base / name).read_text(errors="replace")
                parts.append(text if limit is None else text[-limit:])
            except (TypeError, OSError):
                pass
        return "\n".join(parts)

    # -- MQTT client (paho) ---------------------------------------------------------------------

    def client(self, client_id="", clean_session=True):
        """A connected paho client with its network loop running (stop with disconnect_client)."""
        client = mqtt.Client(client_id=client_id, clean_session=clean_session, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(1000)  # our own publishing: not 20 at a time
        client.max_queued_messages_set(0)
        connected = threading.Event()
        client.on_connect = lambda c, userdata, flags, rc: connected.set() if rc == 0 else None
        if self.client_login:
            client.username_pw_set(*self.client_login)
        client.connect(HOST, self.port, keepalive=30)
        client.loop_start()
        if not connected.wait(10):
            disconnect_client(client)
            raise AssertionError(f"no CONNACK from mosquitto at {self.url} in 10s")
        return client

    def publish(self, topic, payloads, qos=1, retain=False, timeout=60):
        """Publishes each payload to `topic` and returns once every one is acknowledged (PUBACK
        for QoS 1; written to the socket for QoS 0)."""
        client = self.client()
        try:
            infos = [client.publish(topic, payload, qos=qos, retain=retain) for payload in payloads]
            deadline = time.monotonic() + timeout
            for info in infos:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                if not info.is_published():
                    raise AssertionError(f"mosquitto did not acknowledge a publish to {topic} within {timeout}s")
            return len(infos)
        finally:
            disconnect_client(client)

    def wait_subscribed(self, topic, client_prefix="switchboard-", timeout=20):
        """Waits until a client whose id starts with `client_prefix` has subscribed to `topic`
        (the broker logs each subscription): what is published before that reaches nobody."""
        pattern = re.compile(rf"^\S+ {re.escape(client_prefix)}\S* [012] {re.escape(topic)}$", re.MULTILINE)
        wait_for(lambda: pattern.search(self.log_text(limit=None)), timeout, interval=0.05,
                 what=f"a subscription to {topic} by {client_prefix}*")

    def connections_on(self, port):
        """How many connections the broker accepted on `port` (TLS handshakes that failed included)."""
        return len(re.findall(rf"^\S+ New connection from \S+ on port {port}\.$", self.log_text(limit=None),
                              re.MULTILINE))


def disconnect_client(client):
    client.disconnect()
    client.loop_stop()


class MqttMessage(NamedTuple):
    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttSubscriber:
    """A client subscribed to `topics` (QoS `qos`) that keeps every message it receives;
    start() returns once the broker confirmed the subscription."""

    def __init__(self, server, topics, qos=1):
        self.server = server
        self.topics = list(topics)
        self.qos = qos
        self.client = None
        self.lock = threading.Lock()
        self._messages = []

    def _on_message(self, client, userdata, message):
        with self.lock:
            self._messages.append(MqttMessage(message.topic, message.payload, message.qos, bool(message.retain)))

    def start(self):
        subscribed = threading.Event()
        self.client = self.server.client()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe([(topic, self.qos) for topic in self.topics])
        if not subscribed.wait(10):
            raise AssertionError(f"no SUBACK for {self.topics} in 10s")
        return self

    def messages(self):
        with self.lock:
            return list(self._messages)

    def count(self):
        with self.lock:
            return len(self._messages)

    def stop(self):
        if self.client is not None:
            disconnect_client(self.client)
            self.client = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class MqttPublisher:
    """Publishes payloads to a topic from a thread, one every `interval` seconds, and keeps going
    across broker restarts (paho reconnects and resends what was not acknowledged). acknowledged()
    holds the indexes the broker sent a PUBACK for: those it has taken responsibility for."""

    def __init__(self, server, topic, payloads, qos=1, interval=0.0):
        self.server = server
        self.topic = topic
        self.payloads = list(payloads)
        self.qos = qos
        self.interval = interval
        self.lock = threading.Lock()
        self._pending = {}  # mid -> index, until the PUBACK
        self._acknowledged = set()
        self._early = set()  # PUBACKs that came before publish() returned the mid
        self.published = 0
        self.error = None
        self.client = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_publish(self, client, userdata, mid):
        with self.lock:
            index = self._pending.pop(mid, None)
            if index is None:
                self._early.add(mid)
            else:
                self._acknowledged.add(index)

    def _run(self):
        try:
            for index, payload in enumerate(self.payloads):
                info = self.client.publish(self.topic, payload, qos=self.qos)
                with self.lock:
                    if info.mid in self._early:
                        self._early.discard(info.mid)
                        self._acknowledged.add(index)
                    else:
                        self._pending[info.mid] = index
                    self.published = index + 1
                if self.interval:
                    time.sleep(self.interval)
        except Exception as e:  # reported through self.error
            self.error = e

    def start(self):
        self.client = self.server.client(client_id=unique_name("sb-test-publisher"))
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=1)
        self.client.on_publish = self._on_publish
        self.thread.start()
        return self

    def acknowledged(self):
        with self.lock:
            return set(self._acknowledged)

    def wait_done(self, timeout):
        """Waits until every payload was handed to the client and every one acknowledged, or
        `timeout`; returns the acknowledged indexes."""
        self.thread.join(timeout)
        try:
            wait_for(lambda: len(self.acknowledged()) == len(self.payloads), timeout, interval=0.1,
                     what="every publish acknowledged")
        except AssertionError:
            pass
        return self.acknowledged()

    def stop(self):
        if self.client is not None:
            disconnect_client(self.client)
            self.client = None
        self.thread.join(timeout=10)
