"""Loading a .env file: into a dict, or into os.environ."""

from __future__ import annotations

import os
from pathlib import Path

from envfile.parser import parse_line


def dotenv_values(path: str | os.PathLike[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parsed = parse_line(line)
        if parsed is not None:
            key, value = parsed
            values[key] = value
    return values


def load_env(path: str | os.PathLike[str], *, override: bool = False) -> bool:
    """Set the file's variables in os.environ (existing ones kept unless ``override``); True if any."""
    values = dotenv_values(path)
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return bool(values)
