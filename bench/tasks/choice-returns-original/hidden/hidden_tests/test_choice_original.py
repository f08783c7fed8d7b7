"""Fail-to-pass: the callback gets the declared choice, however the user spelled it."""

import io
import subprocess
import sys
import unittest
from contextlib import redirect_stdout

from optparse_mini import Choice, Command, Context, Option


def echo(args, **values):
    return values


class ReturnsDeclaredChoice(unittest.TestCase):
    def test_case_insensitive(self):
        command = Command(echo, [Option("hash-type", Choice(["MD5", "SHA1"], case_sensitive=False))])
        for typed in ("md5", "Md5", "MD5"):
            self.assertEqual(command.main([f"--hash-type={typed}"]), {"hash_type": "MD5"})
        self.assertEqual(command.main(["--hash-type", "sha1"]), {"hash_type": "SHA1"})

    def test_normalize_func(self):
        command = Command(echo, [Option("colour", Choice(["Red", "Green"]))],
                          context=Context(token_normalize_func=str.lower))
        self.assertEqual(command.main(["--colour=RED"]), {"colour": "Red"})

    def test_example_runs(self):
        done = subprocess.run([sys.executable, "examples/digest.py", "--hash-type=md5", "hello"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(), "5d41402abc4b2a76b9719d911017c592")
