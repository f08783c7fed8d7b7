"""Pass-to-pass: release precedence and parsing are unchanged."""

import unittest

from semver_mini import compare, max_ver, parse


class ReleaseOrder(unittest.TestCase):
    def test_release(self):
        self.assertEqual(compare("1.9.0", "1.10.0"), -1)
        self.assertEqual(compare("2.0.0", "1.99.99"), 1)
        self.assertEqual(max_ver("1.0.0-rc.1", "1.0.0"), "1.0.0")

    def test_build_ignored(self):
        self.assertEqual(compare("1.0.0+a", "1.0.0+b"), 0)
        self.assertEqual(compare("1.0.0-rc.1+x", "1.0.0-rc.1"), 0)

    def test_parse(self):
        self.assertEqual(parse("1.2.3-rc.1+b.5"),
                         {"major": 1, "minor": 2, "patch": 3, "prerelease": "rc.1", "build": "b.5"})
        for bad in ("1.2", "01.2.3", "1.2.3-", "a.b.c"):
            with self.assertRaises(ValueError):
                parse(bad)
