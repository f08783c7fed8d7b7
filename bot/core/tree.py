"""The file tree for the context pack, trimmed to a byte budget around the relevant paths."""

from __future__ import annotations

import posixpath
from collections import Counter, defaultdict

from bot.core.fences import display_path, fenced, nbytes

MAX_LISTED_RELEVANT_PATHS = 25
TREE_FILES_PER_DIR = 25


def render_tree(paths: list[str], relevant: list[str], cap: int) -> tuple[str, bool]:
    """The file tree, whole when it fits; else directories with file counts, files of relevant ones."""
    tree = _Tree(paths, set(relevant[:MAX_LISTED_RELEVANT_PATHS]))
    listing = ""
    if relevant:
        listing = "\n## Paths most relevant to the issue\n" + fenced(
            "".join(display_path(p) + "\n" for p in relevant[:MAX_LISTED_RELEVANT_PATHS])
        )
    room = cap - nbytes(listing) - 40
    truncated = not tree.expand_all(room)
    if truncated:
        tree.expand_within(room, [posixpath.dirname(p) for p in relevant[:20]])
    text = "\n## File tree\n" + fenced(tree.render()) + listing if tree.expanded else listing
    if nbytes(text) > cap:  # a long fence costs more than estimated
        text = listing if nbytes(listing) <= cap else ""
    return text, truncated and bool(paths)


class _Tree:
    """Directories with total file counts; each can be expanded and can list its files."""

    def __init__(self, paths: list[str], wanted: set[str]) -> None:
        self.files: dict[str, list[str]] = defaultdict(list)
        self.subdirs: dict[str, set[str]] = defaultdict(set)
        self.count: Counter[str] = Counter()
        for path in paths:
            parent, name = posixpath.split(path)
            self.files[parent].append(name)
            child = parent
            while child:
                self.count[child] += 1
                self.subdirs[posixpath.dirname(child)].add(child)
                child = posixpath.dirname(child)
        for directory, names in self.files.items():
            names.sort(key=lambda n: (posixpath.join(directory, n) not in wanted, n))
        self.dirs = [""] + sorted(self.count, key=lambda d: (d.count("/"), d))
        self.expanded: set[str] = set()
        self.listed: dict[str, int | None] = {}  # dir -> how many files to list (None: all)
        self.used = 0

    def expand_all(self, room: int) -> bool:
        """Show everything if it fits in ``room`` bytes."""
        total = sum(self._lines_cost(self._subdir_lines(d)) + self._files_cost(d, None) for d in self.dirs)
        if total > room:
            return False
        self.expanded = set(self.dirs)
        self.listed = dict.fromkeys(self.dirs)
        return True

    def expand_within(self, room: int, relevant_dirs: list[str]) -> None:
        """Root and the directories of relevant files first, then breadth-first; files last."""
        first = [""] + [a for d in relevant_dirs for a in _ancestors(d)]
        for d in dict.fromkeys(first):
            self._try_expand(d, room)
        for d in dict.fromkeys([""] + relevant_dirs):
            self._try_list(d, room)
        depth = 0
        while True:  # level by level; the level that does not fit expands its biggest dirs
            level = [d for d in self.dirs if d.count("/") == depth and d and d not in self.expanded]
            if not level:
                break
            for d in sorted(level, key=lambda d: -self.count[d]):
                self._try_expand(d, room)
            if any(d not in self.expanded for d in level):
                break
            depth += 1
        for d in self.dirs:
            self._try_list(d, room)

    def render(self) -> str:
        out: list[str] = []
        self._render("", out)
        return "".join(out)

    def _render(self, d: str, out: list[str]) -> None:
        for sub in sorted(self.subdirs.get(d, ())):
            out.append(self._dir_line(sub))
            if sub in self.expanded:
                self._render(sub, out)
        out.extend(self._file_lines(d, self.listed.get(d, 0) if d in self.listed else 0))

    def _try_expand(self, d: str, room: int) -> None:
        if d in self.expanded or (d and posixpath.dirname(d) not in self.expanded):
            return
        cost = self._lines_cost(self._subdir_lines(d)) + self._files_cost(d, 0)
        if self.used + cost <= room:
            self.expanded.add(d)
            self.used += cost

    def _try_list(self, d: str, room: int) -> None:
        if d not in self.expanded or d in self.listed or not self.files.get(d):
            return
        cost = self._files_cost(d, TREE_FILES_PER_DIR) - self._files_cost(d, 0)
        if self.used + cost <= room:
            self.listed[d] = TREE_FILES_PER_DIR
            self.used += cost

    def _subdir_lines(self, d: str) -> list[str]:
        return [self._dir_line(s) for s in self.subdirs.get(d, ())]

    def _dir_line(self, d: str) -> str:
        return "  " * d.count("/") + display_path(posixpath.basename(d)) + f"/  ({self.count[d]} files)\n"

    def _file_lines(self, d: str, limit: int | None) -> list[str]:
        names = self.files.get(d, [])
        indent = "  " * (d.count("/") + 1 if d else 0)
        kept = names if limit is None else names[:limit]
        lines = [indent + display_path(n) + "\n" for n in kept]
        if len(kept) < len(names):
            more = "more " if kept else ""
            lines.append(f"{indent}... {len(names) - len(kept)} {more}files\n")
        return lines

    def _files_cost(self, d: str, limit: int | None) -> int:
        return self._lines_cost(self._file_lines(d, limit))

    @staticmethod
    def _lines_cost(lines: list[str]) -> int:
        return sum(nbytes(line) for line in lines)


def _ancestors(directory: str) -> list[str]:
    parts = directory.split("/") if directory else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
