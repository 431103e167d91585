"""Plugin loading: broken plugin files give one clear line naming the file, never a crash,
and the bus still starts when no route uses them."""
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

from harness import BAD_PLUGINS, BIN, DUP_PLUGINS, TEST_PLUGINS, Bus, visible_files, wait_for

BROKEN = {
    "libswitchboard-wrongabi.so": "built for plugin ABI 99.0, but this bus has ABI 1.3",
    "libswitchboard-badkey.so": "incompatible C++ standard library",
    "libswitchboard-nosymbol.so": "does not export 'switchboard_plugin_v1'",
    "libswitchboard-notelf.so": "not a shared library",
}


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)


class PluginLoadingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sb-plugins-")
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_plugins_lists_each_broken_file_on_one_line(self):
        result = run("plugins", "--plugins", BAD_PLUGINS)
        self.assertEqual(result.returncode, 0, result.stderr)
        for file, reason in BROKEN.items():
            lines = [line for line in result.stdout.splitlines() if file in line]
            self.assertEqual(len(lines), 1, f"{file}: {result.stdout}")
            self.assertIn(reason, lines[0])
        self.assertIn("inbound file", result.stdout)

    def test_bus_starts_when_broken_plugins_are_unused(self):
        routes = self.dir / "routes.yaml"
        routes.write_text(textwrap.dedent("""
            routes:
              - id: copy
                from: { file: { dir: ./in, poll: 50ms } }
                to: [ { file: { dir: ./out } } ]
            """))
        with Bus(routes, self.dir, plugins=[BAD_PLUGINS]) as bus:
            bus.start()
            (self.dir / "in" / "a.txt").write_text("works")
            wait_for(lambda: visible_files(self.dir / "out"), 10, what="file delivered")
            warnings = [line for line in bus.log_lines() if line.get("msg", "").startswith("plugin not loaded")]
            for file in BROKEN:
                self.assertEqual(sum(file in line.get("file", "") for line in warnings), 1, file)
            self.assertEqual(bus.stop()[0], 0)

    def test_a_route_using_a_broken_plugin_names_the_file(self):
        routes = self.dir / "routes.yaml"
        routes.write_text(textwrap.dedent("""
            routes:
              - id: uses-broken
                from: { timer: { period: 1s } }
                to:
                  - wrongabi: {}
            """))
        result = run("validate", str(routes), "--plugins", BAD_PLUGINS)
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{routes}:6:9: routes[0].to[0].wrongabi: outbound adapter 'wrongabi' is unavailable: plugin",
                      result.stderr)
        self.assertIn("libswitchboard-wrongabi.so built for plugin ABI 99.0", result.stderr)
        started = subprocess.run([BIN, "run", str(routes), "--plugins", BAD_PLUGINS], capture_output=True, text=True,
                                 timeout=30, cwd=self.dir)
        self.assertEqual(started.returncode, 1)

    def test_a_duplicate_component_rejects_the_whole_plugin(self):
        result = run("plugins", "--plugins", DUP_PLUGINS)
        self.assertEqual(result.returncode, 0)
        self.assertIn("duplicate outbound 'file': already provided by", result.stdout)
        self.assertIn("libswitchboard-dupfile.so", result.stdout)

    def test_describe_prints_every_option(self):
        result = run("plugins", "--plugins", TEST_PLUGINS, "--describe", "flaky")
        self.assertEqual(result.returncode, 0)
        self.assertIn("fail_times: int, default 2", result.stdout)
        missing = run("plugins", "--describe", "fiel")
        self.assertEqual(missing.returncode, 1)
        self.assertIn("no adapter or transform named 'fiel'", missing.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
