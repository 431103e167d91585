"""The installed layout: the .deb that `cpack -G DEB` builds, unpacked without root, and a
`cmake --install --prefix` tree. Both run with nothing but PATH in the environment, so the
binary and its plugins find libswitchboard through their RPATH alone."""
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import BIN

# The build directory CPack and `cmake --install` read: the binary is its bin/switchboard.
BUILD_DIR = Path(os.environ.get("SWITCHBOARD_BUILD_DIR", Path(BIN).resolve().parents[1]))
# Plugins `cmake --install` ships at least; the test plugins (tests/plugins) are never installed.
SHIPPED_PLUGINS = {"amqp", "database", "file", "log", "mqtt", "rest", "soap", "timer", "transforms"}
TEST_PLUGINS = {"testkit", "wrongabi", "badkey", "nosymbol", "notelf", "dupfile"}
# Debian runtime libraries the binary, the core library and the plugins link (by package name prefix).
RUNTIME_LIBRARIES = ("libyaml-cpp", "libcurl", "libpq5", "libsqlite3", "libssl", "libpugixml", "libjq")


def clean_env():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    # A sanitizer build's binary needs its runtime options as the other tests give them.
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run(command, cwd=None, timeout=60):
    return subprocess.run([str(part) for part in command], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def plugin_dir(prefix):
    """<prefix>/<libdir>/switchboard/plugins, whatever the libdir (lib, lib/x86_64-linux-gnu)."""
    found = sorted((prefix / "lib").glob("**/switchboard/plugins"))
    return found[0] if len(found) == 1 else None


def depends_names(depends):
    """Package names of a Depends field: `libc6 (>= 2.34), libpq5 (>= 9.4)` -> [libc6, libpq5]."""
    names = []
    for relation in depends.split(","):
        for alternative in relation.split("|"):
            names.append(alternative.strip().split(" ")[0].split(":")[0])
    return names


@unittest.skipIf(os.environ.get("SWITCHBOARD_SANITIZED") in ("1", "ON", "TRUE", "true"),
                 "packaging is checked on the optimised build; a sanitizer build is not shipped")
@unittest.skipUnless(shutil.which("dpkg-deb") and shutil.which("cpack"), "needs dpkg-deb and cpack")
class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sb-install-")
        tmp = Path(cls.tmp.name)
        packaged = run(["cpack", "-G", "DEB", "-B", tmp / "package", "--config", BUILD_DIR / "CPackConfig.cmake"],
                       cwd=BUILD_DIR, timeout=300)
        if packaged.returncode != 0:
            cls.tmp.cleanup()
            raise AssertionError(f"cpack failed:\n{packaged.stdout}\n{packaged.stderr}")
        debs = sorted((tmp / "package").glob("*.deb"))
        if len(debs) != 1:
            cls.tmp.cleanup()
            raise AssertionError(f"expected one .deb, got {debs}:\n{packaged.stdout}")
        cls.deb = debs[0]
        cls.root = tmp / "root"
        extracted = run(["dpkg-deb", "-x", cls.deb, cls.root])
        if extracted.returncode != 0:
            cls.tmp.cleanup()
            raise AssertionError(f"dpkg-deb -x failed: {extracted.stderr}")
        cls.usr = cls.root / "usr"
        cls.bin = cls.usr / "bin" / "switchboard"

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def field(self, name):
        result = run(["dpkg-deb", "-f", self.deb, name])
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    def assert_runs_with_shipped_plugins(self, prefix):
        binary = prefix / "bin" / "switchboard"
        version = run([binary, "version"])
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertTrue(version.stdout.startswith("switchboard "), version.stdout)
        linked = run(["ldd", binary])
        # `libswitchboard.so.1 => <prefix>/bin/../lib/libswitchboard.so.1 (0x...)`: from the RPATH.
        library = [line.split() for line in linked.stdout.splitlines() if "libswitchboard.so" in line]
        self.assertEqual(len(library), 1, linked.stdout)
        self.assertTrue(Path(library[0][2]).resolve().is_relative_to(prefix.resolve()), linked.stdout)

        plugins = plugin_dir(prefix)
        self.assertIsNotNone(plugins, f"no single <libdir>/switchboard/plugins under {prefix}")
        files = {p.name[len("libswitchboard-"):-len(".so")] for p in plugins.glob("libswitchboard-*.so")}
        self.assertLessEqual(SHIPPED_PLUGINS, files)
        self.assertFalse(TEST_PLUGINS & files, files)
        listed = run([binary, "plugins"])
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertNotIn("not loaded", listed.stdout)
        # `name version file`, then its components indented.
        loaded = {}
        for line in listed.stdout.splitlines():
            if line and not line.startswith(" "):
                name, _, file = line.split(" ", 2)
                loaded[name] = Path(file)
        self.assertEqual(set(loaded), files, listed.stdout)
        for name, file in loaded.items():
            self.assertEqual(file.parent, plugins, f"{name}: {file}")
        return version.stdout

    def test_depends_names_the_runtime_libraries(self):
        self.assertEqual(self.field("Package"), "switchboard")
        self.assertEqual(self.field("Section"), "net")
        depends = self.field("Depends")
        names = depends_names(depends)
        for library in RUNTIME_LIBRARIES:
            self.assertTrue(any(name.startswith(library) for name in names), f"{library} not in Depends: {depends}")
        self.assertIn("libc6", names)
        self.assertIn("adduser", names)
        self.assertFalse(any(name.startswith("libswitchboard") for name in names), depends)

    def test_package_layout(self):
        usr = self.usr
        self.assertTrue(os.access(self.bin, os.X_OK))
        self.assertTrue(list((usr / "lib").glob("**/libswitchboard.so.1")))
        self.assertTrue((usr / "include" / "switchboard").is_dir())
        for doc in ("README.md", "LICENSE", "cli.md", "routes.md", "plugins.md"):
            self.assertTrue((usr / "share" / "doc" / "switchboard" / doc).is_file(), doc)
        unit = usr / "lib" / "systemd" / "system" / "switchboard.service"
        self.assertIn("ExecStart=/usr/bin/switchboard run /etc/switchboard/routes", unit.read_text())
        self.assertTrue((usr / "share" / "switchboard" / "examples" / "deploy" / "README.md").is_file())
        installed = {p.name for p in self.root.rglob("libswitchboard-*.so")}
        self.assertFalse({f"libswitchboard-{name}.so" for name in TEST_PLUGINS} & installed, installed)
        # Nothing the examples leave behind when run in place, nothing of the build tree.
        leftovers = [p for p in self.root.rglob("*") if p.name.startswith(".") or p.suffix == ".db"
                     or "CMakeFiles" in p.parts]
        self.assertEqual(leftovers, [])

    def test_installed_binary_and_plugins_run(self):
        version = self.assert_runs_with_shipped_plugins(self.usr)
        self.assertIn(self.field("Version"), version)

    def test_every_installed_example_validates(self):
        examples = sorted((self.usr / "share" / "switchboard" / "examples").glob("*/routes.yaml"))
        self.assertGreaterEqual({p.parent.name for p in examples}, {"quickstart", "outbox", "soap-bridge"})
        for routes in examples:
            with self.subTest(example=routes.parent.name):
                # From the example's directory, as its README runs it (the SOAP bridge reads its WSDL
                # and template there). Every ${env.X} in the examples has a default, so none is set.
                before = sorted(routes.parent.rglob("*"))
                result = run([self.bin, "validate", routes], cwd=routes.parent)
                self.assertEqual(result.returncode, 0, f"{routes}: {result.stdout}{result.stderr}")
                self.assertTrue(result.stdout.startswith("ok: "), result.stdout)
                # Nothing written: the installed examples are read-only to their users.
                self.assertEqual(sorted(routes.parent.rglob("*")), before)

    def test_cmake_install_prefix(self):
        with tempfile.TemporaryDirectory(prefix="sb-prefix-") as tmp:
            prefix = Path(tmp)
            installed = run(["cmake", "--install", BUILD_DIR, "--prefix", prefix], timeout=120)
            self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
            self.assert_runs_with_shipped_plugins(prefix)
            self.assertTrue((prefix / "share" / "switchboard" / "examples" / "quickstart" / "routes.yaml").is_file())
            self.assertTrue((prefix / "share" / "doc" / "switchboard" / "README.md").is_file())


if __name__ == "__main__":
    unittest.main(verbosity=2)
