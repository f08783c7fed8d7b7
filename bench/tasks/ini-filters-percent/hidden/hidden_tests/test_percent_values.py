"""Fail-to-pass: '%' in values is plain text in both directions."""

import unittest

from inifilters import from_ini, to_ini


class PercentValues(unittest.TestCase):
    def test_to_ini(self):
        self.assertEqual(to_ini({"app": {"threshold": "90%"}}), "[app]\nthreshold = 90%\n")

    def test_from_ini(self):
        text = "[app]\nlog_format = %(asctime)s %(message)s\nratio = 50%\n"
        self.assertEqual(from_ini(text), {"app": {"log_format": "%(asctime)s %(message)s", "ratio": "50%"}})

    def test_round_trip(self):
        data = {"a": {"x": "100%", "y": "%%", "z": "%(other)s"}, "b": {"plain": "v"}}
        self.assertEqual(from_ini(to_ini(data)), data)
