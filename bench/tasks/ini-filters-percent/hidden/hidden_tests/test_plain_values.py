"""Pass-to-pass: ordinary values and bad input behave as before."""

import unittest

from inifilters import FilterError, from_ini, to_ini


class PlainValues(unittest.TestCase):
    def test_render(self):
        self.assertEqual(to_ini({"s": {"Key": "value", "n": "1"}}), "[s]\nKey = value\nn = 1\n")

    def test_parse(self):
        self.assertEqual(from_ini("[s]\nKey = value\n\n[t]\na=b\n"), {"s": {"Key": "value"}, "t": {"a": "b"}})

    def test_bad_input(self):
        with self.assertRaises(FilterError):
            from_ini("no section header\n")
        with self.assertRaises(FilterError):
            from_ini(42)
        with self.assertRaises(FilterError):
            to_ini({"s": "not a mapping"})
