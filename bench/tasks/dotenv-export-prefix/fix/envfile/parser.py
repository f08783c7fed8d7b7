"""One line of a .env file → (key, value), or None for blank and comment lines."""

from __future__ import annotations


def unquote(value: str) -> str:
    """Strip one pair of matching quotes; double quotes also expand \\n."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace("\\n", "\n") if value[0] == '"' else inner
    return value


def parse_line(line: str) -> tuple[str, str] | None:
    line = line.strip()
    if not line or line.startswith("#") or "=" not in line:
        return None
    key, value = line.split("=", 1)
    if key.startswith("export "):
        key = key[len("export "):]  # a prefix, not a set of characters to strip
    key, value = key.strip(), value.strip()
    return key, unquote(value)
