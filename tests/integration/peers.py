"""Peers for integration tests: HTTP upstreams that answer, fail, hang or speak garbage,
a curl runner, free ports and a throw-away PKI. Everything binds 127.0.0.1 only."""
import http.server
import json
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

from harness import HOST, Bus, free_port  # noqa: F401 (re-exported for the tests)


def closed_port():
    """A port nothing listens on: bound without listen(), so connects are refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    return s, s.getsockname()[1]


class CurlResult:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stderr = completed.stderr.decode(errors="replace")
        raw = completed.stdout
        # -D - writes the header block(s) first; --write-out adds the final status on the last line.
        head, _, body = raw.partition(b"\r\n\r\n")
        # A 100 Continue block may come first.
        while head.startswith(b"HTTP/") and b" 100 " in head.split(b"\r\n", 1)[0] and b"\r\n\r\n" in body:
            head, _, body = body.partition(b"\r\n\r\n")
        self.headers = {}
        lines = head.decode(errors="replace").split("\r\n")
        self.status_line = lines[0] if lines and lines[0].startswith("HTTP/") else ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()
        self.body = body
        self.status = int(self.status_line.split()[1]) if self.status_line else 0

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<curl rc={self.returncode} {self.status_line!r} {self.headers} {self.body[:300]!r} {self.stderr!r}>"


def curl(url, *args, data=None, method=None, headers=(), timeout=30):
    """Runs the real curl binary; returns status, headers and body (status 0 when no answer)."""
    command = ["curl", "-sS", "-D", "-", "--max-time", str(timeout), "--noproxy", "*"]
    if method:
        command += ["-X", method]
    for header in headers:
        command += ["-H", header]
    stdin = None
    if data is not None:
        command += ["--data-binary", "@-"]
        stdin = data.encode() if isinstance(data, str) else data
    command += list(args) + [url]
    completed = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout + 15)
    return CurlResult(completed)


class Recorded:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())


class HttpPeer:
    """A threaded HTTP/1.1 upstream on a free port. `respond(request)` returns
    (status, content_type, body) and may call peer.hang(seconds); every request is recorded."""

    def __init__(self, respond=None):
        self.respond = respond or (lambda request: (200, "application/json", b'{"ok": true}'))
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with peer.lock:
                    peer.requests.append(request)
                status, content_type, payload = peer.respond(request)
                if isinstance(payload, str):
                    payload = payload.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the caller gave up on us

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def hang(self, seconds):
        """Holds the current request for `seconds`, or until the peer stops."""
        self.released.wait(seconds)

    def count(self):
        with self.lock:
            return len(self.requests)

    def recorded(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class GarbagePeer:
    """A TCP server that answers every connection with bytes that are not HTTP, then closes."""

    def __init__(self, payload=b"\x00\x01 THIS IS NOT HTTP \xff\xfe\r\n\r\ngarbage garbage\r\n"):
        self.payload = payload
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            with conn:
                try:
                    conn.settimeout(2)
                    try:
                        conn.recv(65536)  # the request, or some of it
                    except socket.timeout:
                        pass
                    conn.sendall(self.payload)
                    conn.shutdown(socket.SHUT_WR)
                    time.sleep(0.05)
                except OSError:
                    pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.sock.close()


def raw_exchange(port, data, read_timeout=10, chunks=None):
    """Sends `data` on a fresh connection and reads until the server closes or `read_timeout`.
    Returns (bytes received, True when the server closed the connection)."""
    with socket.create_connection((HOST, port), timeout=read_timeout) as s:
        s.sendall(data)
        received = b""
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            try:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = s.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False


def make_pki(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with the openssl CLI.
    Returns a dict of PEM file paths: ca, server_cert, server_key, client_cert, client_key,
    other_ca, other_client_cert, other_client_key (the last three from an unrelated CA)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    def ca(name):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"), "-out",
            str(d / f"{name}.pem"), "-days", "2", "-subj", f"/CN=Switchboard Test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(name, issuer, subject, extensions):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
            "-subj", subject)
        ext = d / f"{name}.ext"
        ext.write_text(extensions)
        run("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / f"{issuer}.pem"), "-CAkey",
            str(d / f"{issuer}.key"), "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "2",
            "-extfile", str(ext))

    ca("ca")
    ca("other-ca")
    leaf("server", "ca", "/CN=127.0.0.1",
         "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "/CN=test-client", "extendedKeyUsage=clientAuth\n")
    leaf("other-client", "other-ca", "/CN=stranger", "extendedKeyUsage=clientAuth\n")
    return {
        "ca": str(d / "ca.pem"),
        "server_cert": str(d / "server.pem"),
        "server_key": str(d / "server.key"),
        "client_cert": str(d / "client.pem"),
        "client_key": str(d / "client.key"),
        "other_ca": str(d / "other-ca.pem"),
        "other_client_cert": str(d / "other-client.pem"),
        "other_client_key": str(d / "other-client.key"),
    }


NO_PROXY = {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}


class BusTestCase(unittest.TestCase):
    """Each test writes its routes, starts one bus and the peers it needs; all are stopped after."""

    prefix = "sb-"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix=self.prefix)
        self.dir = Path(self.tmp.name)
        self.port = free_port()
        self.peers = []
        self.buses = []
        self.sockets = []
        self.bus = None

    def tearDown(self):
        problems = []
        try:
            # Peers first: that releases any request an upstream holds, so the bus drains at once.
            for peer in self.peers:
                try:
                    peer.stop()
                except Exception as e:  # keep stopping the rest
                    problems.append(f"stopping {peer}: {e!r}")
            for s in self.sockets:
                s.close()
            for bus, started in self.buses:
                if started() and not bus.stopped and bus.process.poll() is not None:
                    problems.append(f"the bus died during the test ({bus.process.returncode}):\n"
                                    f"{bus.log_text()[-4000:]}")
                try:
                    bus.stop(timeout=20)
                except AssertionError as e:
                    problems.append(str(e))
                finally:
                    bus.__exit__()
        finally:
            self.tmp.cleanup()
        if problems:
            raise AssertionError("\n".join(problems))

    def peer(self, respond=None):
        peer = HttpPeer(respond)
        self.peers.append(peer)
        return peer.start()

    def start_bus(self, text, bus_options=None, routes_name="routes.yaml", wait_ready=True, **values):
        """Writes `text` (dedented, formatted with port= and `values`) as the routes and starts a bus;
        another `routes_name` lets several buses share the directory. wait_ready=False returns
        as soon as the process runs (for a bus that may never become ready)."""
        routes = self.dir / routes_name
        routes.write_text(textwrap.dedent(text).format(port=self.port, **values))
        bus = Bus(routes, self.dir, args=["--drain-timeout", "2s"], env=NO_PROXY, **(bus_options or {}))
        ready = []
        self.buses.append((bus, lambda: bool(ready)))
        bus.start(wait_ready=wait_ready)
        ready.append(True)
        self.bus = bus
        return bus

    def url(self, path, scheme="http"):
        return f"{scheme}://{HOST}:{self.port}{path}"
