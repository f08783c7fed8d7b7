import unittest

from meter import format_meter


class MeterTest(unittest.TestCase):
    def test_plain(self):
        self.assertEqual(format_meter(50, 100, 10), " 50%|50/100 [00:10<00:10, 5.00 it/s]")

    def test_scaled(self):
        self.assertEqual(format_meter(1500, 3000, 10, unit_scale=True), " 50%|1.50k/3.00k [00:10<00:10, 150 it/s]")


if __name__ == "__main__":
    unittest.main()
