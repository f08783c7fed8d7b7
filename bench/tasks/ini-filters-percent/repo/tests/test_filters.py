import unittest

from inifilters import from_ini, to_ini


class FiltersTest(unittest.TestCase):
    def test_round_trip(self):
        data = {"app": {"Name": "demo", "port": "8080"}}
        self.assertEqual(from_ini(to_ini(data)), data)


if __name__ == "__main__":
    unittest.main()
