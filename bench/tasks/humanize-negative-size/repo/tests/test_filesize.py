import unittest

from humanize_mini import naturalsize


class NaturalSizeTest(unittest.TestCase):
    def test_decimal(self):
        self.assertEqual(naturalsize(300), "300 Bytes")
        self.assertEqual(naturalsize(3000), "3.0 kB")

    def test_binary(self):
        self.assertEqual(naturalsize(3000, binary=True), "2.9 KiB")


if __name__ == "__main__":
    unittest.main()
