"""The plugin SDK from outside the source tree: Switchboard installed into a temporary prefix,
the tutorial of docs/plugins.md followed as written, and the example plugins of
examples/plugins built from copies against that prefix only, then run end to end (the redis
adapter against a redis-server started here). Also what the bus says about plugins that fail:
a factory that throws, a component that throws on every message, a schema that rejects the YAML."""
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

from harness import BIN, HOST, SOURCE_DIR, TEST_PLUGINS, Bus, free_port, visible_files, wait_for
from peers import curl

BUILD_DIR = Path(os.environ.get("SWITCHBOARD_BUILD_DIR", Path(BIN).resolve().parents[1]))
SANITIZED = os.environ.get("SWITCHBOARD_SANITIZED") in ("1", "ON", "TRUE", "true")
TUTORIAL_MARK = re.compile(r"<!-- tutorial: (file (\S+)|run) -->\n```[a-z]*\n(.*?)```", re.S)


def run(command, cwd=None, env=None, timeout=300):
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    return result


def configure_and_build(source, build, prefix):
    """Configures and builds a plugin project against `prefix` only; returns the cmake output."""
    configured = run(["cmake", "-S", source, "-B", build, "-G", "Ninja", f"-DCMAKE_PREFIX_PATH={prefix}",
                      "-DCMAKE_BUILD_TYPE=Release"])
    if configured.returncode != 0:
        raise AssertionError(f"configuring {source} failed:\n{configured.stdout}\n{configured.stderr}")
    built = run(["cmake", "--build", build])
    if built.returncode != 0:
        raise AssertionError(f"building {source} failed:\n{built.stdout}\n{built.stderr}")
    return configured.stdout + built.stdout


