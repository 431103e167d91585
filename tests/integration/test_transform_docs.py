"""Every example in docs/transforms.md runs through the real bus and gives exactly the output
the page shows, and every transform of the transforms plugin has a section and an example.

An example is the text between `<!-- example: NAME -->` and `<!-- end example -->`. Its fenced
blocks say what they are after the language:
  ```yaml steps           the route's steps (a YAML list)
  ```json input [NAME]    the body of the file dropped into the route (default name input.<language>)
  ```json output [INDEX]  the body written by the file outbound, exactly; after a split, one
                          block per child, INDEX being its split.index
A block's last line end belongs to the page, not to the body, except in CSV, where every line
ends (in LF on input, which the reader accepts; in CRLF on output, which the writer writes).
  ```text headers         `Name: value` lines, each a header of the delivered message
  ```text error           the dead letter's error.message, exactly
An example without output or error expects the message to be dropped.
"""
import json
import re
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

from harness import BIN, SOURCE_DIR, Bus, visible_files, wait_for

DOC = SOURCE_DIR / "docs" / "transforms.md"
EXAMPLE = re.compile(r"<!-- example: ([a-z0-9][a-z0-9-]*) -->\n(.*?)<!-- end example -->", re.S)
FENCE = re.compile(r"^```(\w+) (\w+)(?: (\S+))?\n(.*?)^```$", re.S | re.M)
EXTENSIONS = {"json": "json", "xml": "xml", "csv": "csv", "text": "txt"}


def examples(text):
    """{name: {role: (language, argument, content)}} for every example in `text`."""
    found = {}
    for name, body in EXAMPLE.findall(text):
        blocks = {}
        for language, role, argument, content in FENCE.findall(body):
            key = f"output {argument}" if role == "output" and argument else role
            if key in blocks:
                raise AssertionError(f"example {name}: two '{key}' blocks")
            blocks[key] = (language, argument, content)
        if name in found:
            raise AssertionError(f"example {name} appears twice")
        if "steps" not in blocks or "input" not in blocks:
            raise AssertionError(f"example {name} needs a 'yaml steps' and an 'input' block")
        found[name] = blocks
    return found


def body_of(language, content, output=False):
    """The bytes a block stands for."""
    if language == "csv":
        return (content.replace("\n", "\r\n") if output else content).encode()
    return content[:-1].encode() if content.endswith("\n") else content.encode()


def run_examples(found, workdir):
    """Runs every example as one route of one bus; {name: (body or None, meta or None, dead meta or None)}."""
    workdir = Path(workdir)
    routes = ["routes:"]
    for name, blocks in found.items():
        steps = textwrap.indent(blocks["steps"][2], " " * 6)
        routes.append(f"""  - id: {name}
    from: {{ file: {{ dir: ./{name}/in, poll: 50ms }} }}
    steps:
{steps}    to:
      - file: {{ dir: ./{name}/out, name: "out${{header.split.index}}", meta: true }}
    on_error:
      dead_letter: {{ file: {{ dir: ./{name}/dead, name: in, meta: true }} }}
""")
    route_file = workdir / "routes.yaml"
    route_file.write_text("\n".join(routes))
    results = {}
    with Bus(route_file, workdir, plugins=()) as bus:
        bus.start()
        for name, blocks in found.items():
            language, argument, content = blocks["input"]
            inbox = workdir / name / "in"
            inbox.mkdir(parents=True, exist_ok=True)
            target = argument or f"input.{EXTENSIONS.get(language, language)}"
            (inbox / f".{target}").write_bytes(body_of(language, content))
            (inbox / f".{target}").rename(inbox / target)
        # A file leaves the inbox only when the route is done with it: delivered, dropped or dead.
        wait_for(lambda: all(not visible_files(workdir / name / "in") for name in found), 30, what="every example done")
        bus.stop()
    for name in found:
        out, dead = workdir / name / "out", workdir / name / "dead"
        delivered = {}  # file name (out, or out<split.index>): (body, meta)
        for path in sorted(out.glob("out*")) if out.exists() else ():
            if not path.name.endswith(".meta.json"):
                delivered[path.name] = (path.read_bytes(), json.loads(path.with_name(path.name + ".meta.json").read_text()))
        dead_meta = json.loads((dead / "in.meta.json").read_text()) if (dead / "in.meta.json").exists() else None
        results[name] = (delivered, dead_meta)
    return results


class TransformDocsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = DOC.read_text()
        cls.examples = examples(cls.text)
        cls.tmp = tempfile.TemporaryDirectory(prefix="sb-docs-")
        cls.results = run_examples(cls.examples, cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_example_gives_the_output_shown(self):
        self.assertGreater(len(self.examples), 0)
        for name, blocks in self.examples.items():
            with self.subTest(example=name):
                delivered, dead = self.results[name]
                if "error" in blocks:
                    self.assertEqual(delivered, {}, "delivered, but the page shows an error")
                    self.assertIsNotNone(dead, "not in the dead letter directory")
                    self.assertEqual(dead["headers"].get("error.message"), blocks["error"][2].rstrip("\n"))
                    continue
                self.assertIsNone(dead, dead and dead["headers"].get("error.message"))
                outputs = {"out" + (block[1] or ""): block for key, block in blocks.items() if key.startswith("output")}
                self.assertEqual(sorted(delivered), sorted(outputs), "messages delivered")
                for file_name, (language, _, content) in outputs.items():
                    body, meta = delivered[file_name]
                    self.assertEqual(body.decode(errors="replace"),
                                     body_of(language, content, output=True).decode(errors="replace"))
                    for line in blocks.get("headers", ("", None, ""))[2].splitlines():
                        header, value = line.split(": ", 1)
                        self.assertEqual(meta["headers"].get(header), value, f"header {header}")

    def test_every_transform_has_a_section_and_an_example(self):
        listing = subprocess.run([BIN, "plugins"], capture_output=True, text=True, check=True).stdout
        plugin = re.search(r"^transforms .*\n((?:  .*\n)*)", listing, re.M)
        self.assertIsNotNone(plugin, listing)
        names = re.findall(r"^  transform (\S+)$", plugin.group(1), re.M)
        self.assertGreater(len(names), 10)
        for name in names:
            with self.subTest(transform=name):
                self.assertIn(f"<!-- options: {name} -->", self.text)
                self.assertTrue(any(re.search(rf"^\s*- {re.escape(name)}:", blocks["steps"][2], re.M)
                                    for blocks in self.examples.values()), f"no example uses {name}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
