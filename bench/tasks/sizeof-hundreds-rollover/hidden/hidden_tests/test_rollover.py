"""Fail-to-pass: numbers that would print as 1000 of a unit roll over to the next unit."""

import unittest

from meter import format_meter
from meter.units import format_sizeof


class Rollover(unittest.TestCase):
    def test_boundaries(self):
        self.assertEqual(format_sizeof(999.5), "1.00k")
        self.assertEqual(format_sizeof(999.7), "1.00k")
        self.assertEqual(format_sizeof(999_600), "1.00M")
        self.assertEqual(format_sizeof(999.6 * 10**9, "B"), "1.00TB")
        self.assertEqual(format_sizeof(-999.6), "-1.00k")

    def test_meter(self):
        line = format_meter(999_600, 2_000_000, 10, unit_scale=True)
        self.assertIn("|1.00M/2.00M ", line)
        self.assertNotIn("1000", line)
