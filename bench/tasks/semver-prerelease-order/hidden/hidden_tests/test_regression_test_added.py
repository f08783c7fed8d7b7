"""The repository's own tests must pass with the change and fail on the original module: the fix came
with a test that catches the bug."""

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL = Path(__file__).resolve().parent / "original" / "semver_mini.py"


def run_repo_tests(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."], cwd=root,
                          capture_output=True, text=True, timeout=60)


class RegressionTestAdded(unittest.TestCase):
    def test_repo_tests_pass_with_the_change(self):
        done = run_repo_tests(ROOT)
        self.assertEqual(done.returncode, 0, done.stderr[-2000:])

    def test_repo_tests_fail_on_the_original_module(self):
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "repo"
            shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("hidden_tests", "__pycache__"))
            shutil.copy(ORIGINAL, copy / "semver_mini.py")
            done = run_repo_tests(copy)
        self.assertNotEqual(done.returncode, 0, "no test under tests/ fails on the original semver_mini.py")
