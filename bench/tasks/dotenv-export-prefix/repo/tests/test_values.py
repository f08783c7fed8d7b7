import tempfile
import unittest
from pathlib import Path

from envfile import dotenv_values


class ValuesTest(unittest.TestCase):
    def test_plain_and_quoted(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ".env"
            path.write_text('A=1\nB="two words"\n# comment\n\nexport HOST=example.org\n')
            self.assertEqual(dotenv_values(path), {"A": "1", "B": "two words", "HOST": "example.org"})


if __name__ == "__main__":
    unittest.main()
