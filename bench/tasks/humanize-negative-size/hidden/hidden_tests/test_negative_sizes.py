"""Fail-to-pass: negative sizes use the same units as positive ones, sign kept."""

import unittest

from humanize_mini import naturalsize


class NegativeSizes(unittest.TestCase):
    def test_decimal(self):
        self.assertEqual(naturalsize(-123456), "-123.5 kB")
        self.assertEqual(naturalsize(-4096), "-4.1 kB")
        self.assertEqual(naturalsize(-3 * 10**9), "-3.0 GB")

    def test_binary(self):
        self.assertEqual(naturalsize(-4096, binary=True), "-4.0 KiB")

    def test_gnu(self):
        self.assertEqual(naturalsize(-4096, gnu=True), "-4.0K")

    def test_small_negative(self):
        self.assertEqual(naturalsize(-1), "-1 Byte")
        self.assertEqual(naturalsize(-300), "-300 Bytes")
