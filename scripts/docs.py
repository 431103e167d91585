#!/usr/bin/env python3
"""Keeps the option tables in the docs equal to what the plugins declare.

Each `<!-- options: NAME -->` ... `<!-- end options -->` block in an adapter README or in
docs/transforms.md is replaced by
`switchboard plugins --describe NAME --markdown`. With --check, nothing is written and the
exit code says whether every block is current.
usage: scripts/docs.py [--check] [--bin PATH]
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- options: ([a-z0-9-]+) -->\n)(.*?)(<!-- end options -->)", re.S)


def readmes():
    return sorted(ROOT.glob("adapters/*/README.md")) + [ROOT / "docs" / "transforms.md"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--bin", default=str(ROOT / "build" / "bin" / "switchboard"))
    args = parser.parse_args()
    stale = []
    for readme in readmes():
        text = readme.read_text()

        def table(match):
            out = subprocess.run([args.bin, "plugins", "--describe", match.group(2), "--markdown"],
                                 capture_output=True, text=True, check=True).stdout
            return match.group(1) + out + match.group(4)

        updated = BLOCK.sub(table, text)
        if not BLOCK.search(text):
            stale.append(f"{readme.relative_to(ROOT)}: no '<!-- options: NAME -->' block")
        elif updated != text:
            stale.append(str(readme.relative_to(ROOT)))
            if not args.check:
                readme.write_text(updated)
    if args.check and stale:
        print("option tables out of date (run scripts/docs.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
