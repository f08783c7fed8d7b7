import unittest

from optparse_mini import Choice, Command, Option, UsageError


def echo(args, **values):
    return values


class ChoiceTest(unittest.TestCase):
    def test_exact(self):
        command = Command(echo, [Option("mode", Choice(["fast", "slow"]))])
        self.assertEqual(command.main(["--mode=fast"]), {"mode": "fast"})

    def test_refused(self):
        command = Command(echo, [Option("mode", Choice(["fast", "slow"]))])
        with self.assertRaises(UsageError):
            command.main(["--mode", "FAST"])


if __name__ == "__main__":
    unittest.main()
