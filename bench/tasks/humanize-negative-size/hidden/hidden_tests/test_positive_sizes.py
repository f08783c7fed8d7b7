"""Pass-to-pass: positive sizes are formatted as before."""

import unittest

from humanize_mini import naturalsize


class PositiveSizes(unittest.TestCase):
    def test_decimal(self):
        self.assertEqual(naturalsize(1), "1 Byte")
        self.assertEqual(naturalsize(300), "300 Bytes")
        self.assertEqual(naturalsize(123456), "123.5 kB")
        self.assertEqual(naturalsize(10**12), "1.0 TB")

    def test_binary_and_gnu(self):
        self.assertEqual(naturalsize(3000, binary=True), "2.9 KiB")
        self.assertEqual(naturalsize(3000, gnu=True), "2.9K")
        self.assertEqual(naturalsize(1, gnu=True), "1B")

    def test_format(self):
        self.assertEqual(naturalsize(123456, format="%.3f"), "123.456 kB")
