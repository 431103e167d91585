"""A real PostgreSQL 15 server for integration tests: initdb into a temp directory, the postmaster
as a child process on 127.0.0.1 and a free port, psql to set up and check data.

    pg = PostgresServer().start()
    pg.psql("CREATE TABLE t(id int)")
    pg.url        # postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable
    pg.stop()     # fast shutdown; start() again brings it back on the same port and data
    pg.close()    # stop and remove the directory

Without the PostgreSQL binaries, start() raises unittest.SkipTest with the reason."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from peers import HOST, free_port

PG_BIN = Path(os.environ.get("SWITCHBOARD_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # the OS account that owns the data directory when we run as root


def _binary(name):
    candidate = PG_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    return found


def missing_binaries():
    """A reason string when PostgreSQL cannot be started here, else None."""
    missing = [name for name in ("initdb", "postgres", "psql") if not _binary(name)]
    if missing:
        return f"PostgreSQL binaries not found ({', '.join(missing)}; looked in {PG_BIN} and PATH)"
    if os.geteuid() == 0:
        try:
            import pwd
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root and there is no '{PG_USER}' account for initdb"
    return None


class PostgresServer:
    """One postmaster with its own data directory, socket directory and port."""

    password = "sb-test-secret"

    def __init__(self, port=None, start_timeout=30, stop_timeout=20):
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.base = None
        self.process = None
        self.log_path = None
        self._initialised = False

    # -- paths and urls -------------------------------------------------------------------------

    @property
    def data_dir(self):
        return self.base / "data"

    @property
    def socket_dir(self):
        return self.base / "sock"

    @property
    def url(self):
        return f"postgresql://postgres:{self.password}@{HOST}:{self.port}/postgres?sslmode=disable"

    def url_for(self, database="postgres"):
        return f"postgresql://postgres:{self.password}@{HOST}:{self.port}/{database}?sslmode=disable"

    # -- lifecycle ------------------------------------------------------------------------------

    def _as_postgres(self):
        """Popen keywords that run a child as the postgres account when we are root."""
        if os.geteuid() == 0:
            return {"user": PG_USER, "group": PG_USER, "extra_groups": []}
        return {}

    def _initdb(self):
        reason = missing_binaries()
        if reason:
            raise unittest.SkipTest(reason)
        self.base = Path(tempfile.mkdtemp(prefix="sb-pg-"))
        self.socket_dir.mkdir()
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            import pwd
            entry = pwd.getpwnam(PG_USER)
            for path in (self.base, self.socket_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            prefix = ["runuser", "-u", PG_USER, "--"]
        else:
            prefix = []
        command = prefix + [_binary("initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
                            f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(command, cwd=self.base, capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout.decode(errors='replace')}"
                               f"{done.stderr.decode(errors='replace')}")
        self._initialised = True

    def start(self):
        if self.process is not None and self.process.poll() is None:
            return self
        if not self._initialised:
            self._initdb()
        if self.port is None:
            self.port = free_port()
        self.log_path = self.base / "postgres.log"
        command = [_binary("postgres"), "-D", str(self.data_dir), "-c", f"listen_addresses={HOST}",
                   "-p", str(self.port), "-k", str(self.socket_dir), "-c", "fsync=off",
                   "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                   "-c", "max_connections=100", "-c", "log_min_messages=warning"]
        with open(self.log_path, "ab") as log:
            # The postmaster itself is our child (not pg_ctl's daemon, not runuser's child), so
            # signals reach it directly and stop() can bound the shutdown.
            self.process = subprocess.Popen(command, cwd=self.base, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            **self._as_postgres())
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
            probe = self.psql("SELECT 1", check=False, timeout=5, connect_timeout=2)
            if probe.returncode == 0 and probe.stdout.strip() == "1":
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"postgres not accepting connections after {self.start_timeout}s:\n"
                                   f"{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self):
        """Fast shutdown (SIGINT: clients are disconnected, nothing waits for them); after the bound
        an immediate shutdown (SIGQUIT), then SIGKILL. Returns the exit code (None if not running)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            for sig, bound in ((signal.SIGINT, self.stop_timeout), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
                try:
                    process.send_signal(sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=bound)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if process.poll() is None:
                process.wait()
        return process.returncode

    def running(self):
        return self.process is not None and self.process.poll() is None

    def close(self):
        """stop() and remove the data directory."""
        try:
            self.stop()
        finally:
            if self.base is not None:
                shutil.rmtree(self.base, ignore_errors=True)
                self.base = None
                self._initialised = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def log_text(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except (TypeError, OSError):
            return ""

    # -- psql -----------------------------------------------------------------------------------

    def psql(self, sql, check=True, timeout=120, connect_timeout=10, database="postgres", args=()):
        """Runs `sql` (one or more statements, sent on stdin) with psql -At and ON_ERROR_STOP.
        check=True: returns stdout (text) and raises on any error; check=False: the CompletedProcess."""
        command = [_binary("psql") or "psql", "-X", "-h", HOST, "-p", str(self.port), "-U", "postgres",
                   "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-q", *args, "-f", "-"]
        env = dict(os.environ, PGCONNECT_TIMEOUT=str(connect_timeout), PGPASSWORD=self.password,
                   PGCLIENTENCODING="UTF8")
        env.pop("PGSERVICE", None)
        done = subprocess.run(command, input=sql.encode() if isinstance(sql, str) else sql, capture_output=True,
                              timeout=timeout, env=env)
        result = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(errors="replace"),
                                             done.stderr.decode(errors="replace"))
        if not check:
            return result
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}) on {sql[:200]!r}:\n{result.stderr}")
        return result.stdout

    def scalar(self, sql):
        """The single value `sql` returns, as text."""
        return self.psql(sql).strip()

    def rows(self, sql):
        """The rows of one query as tuples of text (NULL reads as None). Values may hold any
        character but U+001E / U+001F, which separate records and fields here."""
        out = self.psql(sql, args=("-F", "\x1f", "-R", "\x1e", "-P", "null=\x01NULL"))
        if out.endswith("\n"):
            out = out[:-1]  # psql ends the output with one newline
        if not out:
            return []
        records = out.split("\x1e")
        return [tuple(None if v == "\x01NULL" else v for v in record.split("\x1f")) for record in records]
