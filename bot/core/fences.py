"""Markdown pieces of the context pack: fences repository text cannot close, printable paths, byte sizes."""

from __future__ import annotations

import re


def fence(content: str) -> str:
    """A backtick fence longer than any run inside ``content``, so the content cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    return "`" * max(3, longest + 1)


def fenced(content: str) -> str:
    """``content`` in a fence it cannot close, ending with a newline."""
    marker = fence(content)
    if content and not content.endswith("\n"):
        content += "\n"
    return f"{marker}\n{content}{marker}\n"


def display_path(path: str) -> str:
    """A path safe to print on one line: control characters escaped (git allows newlines)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)


def nbytes(text: str) -> int:
    """Size in UTF-8 bytes, the unit of every budget here."""
    return len(text.encode("utf-8"))
