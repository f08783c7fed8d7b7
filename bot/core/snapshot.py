"""A read-only view of a repository tree at one commit, extracted on disk.

Every stage of one issue reads the same snapshot: the planner's context pack, the
implementer's workspace overlay and the scorecard facts.  Symlinks from the archive are
never materialised; their paths are remembered so reads and writes through them can be
refused.  Files the extraction left out (too large, a name the disk cannot hold) are
remembered with the reason, so the implementer is told why it cannot use them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Snapshot:
    """Files of one commit under ``root``; paths are repo-relative POSIX strings."""

    root: Path
    sha: str
    symlinks: frozenset[str] = field(default=frozenset())
    _paths: tuple[str, ...] = field(default=(), repr=False, compare=False)
    # Files of the commit left out of the extraction: path -> why (e.g. "too large: …").
    skipped: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_directory(
        cls, root: Path, sha: str, *, symlinks: frozenset[str] = frozenset(),
        skipped: Mapping[str, str] | None = None,
    ) -> Snapshot:
        """Wrap an already-extracted tree (regular files only; links are skipped)."""
        root = Path(root)
        found: list[str] = []
        links = set(symlinks)
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            prefix = "" if rel_dir == "." else rel_dir + "/"
            for name in list(dirnames):
                if (Path(dirpath) / name).is_symlink():
                    links.add(prefix + name)
                    dirnames.remove(name)
            if prefix == "" and ".git" in dirnames:
                dirnames.remove(".git")
            for name in filenames:
                full = Path(dirpath) / name
                if full.is_symlink():
                    links.add(prefix + name)
                elif full.is_file():
                    found.append(prefix + name)
        return cls(root=root, sha=sha, symlinks=frozenset(links), _paths=tuple(sorted(found)),
                   skipped=dict(skipped or {}))

    def paths(self) -> list[str]:
        """All regular files, sorted."""
        return list(self._paths)

    def has_file(self, path: str) -> bool:
        return path in self._path_set

    def skipped_reason(self, path: str) -> str | None:
        """Why ``path`` (or a directory above it) is in the commit but not here, else None."""
        if not self.skipped:
            return None
        parts = path.split("/")
        for depth in range(len(parts), 0, -1):
            reason = self.skipped.get("/".join(parts[:depth]))
            if reason is not None:
                return reason
        return None

    @property
    def _path_set(self) -> frozenset[str]:
        cached = self.__dict__.get("_path_set_cache")
        if cached is None:
            cached = frozenset(self._paths)
            object.__setattr__(self, "_path_set_cache", cached)
        return cached

    def size(self, path: str) -> int:
        return self._full(path).stat().st_size

    def git_mode(self, path: str) -> str:
        """The file's git mode: ``100755`` when the archive marked it executable, else ``100644``."""
        return "100755" if self._full(path).stat().st_mode & 0o111 else "100644"

    def read_bytes(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def read_text(self, path: str) -> str | None:
        """The file as text, or None when it is binary (a NUL byte or not UTF-8)."""
        data = self.read_bytes(path)
        if b"\0" in data[:8192]:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _full(self, path: str) -> Path:
        if not self.has_file(path):
            raise FileNotFoundError(path)
        return self.root / path
