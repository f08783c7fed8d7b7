"""Fail-to-pass: pre-release precedence follows SemVer 2.0.0 §11."""

import unittest

from semver_mini import compare, min_ver


class SpecOrder(unittest.TestCase):
    def test_spec_example_chain(self):
        chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                 "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
        for lower, higher in zip(chain, chain[1:]):
            self.assertEqual(compare(lower, higher), -1, (lower, higher))
            self.assertEqual(compare(higher, lower), 1, (higher, lower))

    def test_alphanumeric_ascii_order(self):
        self.assertEqual(min_ver("1.2.3-rc2", "1.2.3-rc10"), "1.2.3-rc10")
        self.assertEqual(min_ver("1.2.3-rc10", "1.2.3-Rc10"), "1.2.3-Rc10")
        self.assertEqual(compare("1.2.3-rc10", "1.2.3-Rc10"), 1)

    def test_numeric_below_alphanumeric(self):
        self.assertEqual(min_ver("1.2.3-rc", "1.2.3-2"), "1.2.3-2")
        self.assertEqual(compare("1.2.3-rc.2.1", "1.2.3-rc.2"), 1)
