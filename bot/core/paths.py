"""Which paths the implementer may touch: canonical, repo-relative, not .git, not through a symlink."""

from __future__ import annotations

import posixpath
import re

from bot.core.snapshot import Snapshot

MAX_PATH_CHARS = 4096
MAX_COMPONENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Names that git (or a case-insensitive / NTFS checkout) would treat as the .git directory.
_GIT_DIR_NAMES = frozenset({".git", "git~1"})


class Refused(Exception):
    """An operation the implementer may not perform; the message is written for the model."""


class PathRefused(Refused):
    """A path that is outside the repository, non-canonical, through a symlink, or denied."""


def structural_path_problem(path: object) -> str | None:
    """Why ``path`` is not a canonical repo-relative path, or None (symlinks not checked)."""
    if not isinstance(path, str):
        return "a path must be a string"
    if not path:
        return "the path is empty"
    if len(path) > MAX_PATH_CHARS:
        return f"the path is longer than {MAX_PATH_CHARS} characters"
    if _CONTROL.search(path):
        return "the path contains a control character (NUL, newline, tab, ...)"
    if "\\" in path:
        return "backslashes are not allowed; use '/' between directories"
    if path.startswith("/") or _DRIVE.match(path):
        return (
            "absolute paths are not allowed; paths are relative to the repository root"
            + _suggest(path)
        )
    parts = path.split("/")
    if ".." in parts:
        return "'..' is not allowed: paths must stay inside the repository"
    if "." in parts or "" in parts:
        return "the path is not in canonical form" + _suggest(path)
    for part in parts:
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError:
            return "the path is not valid UTF-8"
        if size > MAX_COMPONENT_BYTES:
            return f"a path component is longer than {MAX_COMPONENT_BYTES} bytes"
        if part.lower().rstrip(". ") in _GIT_DIR_NAMES:
            return "the .git directory cannot be read or changed"
    return None


def check_path(path: str, *, snapshot: Snapshot) -> str:
    """Return ``path`` if it is canonical, inside the repo and not through a symlink.

    Raises PathRefused with a reason the model can act on.
    """
    problem = structural_path_problem(path)
    if problem is not None:
        raise PathRefused(f"path {quote_path(path)} refused: {problem}")
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if prefix in snapshot.symlinks:
            what = "is a symlink" if depth == len(parts) else f"goes through the symlink {prefix!r}"
            raise PathRefused(f"path {quote_path(path)} refused: it {what}; symlinks are not followed")
    return path


def quote_path(path: object) -> str:
    """``repr(path)``, shortened so a huge path cannot flood a message to the model."""
    text = repr(path)
    return text if len(text) <= 120 else text[:100] + "...'"


def _suggest(path: str) -> str:
    if _DRIVE.match(path):
        return ""
    canonical = posixpath.normpath("/" + path.replace("\\", "/")).lstrip("/")
    if not canonical or canonical == "." or structural_path_problem(canonical):
        return ""
    return f"; did you mean {canonical!r}?"

