import unittest

from semver_mini import compare, max_ver, min_ver, parse


class CompareTest(unittest.TestCase):
    def test_release_order(self):
        self.assertEqual(compare("1.0.0", "2.0.0"), -1)
        self.assertEqual(compare("1.10.0", "1.9.0"), 1)
        self.assertEqual(compare("1.2.3", "1.2.3"), 0)

    def test_prerelease_below_release(self):
        self.assertEqual(min_ver("1.0.0", "1.0.0-rc.1"), "1.0.0-rc.1")
        self.assertEqual(max_ver("1.0.0", "1.0.0-rc.1"), "1.0.0")

    def test_parse(self):
        self.assertEqual(parse("1.2.3-rc.1+b5")["prerelease"], "rc.1")
        with self.assertRaises(ValueError):
            parse("1.2")


if __name__ == "__main__":
    unittest.main()