@unittest.skipIf(SANITIZED, "the SDK is built and used the same way in the optimised build's run")
@unittest.skipUnless(shutil.which("cmake") and shutil.which("ninja"), "needs cmake and ninja")
class SdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sb-sdk-")
        cls.dir = Path(cls.tmp.name)
        cls.prefix = cls.dir / "prefix"
        installed = run(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix])
        if installed.returncode != 0:
            cls.tmp.cleanup()
            raise AssertionError(f"cmake --install failed:\n{installed.stdout}\n{installed.stderr}")
        cls.bin = cls.prefix / "bin" / "switchboard"
        # Copies, so nothing can reach into the source tree by a relative path.
        cls.src = cls.dir / "src"
        shutil.copytree(SOURCE_DIR / "examples" / "plugins", cls.src)
        cls.mask_plugins = cls.dir / "build-mask" / "plugins"
        configure_and_build(cls.src / "mask", cls.dir / "build-mask", cls.prefix)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def env(self, **extra):
        return {"PATH": f"{self.prefix / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": os.environ.get("HOME", "/tmp"), **extra}

    def test_the_installed_package_points_only_into_the_prefix(self):
        package = next(self.prefix.glob("lib*/**/cmake/Switchboard/SwitchboardConfig.cmake"), None)
        self.assertIsNotNone(package, "no SwitchboardConfig.cmake under the prefix")
        for file in package.parent.glob("*.cmake"):
            self.assertNotIn(str(SOURCE_DIR), file.read_text(), f"{file.name} names the source tree")
        cache = (self.dir / "build-mask" / "CMakeCache.txt").read_text()
        self.assertNotIn(str(SOURCE_DIR), cache)
        self.assertIn(f"Switchboard_DIR:PATH={package.parent}", cache)
        self.assertTrue((self.prefix / "include" / "switchboard" / "plugin.hpp").is_file())

    def test_the_tutorial_works_as_written(self):
        text = (SOURCE_DIR / "docs" / "plugins.md").read_text()
        blocks = TUTORIAL_MARK.findall(text)
        self.assertGreaterEqual(len(blocks), 5, "the tutorial's blocks are marked <!-- tutorial: ... -->")
        work = self.dir / "tutorial"
        work.mkdir()
        outputs = []
        for _, name, body in blocks:
            if name:
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(body)
                continue
            ran = run(["bash", "-euo", "pipefail", "-c", body], cwd=work,
                      env=self.env(SWITCHBOARD_PREFIX=str(self.prefix)))
            self.assertEqual(ran.returncode, 0, f"tutorial commands failed:\n{body}\n{ran.stdout}\n{ran.stderr}")
            outputs.append(ran.stdout)
        output = "\n".join(outputs)
        self.assertIn("upper (transform", output)
        self.assertIn("keep_first: bool, default false - leave the first character as it is", output)
        self.assertIn("PASS  shout: the body is upper-cased but for its first character", output)
        self.assertIn("1 passed, 0 failed", output)

    def test_the_mask_plugin_loads_and_its_cases_pass(self):
        described = run([self.bin, "plugins", "--plugins", self.mask_plugins, "--describe", "mask"], env=self.env())
        self.assertEqual(described.returncode, 0, described.stderr)
        self.assertIn(f"mask (transform, {self.mask_plugins / 'libswitchboard-mask.so'})", described.stdout)
        self.assertIn("fields: list of strings, required", described.stdout)
        cases = run([self.bin, "test", "routes.yaml", "--cases", "tests/cases.yaml", "--plugins", self.mask_plugins],
                    cwd=self.src / "mask", env=self.env())
        self.assertEqual(cases.returncode, 0, cases.stdout + cases.stderr)
        self.assertIn("3 passed, 0 failed", cases.stdout)

    def test_a_schema_that_rejects_the_yaml_is_a_configuration_error(self):
        routes = self.dir / "schema.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: bad-mask
                from: { timer: { period: 1s } }
                steps:
                  - mask: { keep: -1, fieldz: [a] }
                to: [ { log: {} } ]
            """))
        checked = run([self.bin, "validate", routes, "--plugins", self.mask_plugins], env=self.env())
        self.assertEqual(checked.returncode, 1)
        self.assertIn(f"{routes}:5:27: routes[0].steps[0].mask.fieldz: unknown option 'fieldz' for 'mask'; "
                      "did you mean 'fields'?", checked.stderr)
        self.assertIn(f"{routes}:5:9: routes[0].steps[0].mask: missing required option 'fields' for 'mask'",
                      checked.stderr)

    @unittest.skipUnless(shutil.which("redis-server") and shutil.which("redis-cli"), "needs redis-server")
    def test_the_redis_plugin_end_to_end(self):
        redis_plugins = self.dir / "build-redis" / "plugins"
        configure_and_build(self.src / "redis", self.dir / "build-redis", self.prefix)
        port = free_port()
        redis = RedisServer(self.dir / "redis", port)
        try:
            redis.start()
            http_port = free_port()
            env = {"REDIS_URL": f"redis://{HOST}:{port}", "REDIS_EXAMPLE_PORT": str(http_port)}
            bus = Bus(self.src / "redis" / "routes.yaml", self.src / "redis", env=env, binary=self.bin,
                      plugins=[str(redis_plugins), str(self.mask_plugins)])
            with bus:
                bus.start()
                url = f"http://{HOST}:{http_port}/orders"
                for i, region in enumerate(["eu", "eu", "us"]):
                    answer = curl(f"{url}/{region}", data=f'{{"n": {i}, "card": {{"number": "4111111111111111"}}}}')
                    self.assertEqual(answer.status, 202, answer.body)
                self.assertEqual(redis.cli("LRANGE", "orders:eu", "0", "-1"),
                                 ['{"card":{"number":"************1111"},"n":0}',
                                  '{"card":{"number":"************1111"},"n":1}'])
                self.assertEqual(redis.cli("LRANGE", "orders:us", "0", "-1"),
                                 ['{"card":{"number":"************1111"},"n":2}'])
                # Redis goes away: the pooled connection breaks, the retries fail, the caller
                # gets 502; the bus runs on, and when Redis is back the next order goes through.
                redis.stop()
                answer = curl(f"{url}/eu", data='{"n": 3}')
                self.assertEqual(answer.status, 502, answer.body)
                self.assertIsNone(bus.process.poll())
                redis.start()
                answer = curl(f"{url}/eu", data='{"n": 4}')
                self.assertEqual(answer.status, 202, answer.body)
                self.assertEqual(redis.cli("LRANGE", "orders:eu", "0", "-1"), ['{"n": 4}'])  # as sent: nothing to mask
                # The plugin's own counters, beside the bus's, on /metrics.
                status, metrics = bus.admin("/metrics")
                self.assertEqual(status, 200)
                self.assertIn("# TYPE redis_commands_total counter", metrics)
                self.assertIn('redis_commands_total{outcome="ok",route="orders-to-redis"} 4', metrics)
                # Three attempts failed while Redis was down (the pooled connection, then refused connects).
                self.assertRegex(metrics, r'redis_commands_total\{outcome="failed",route="orders-to-redis"\} [1-3]\n')
                self.assertRegex(metrics, r'redis_connects_total\{route="orders-to-redis"\} [2-9]\n')
                self.assertEqual(bus.stop()[0], 0)
        finally:
            redis.stop()


class RedisServer:
    """redis-server on a loopback port, in memory only (no RDB, no AOF)."""

    def __init__(self, directory, port):
        self.directory = Path(directory)
        self.port = port
        self.process = None

    def start(self):
        self.directory.mkdir(exist_ok=True)
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
                                         "--appendonly", "no", "--dir", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == ["PONG"], 10, what="redis-server up")

    def cli(self, *args):
        result = subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port), "--raw", *args], capture_output=True,
                                text=True, timeout=10)
        return result.stdout.splitlines() if result.returncode == 0 else None

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class BoundaryTest(unittest.TestCase):
    def test_plugins_include_no_header_private_to_the_core(self):
        """The build enforces it (the core's own headers are not on a plugin's include path);
        this says where, should a target ever get that path."""
        include = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
        private = SOURCE_DIR / "core" / "src"
        private_dirs = {p.name for p in private.iterdir() if p.is_dir()}
        offenders = []
        for root in ("adapters", "transforms", "examples/plugins"):
            for source in sorted((SOURCE_DIR / root).rglob("*.[ch]pp")):
                for header in include.findall(source.read_text()):
                    if header.split("/")[0] in private_dirs or (private / header).exists():
                        offenders.append(f"{source.relative_to(SOURCE_DIR)}: {header}")
        self.assertEqual(offenders, [])


class FailingPluginTest(unittest.TestCase):
    """Plugins that fail at construction or on every message: a clear error naming them, and
    the bus runs on where the contract says it does."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sb-failing-")
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_a_factory_that_throws_names_the_plugin(self):
        routes = self.dir / "routes.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: uses-refuse
                from: { timer: { period: 1s } }
                to:
                  - refuse: { reason: "no licence for this host" }
            """))
        checked = run([BIN, "validate", routes, "--plugins", TEST_PLUGINS])
        self.assertEqual(checked.returncode, 1)
        self.assertIn(f"{routes}:5:9: routes[0].to[0].refuse: 'refuse' (plugin libswitchboard-testkit.so) failed to "
                      "start: no licence for this host", checked.stderr)
        started = run([BIN, "run", routes, "--plugins", TEST_PLUGINS, "--admin", "off"], cwd=self.dir, timeout=30)
        self.assertEqual(started.returncode, 1)
        self.assertIn("libswitchboard-testkit.so", started.stderr)

    def test_a_component_that_throws_on_every_message_fails_only_its_messages(self):
        routes = self.dir / "routes.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: exploding
                from: { file: { dir: ./in-a, poll: 50ms } }
                to: [ { explode: { marker: "" } } ]
                on_error:
                  dead_letter: { file: { dir: ./dead, meta: true } }
              - id: healthy
                from: { file: { dir: ./in-b, poll: 50ms } }
                to: [ { file: { dir: ./out } } ]
            """))
        with Bus(routes, self.dir) as bus:
            bus.start()
            for i in range(5):
                (self.dir / "in-a" / f"a{i}.txt").write_text("x")
                (self.dir / "in-b" / f"b{i}.txt").write_text("y")
            wait_for(lambda: len(visible_files(self.dir / "out")) == 5, 10, what="the healthy route delivered")
            wait_for(lambda: len([f for f in visible_files(self.dir / "dead") if not str(f).endswith(".meta.json")])
                     == 5, 10, what="the exploding route's messages dead-lettered")
            meta = next(p for p in (self.dir / "dead").iterdir() if p.name.endswith(".meta.json")).read_text()
            self.assertIn("'explode' (plugin libswitchboard-testkit.so) threw: explode: marker found", meta)
            self.assertIsNone(bus.process.poll())
            self.assertEqual(bus.stop()[0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
