"""Pass-to-pass: matching rules are unchanged."""

import unittest

from optparse_mini import Choice, Command, Option, UsageError


def echo(args, **values):
    return values


class ChoiceRules(unittest.TestCase):
    def test_exact_match(self):
        command = Command(echo, [Option("mode", Choice(["fast", "slow"]))])
        self.assertEqual(command.main(["--mode=slow", "x"]), {"mode": "slow"})

    def test_case_sensitive_refuses_other_case(self):
        command = Command(echo, [Option("mode", Choice(["fast", "slow"]))])
        with self.assertRaises(UsageError) as caught:
            command.main(["--mode", "FAST"])
        self.assertIn("invalid choice: FAST", str(caught.exception))

    def test_unknown_refused_even_case_insensitive(self):
        command = Command(echo, [Option("mode", Choice(["fast"], case_sensitive=False))])
        with self.assertRaises(UsageError):
            command.main(["--mode=medium"])
