"""Pass-to-pass: plain, quoted and commented lines parse as before."""

import tempfile
import unittest
from pathlib import Path

from envfile import dotenv_values
from envfile.parser import parse_line


class PlainLines(unittest.TestCase):
    def test_lines(self):
        self.assertEqual(parse_line("A=1"), ("A", "1"))
        self.assertEqual(parse_line("  B = 'x y' "), ("B", "x y"))
        self.assertEqual(parse_line('C="a\\nb"'), ("C", "a\nb"))
        self.assertEqual(parse_line("D=x=y"), ("D", "x=y"))
        self.assertIsNone(parse_line("# comment"))
        self.assertIsNone(parse_line("   "))

    def test_export_upper_case(self):
        folder = tempfile.mkdtemp()
        path = Path(folder) / ".env"
        path.write_text("export HOST=example.org\nPLAIN=1\n")
        self.assertEqual(dotenv_values(path), {"HOST": "example.org", "PLAIN": "1"})
