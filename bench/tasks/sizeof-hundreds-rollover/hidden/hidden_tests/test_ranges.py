"""Pass-to-pass: the other ranges keep three significant digits."""

import unittest

from meter import format_meter
from meter.units import format_sizeof


class Ranges(unittest.TestCase):
    def test_values(self):
        self.assertEqual(format_sizeof(9), "9.00")
        self.assertEqual(format_sizeof(99), "99.0")
        self.assertEqual(format_sizeof(999), "999")
        self.assertEqual(format_sizeof(999.4), "999")
        self.assertEqual(format_sizeof(1000), "1.00k")
        self.assertEqual(format_sizeof(1_234_567), "1.23M")
        self.assertEqual(format_sizeof(12_345_678, "B"), "12.3MB")
        self.assertEqual(format_sizeof(1024, divisor=1024), "1.00k")

    def test_meter(self):
        self.assertEqual(format_meter(50, 100, 10), " 50%|50/100 [00:10<00:10, 5.00 it/s]")
        self.assertEqual(format_meter(7, None, 1), "7 [00:01, 7.00 it/s]")
