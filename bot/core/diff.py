"""Git-style unified diffs and line counts for a set of FileChanges (pure, no I/O)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

from bot.core.changes import FileChange

_NO_NEWLINE = "\\ No newline at end of file\n"
_QUOTED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\t": "\\t",
                   "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}


def split_lines(text: str | None) -> list[str]:
    """Lines of ``text`` the way git sees them: split on ``\\n`` only, terminators kept.

    ``str.splitlines`` also splits on ``\\r``, form feeds and Unicode separators, which
    would make our counts and hunks disagree with git's.
    """
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def per_file_stats(changes: Sequence[FileChange]) -> list[tuple[str, int, int]]:
    """``(path, added, removed)`` for every change, in the order given."""
    return [(change.path, *_file_stats(change.old, change.new)) for change in changes]


def line_stats(changes: Sequence[FileChange]) -> tuple[int, int]:
    """Total ``(added, removed)`` lines over all changes."""
    added = removed = 0
    for _path, file_added, file_removed in per_file_stats(changes):
        added += file_added
        removed += file_removed
    return added, removed


def file_line_stats(old: str | None, new: str | None) -> tuple[int, int]:
    """``(added, removed)`` between two versions of one file (None = absent)."""
    return _file_stats(old, new)


def unified_diff(changes: Sequence[FileChange], *, context: int = 3) -> str:
    """The changes as one patch that ``git apply`` accepts against the original tree."""
    return "".join(_file_diff(change, context=context) for change in changes)


def _file_stats(old: str | None, new: str | None) -> tuple[int, int]:
    old_lines, new_lines = split_lines(old), split_lines(new)
    if not old_lines or not new_lines:
        return len(new_lines), len(old_lines)
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, removed


def _file_diff(change: FileChange, *, context: int) -> str:
    if change.old == change.new:
        return ""
    a_name, b_name = _quote("a/" + change.path), _quote("b/" + change.path)
    out = [f"diff --git {a_name} {b_name}\n"]
    old_lines, new_lines = split_lines(change.old), split_lines(change.new)
    from_name, to_name = a_name, b_name
    if change.action == "create":
        out.append("new file mode 100644\n")
        from_name = "/dev/null"
    elif change.action == "delete":
        out.append("deleted file mode 100644\n")
        to_name = "/dev/null"
    if not old_lines and not new_lines:
        # An empty file created or deleted: git prints the mode line and no hunks.
        return "".join(out)
    # git ends a name containing a space with a tab so `git apply` can find its end.
    out.append(f"--- {from_name}{_tab_if_spaced(from_name)}\n")
    out.append(f"+++ {to_name}{_tab_if_spaced(to_name)}\n")
    out.extend(_hunks(old_lines, new_lines, context=context))
    return "".join(out)


def _hunks(old_lines: list[str], new_lines: list[str], *, context: int) -> Iterator[str]:
    body = difflib.unified_diff(old_lines, new_lines, n=context, lineterm="\n")
    for index, line in enumerate(body):
        if index < 2:  # difflib's own ---/+++ header; ours is written by the caller.
            continue
        if line.endswith("\n"):
            yield line
        else:
            yield line + "\n" + _NO_NEWLINE


def _tab_if_spaced(name: str) -> str:
    return "\t" if " " in name else ""


def _quote(name: str) -> str:
    """Quote a path the way git does when it holds a quote, backslash or control char."""
    if not any(ch in _QUOTED_ESCAPES or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return name
    escaped = []
    for ch in name:
        if ch in _QUOTED_ESCAPES:
            escaped.append(_QUOTED_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\{ord(ch):03o}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'
