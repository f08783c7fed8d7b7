"""Print a digest of the arguments: python3 examples/digest.py --hash-type=MD5 text..."""

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from optparse_mini import Choice, Command, Option  # noqa: E402

ALGORITHMS = {"MD5": hashlib.md5, "SHA1": hashlib.sha1}


def digest(hash_type, args):
    algorithm = ALGORITHMS[hash_type]
    print(algorithm(" ".join(args).encode()).hexdigest())


command = Command(digest, [Option("hash-type", Choice(["MD5", "SHA1"], case_sensitive=False), default="MD5")])

if __name__ == "__main__":
    command.main(sys.argv[1:])
