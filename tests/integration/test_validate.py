"""`switchboard validate` and the other commands that start nothing: every configuration
error is reported as `file:line:column: yaml.path: message`, all of them in one run, with
the exit codes of the contract (0 ok, 1 invalid configuration, 2 bad command line).

Each tests/integration/broken/*.yaml holds one fault and says what the output must hold:

    # expect: :7:9: routes[0].to[0].file      substring of the output (one or more lines)
    # reject: missing required option         substring the output must not hold

A subdirectory of broken/ is one case validated as a directory (faults across files);
its files' expectations are merged. tests/integration/valid/ must validate cleanly.
"""
import os
import re
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("SWITCHBOARD_SOURCE_DIR") or HERE.parents[1])
BIN = os.environ.get("SWITCHBOARD_BIN") or str(
    Path("build/bin/switchboard").resolve() if Path("build/bin/switchboard").exists()
    else SOURCE_DIR / "build" / "bin" / "switchboard")
BROKEN = SOURCE_DIR / "tests" / "integration" / "broken"
VALID = SOURCE_DIR / "tests" / "integration" / "valid"

UNSET = "SWITCHBOARD_TEST_UNSET"  # must never be set for the broken and valid files
SET = "SWITCHBOARD_TEST_SET"      # the valid files read it

DIAGNOSTIC = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<rest>.*)$")
SUMMARY = re.compile(r"^(?P<count>\d+) errors?$")


def child_env(**extra):
    env = dict(os.environ)
    env.pop(UNSET, None)
    env[SET] = "/tmp/switchboard-validate-test"
    env.update(extra)
    return env


def run(*args, env=None, cwd=None):
    """Runs the binary; returns (exit code, stdout, stderr)."""
    result = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=30,
                            env=env or child_env(), cwd=cwd, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, result.stderr


def directives(path, keyword):
    prefix = f"# {keyword}:"
    return [line[len(prefix):].strip() for line in Path(path).read_text().splitlines() if line.startswith(prefix)]


def broken_cases():
    """(name, path to validate, files it covers) for every broken case."""
    cases = []
    for entry in sorted(BROKEN.iterdir()):
        if entry.is_dir():
            files = sorted(p for p in entry.iterdir() if p.suffix in (".yaml", ".yml"))
            cases.append((entry.name, entry, files))
        elif entry.suffix in (".yaml", ".yml"):
            cases.append((entry.stem, entry, [entry]))
    return cases


