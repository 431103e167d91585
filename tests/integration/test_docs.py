"""Every option table in the adapter READMEs and docs/transforms.md matches what the plugins declare."""
import subprocess
import sys
import unittest

from harness import BIN, SOURCE_DIR


class DocsTest(unittest.TestCase):
    def test_option_tables_are_current(self):
        result = subprocess.run([sys.executable, str(SOURCE_DIR / "scripts" / "docs.py"), "--check", "--bin", BIN],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
