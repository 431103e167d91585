"""Starts the real switchboard binary for integration tests and reads its JSON log."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("SWITCHBOARD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BIN = os.environ.get("SWITCHBOARD_BIN", str(SOURCE_DIR / "build" / "bin" / "switchboard"))
TEST_PLUGINS = os.environ.get("SWITCHBOARD_TEST_PLUGINS", str(SOURCE_DIR / "build" / "tests" / "test-plugins"))
BAD_PLUGINS = os.environ.get("SWITCHBOARD_BAD_PLUGINS", str(SOURCE_DIR / "build" / "tests" / "bad-plugins"))
DUP_PLUGINS = os.environ.get("SWITCHBOARD_DUP_PLUGINS", str(SOURCE_DIR / "build" / "tests" / "dup-plugins"))

HOST = "127.0.0.1"
# The admin API is on loopback: never through a proxy named in the environment.
ADMIN_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    """A port that was free a moment ago (bound to port 0 and read back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, interval=0.05, what="condition"):
    """Polls `condition` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def visible_files(directory):
    """Regular files under `directory`, relative, skipping dot files and dot directories."""
    root = Path(directory)
    if not root.exists():
        return []
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            found.append(relative)
    return found


class Bus:
    """One `switchboard run` process with its log captured to a file."""

    def __init__(self, routes, workdir, args=(), env=None, plugins=(TEST_PLUGINS,), binary=BIN):
        self.binary = str(binary)
        self.workdir = Path(workdir)
        self.routes = routes
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.plugins = list(plugins)
        # Each bus gets its own admin port, so tests run side by side.
        self.admin_port = None
        if "--admin" not in self.args:
            self.admin_port = free_port()
            self.args += ["--admin", f"{HOST}:{self.admin_port}"]
        self.process = None
        self.log_path = None
        self.stopped = False  # by stop() or kill9(), not on its own

    def start(self, wait_ready=True):
        fd, self.log_path = tempfile.mkstemp(prefix="switchboard-", suffix=".log", dir=self.workdir)
        os.close(fd)
        command = [self.binary, "run", str(self.routes), "--log-format", "json"] + self.args
        for directory in self.plugins:
            command += ["--plugins", directory]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env)
        if wait_ready:
            wait_for(lambda: self.find("ready:") or self.process.poll() is not None, 20, what="bus ready")
            if self.process.poll() is not None:
                raise AssertionError(f"bus exited with {self.process.returncode}:\n{self.log_text()}")
        return self

    def log_text(self):
        return Path(self.log_path).read_text(errors="replace") if self.log_path else ""

    def log_lines(self):
        lines = []
        for line in self.log_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"msg": line})
        return lines

    def find(self, text):
        return [line for line in self.log_lines() if text in line.get("msg", "")]

    def admin(self, path, method="GET", token=None, timeout=10):
        """Calls the admin API; returns (status, body text)."""
        request = urllib.request.Request(f"http://{HOST}:{self.admin_port}{path}", method=method,
                                         data=b"" if method == "POST" else None)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with ADMIN_OPENER.open(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def admin_json(self, path, method="GET", token=None):
        status, body = self.admin(path, method, token)
        return status, json.loads(body)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and waits; returns (exit code, seconds taken)."""
        if self.process is None or self.process.poll() is not None:
            return (self.process.returncode if self.process else None), 0.0
        self.stopped = True
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"bus did not stop within {timeout}s after signal {sig}")
        return self.process.returncode, time.monotonic() - started

    def kill9(self):
        self.stopped = True
        self.process.kill()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
