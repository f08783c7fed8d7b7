"""Fail-to-pass: `export` is removed as a prefix; the name after it is kept whole."""

import os
import tempfile
import unittest
from pathlib import Path

from envfile import dotenv_values, load_env


class ExportNames(unittest.TestCase):
    def write(self, text):
        folder = tempfile.mkdtemp()
        path = Path(folder) / ".env"
        path.write_text(text)
        return path

    def test_names_starting_with_prefix_letters(self):
        path = self.write("export port_number=8000\nexport token=abc\nexport e=1\nexport  x_y = 2\n")
        self.assertEqual(dotenv_values(path), {"port_number": "8000", "token": "abc", "e": "1", "x_y": "2"})

    def test_load_env_sets_whole_names(self):
        path = self.write("export ROUTE_BENCH_port_probe=8000\nexport report_BENCH_PROBE=yes\n")
        os.environ.pop("ROUTE_BENCH_port_probe", None)
        os.environ.pop("report_BENCH_PROBE", None)
        self.assertTrue(load_env(path))
        self.assertEqual(os.environ.get("ROUTE_BENCH_port_probe"), "8000")
        self.assertEqual(os.environ.get("report_BENCH_PROBE"), "yes")
        self.assertNotIn("_BENCH_PROBE", os.environ)