class ValidateTest(unittest.TestCase):
    def setUp(self):
        # validate must create nothing; running it in an empty directory makes sure relative
        # paths in the routes cannot touch the source tree.
        self.tmp = tempfile.TemporaryDirectory(prefix="sb-validate-")
        self.cwd = Path(self.tmp.name)

    def tearDown(self):
        leftovers = list(self.cwd.iterdir())
        self.tmp.cleanup()
        self.assertEqual(leftovers, [], "validate created files")

    def validate(self, *paths, env=None):
        return run("validate", *paths, env=env, cwd=self.cwd)

    def diagnostics(self, stderr, files):
        """Checks the error report's shape and returns its diagnostics as dicts: every line but
        the last is `file:line:column: ...` naming one of `files` at a place that exists in it,
        and the last line counts them."""
        lines = [line for line in stderr.splitlines() if line.strip()]
        self.assertTrue(lines, "no error output")
        summary = SUMMARY.match(lines[-1])
        self.assertIsNotNone(summary, f"last line is not 'N errors':\n{stderr}")
        found = []
        names = {str(f): f for f in files}
        for line in lines[:-1]:
            match = DIAGNOSTIC.match(line)
            self.assertIsNotNone(match, f"not file:line:column: {line!r}")
            self.assertIn(match["file"], names, f"names another file: {line!r}")
            number, column = int(match["line"]), int(match["column"])
            source = names[match["file"]].read_text().splitlines()
            self.assertTrue(1 <= number <= len(source), f"line {number} is not in the file: {line!r}")
            self.assertTrue(1 <= column <= len(source[number - 1]) + 1,
                            f"column {column} is not on line {number} ({source[number - 1]!r}): {line!r}")
            found.append(dict(match.groupdict(), line=number, column=column))
        self.assertEqual(int(summary["count"]), len(found), stderr)
        return found

    # -- broken files ------------------------------------------------------------------------

    def test_broken_files_are_enough(self):
        self.assertGreaterEqual(len(broken_cases()), 18)

    def test_broken_files(self):
        for name, path, files in broken_cases():
            with self.subTest(case=name):
                expects = [e for f in files for e in directives(f, "expect")]
                rejects = [r for f in files for r in directives(f, "reject")]
                self.assertTrue(expects, f"{name} has no '# expect:' line")
                code, out, err = self.validate(path)
                output = out + err
                self.assertEqual(code, 1, output)
                self.assertNotIn("ok:", out)
                for expect in expects:
                    self.assertIn(expect, output)
                for reject in rejects:
                    self.assertNotIn(reject, output)
                self.diagnostics(err, files)

    def test_every_fault_in_one_file_is_reported(self):
        routes = self.cwd / "several.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: first
                from:
                  file: { dir: ./in, poll: often }
                to:
                  - fiel: { dir: ./out }
                concurrency: 0
              - id: first
                from:
                  timer: { period: 1s }
                steps:
                  - set-headr: { X-A: a }
                to:
                  - when: "${header.x} = 'a'"
                    log: {}
                on_error:
                  retry: { atempts: 3 }
            """))
        try:
            code, out, err = self.validate(routes)
            self.assertEqual(code, 1, out + err)
            found = self.diagnostics(err, [routes])
            places = sorted((d["line"], d["column"], d["rest"].split(":")[0]) for d in found)
            self.assertEqual(places, [
                (4, 32, "routes[0].from.file.poll"),
                (6, 9, "routes[0].to[0].fiel"),
                (7, 18, "routes[0].concurrency"),
                (8, 9, "routes[1].id"),
                (12, 9, "routes[1].steps[0].set-headr"),
                (14, 28, "routes[1].to[0].when"),
                (17, 16, "routes[1].on_error.retry.atempts"),
            ], err)
            self.assertIn("did you mean 'file'?", err)
            self.assertIn("did you mean 'set-header'?", err)
            self.assertIn("did you mean 'attempts'?", err)
        finally:
            routes.unlink()

    def test_every_fault_found_by_the_components_is_reported(self):
        # Faults only the adapters and transforms themselves see, in three routes.
        routes = self.cwd / "components.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: one
                from:
                  timer: { period: 0s }
                to:
                  - log: { message: "${bdy}" }
              - id: two
                from:
                  timer: { period: 1s }
                steps:
                  - filter: "${body} =="
                to:
                  - file: { dir: ./out, name: /etc/passwd }
            """))
        try:
            code, out, err = self.validate(routes)
            self.assertEqual(code, 1, out + err)
            found = self.diagnostics(err, [routes])
            paths = sorted(d["rest"].split(":")[0] for d in found)
            self.assertEqual(paths, ["routes[0].from.timer.period", "routes[0].to[0].log.message",
                                     "routes[1].steps[0].filter", "routes[1].to[0].file.name"], err)
        finally:
            routes.unlink()

    def test_schema_and_component_faults_are_reported_together(self):
        """Faults the schema finds and faults only a component finds (a period of 0s) are
        reported in the same run."""
        routes = self.cwd / "mixed.yaml"
        routes.write_text(textwrap.dedent("""\
            routes:
              - id: mixed
                from:
                  timer: { period: 1s }
                to:
                  - log: { level: loud }
              - id: other
                from:
                  timer: { period: 0s }
                to:
                  - log: {}
            """))
        try:
            code, out, err = self.validate(routes)
            self.assertEqual(code, 1, out + err)
            self.assertIn("routes[0].to[0].log.level", err)
            self.assertIn("routes[1].from.timer.period", err)
        finally:
            routes.unlink()

    def test_transposed_option_name_is_suggested(self):
        """Two swapped letters count as one edit, so `dri` suggests `dir`."""
        code, out, err = self.validate(BROKEN / "unknown-option.yaml")
        self.assertEqual(code, 1, out + err)
        self.assertIn("did you mean 'dir'?", err)

    def test_unset_variable_is_not_taken_from_the_parent(self):
        # The broken case relies on the variable being unset in the child even when it is set here.
        code, out, err = self.validate(BROKEN / "unset-env.yaml", env=child_env())
        self.assertEqual(code, 1, out + err)
        code, out, err = self.validate(BROKEN / "unset-env.yaml", env=child_env(**{UNSET: "/tmp"}))
        self.assertEqual(code, 0, out + err)

    def test_missing_path(self):
        missing = self.cwd / "no-such-routes.yaml"
        code, out, err = self.validate(missing)
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"{missing}: no such file or directory", err)
        self.assertRegex(err, r"(?m)^1 error$")

    def test_directory_without_route_files(self):
        empty = self.cwd / "empty"
        empty.mkdir()
        try:
            code, out, err = self.validate(empty)
            self.assertEqual(code, 1, out + err)
            self.assertIn("no route files", err)
        finally:
            empty.rmdir()

    # -- valid files ---------------------------------------------------------------------------

    def test_valid_set(self):
        code, out, err = self.validate(VALID)
        self.assertEqual(code, 0, out + err)
        files = sorted(VALID.glob("*.yaml"))
        self.assertGreaterEqual(len(files), 2)
        self.assertIn(f"ok: 3 route(s) in {len(files)} file(s)", out)
        self.assertEqual(err, "")

    def test_valid_files_one_by_one(self):
        for path in sorted(VALID.glob("*.yaml")):
            with self.subTest(file=path.name):
                code, out, err = self.validate(path)
                self.assertEqual(code, 0, out + err)
                self.assertTrue(out.startswith("ok: "), out)

    def test_valid_set_needs_its_variable(self):
        env = child_env()
        env.pop(SET)
        code, out, err = self.validate(VALID, env=env)
        self.assertEqual(code, 1, out + err)
        self.assertIn(f"environment variable '{SET}' is not set", err)
        self.diagnostics(err, sorted(VALID.glob("*.yaml")))

    def test_quickstart_example_is_valid(self):
        code, out, err = self.validate(SOURCE_DIR / "examples" / "quickstart" / "routes.yaml")
        self.assertEqual(code, 0, out + err)

    # -- command line ---------------------------------------------------------------------------

    def test_validate_without_paths_is_a_usage_error(self):
        code, out, err = self.validate()
        self.assertEqual(code, 2, out + err)

    def test_validate_with_an_unknown_flag_is_a_usage_error(self):
        code, out, err = self.validate("--no-such-flag", VALID)
        self.assertEqual(code, 2, out + err)

    def test_version(self):
        code, out, err = run("version", cwd=self.cwd)
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out, r"switchboard \d+\.\d+\.\d+")

    def test_describe_file_lists_every_option(self):
        code, out, err = run("plugins", "--describe", "file", cwd=self.cwd)
        self.assertEqual(code, 0, out + err)
        sections = re.split(r"(?m)^(?=file \()", out)
        inbound = next(s for s in sections if s.startswith("file (inbound"))
        outbound = next(s for s in sections if s.startswith("file (outbound"))

        def options(section):
            found = {}
            for line in section.splitlines()[2:]:
                match = re.match(r"^  (\w+): (.+?) - (.+)$", line)
                self.assertIsNotNone(match, f"not 'name: type - doc': {line!r}")
                found[match[1]] = match[2]
            return found

        # The options of CONTRACT.md §4.1, with their types and defaults.
        inbound_options = options(inbound)
        self.assertLessEqual({"dir", "pattern", "poll", "recursive", "min_age", "move_to", "move_failed"},
                             set(inbound_options), out)
        self.assertIn("required", inbound_options["dir"])
        self.assertEqual(inbound_options["poll"], "duration, default 1s")
        self.assertEqual(inbound_options["pattern"], "string, default *")
        self.assertEqual(inbound_options["recursive"], "bool, default false")
        self.assertEqual(inbound_options["min_age"], "duration, default 0s")
        outbound_options = options(outbound)
        self.assertLessEqual({"dir", "name", "mode", "mkdirs", "meta"}, set(outbound_options), out)
        self.assertIn("required", outbound_options["dir"])
        self.assertEqual(outbound_options["name"], "template, default ${message.id}")
        self.assertEqual(outbound_options["mode"], "enum (write|append), default write")
        self.assertEqual(outbound_options["mkdirs"], "bool, default true")
        self.assertEqual(outbound_options["meta"], "bool, default false")

    def test_describe_unknown_name(self):
        code, out, err = run("plugins", "--describe", "fiel", cwd=self.cwd)
        self.assertEqual(code, 1, out + err)
        self.assertIn("fiel", err)


if __name__ == "__main__":
    unittest.main()
