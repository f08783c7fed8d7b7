#!/usr/bin/env python3
"""Bootstrap and run route-me with nothing but Python 3.11+: `python3 scripts/dev.py serve|test [args]`.

Creates ./.venv on first use, installs the project (with the test extra) into it, and then
runs the service or the test suite.  Re-installs only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".route-me-installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        raise SystemExit(f"route-me needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing route-me and its test tools into .venv …", flush=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", f"{ROOT}[test]"],
        check=True,
    )
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test", "doctor", "register", "costs", "bench"):
        print(__doc__.strip().splitlines()[0])
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "test":
        args = [str(BIN / "python"), "-m", "pytest", "-q", *rest]
    else:
        args = [str(BIN / "route-me"), command, *rest]
    return subprocess.call(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
