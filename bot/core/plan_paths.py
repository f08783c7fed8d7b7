"""Which files a plan names: the structured list of a model's plan, or what a human's Markdown mentions."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.plan import PlanVersion

_BACKTICKED = re.compile(r"`([^`\n]+)`")
# A bare token shaped like a relative path with a directory: "calc/ops.py", "src/a/b.ts".
_BARE_PATH = re.compile(r"(?<![\w./@:-])((?:[\w.-]+/)+[\w.-]+\.[A-Za-z0-9]+)(?![\w/-])")
_PATH_SHAPE = re.compile(r"^(?:[\w.-]+/)*[\w.-]*\.?[\w-]+$")
_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}\s+|\*\*|__)?\s*(?P<title>[^#*_:]+?)\s*(?:\*\*|__)?\s*:?\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?P<text>.*)$")
_MARKED_CREATE = re.compile(r"\b(?:create[sd]?|new|add(?:s|ed)?)\b", re.IGNORECASE)
_FILE_SECTION_TITLES = frozenset({"files", "files to change", "files changed", "changed files",
                                  "files to touch", "files touched", "files to create or change"})


def _clean(token: str) -> str:
    token = token.strip().rstrip(".,;:)")
    while token.startswith("./"):
        token = token[2:]
    return token.lstrip("/")


def _looks_like_path(token: str) -> bool:
    # A file name with an extension, or anything with a directory; not prose, not a URL.
    if not token or " " in token or "://" in token or token.startswith("-"):
        return False
    return bool(_PATH_SHAPE.match(token)) and ("/" in token or "." in token.strip("."))


def _file_section_lines(lines: list[str]) -> set[int]:
    """Indexes of the list items under a "Files" heading (until the next heading)."""
    inside, found = False, set()
    for index, line in enumerate(lines):
        item = _LIST_ITEM.match(line)
        heading = None if item else _HEADING.match(line)
        if heading is not None and line.strip():
            inside = heading.group("title").strip().lower() in _FILE_SECTION_TITLES
            continue
        if inside and item:
            found.add(index)
    return found


def paths_in_markdown(markdown: str, *, exists: Callable[[str], bool]) -> list[str]:
    """Paths a human's plan names, in order: those that ``exists`` (in the base snapshot), or
    that the line marks as created (``create``, ``new``, ``add``).  Mentions of things that are
    neither, e.g. a module name in backticks, are left out rather than guessed at.
    """
    lines = markdown.splitlines()
    in_file_section = _file_section_lines(lines)
    found: list[str] = []
    for index, line in enumerate(lines):
        candidates = [_clean(t) for t in _BACKTICKED.findall(line)]
        candidates += [_clean(t) for t in _BARE_PATH.findall(_BACKTICKED.sub(" ", line))]
        if index in in_file_section and not candidates:
            item = _LIST_ITEM.match(line)
            first = item.group("text").split()[0] if item and item.group("text").split() else ""
            candidates.append(_clean(first))
        marked_create = bool(_MARKED_CREATE.search(line))
        for path in candidates:
            if path in found or not _looks_like_path(path):
                continue
            if exists(path) or (marked_create and "." in path.rsplit("/", 1)[-1]
                                and ("/" in path or index in in_file_section)):
                found.append(path)
    return found


def planned_paths(version: PlanVersion, *, exists: Callable[[str], bool]) -> list[str]:
    """The plan's files: the model's structured list, or those found in a human's Markdown."""
    if version.plan is not None:
        return version.plan.planned_paths()
    return paths_in_markdown(version.markdown or "", exists=exists)
