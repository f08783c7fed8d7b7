"""The commit's real tree (the Git Data API's listing), against which a change is checked.

The snapshot is ``git archive`` output, not the tree: files over the size cap are skipped at
extraction, ``export-ignore`` files are absent and ``export-subst`` files are expanded.  A
change computed from the snapshot alone would silently replace a skipped file, create over an
export-ignored one, or commit an expanded ``$Format:%H$``.  This module holds the listing of
``GET git/trees/{sha}?recursive=1`` and says, for a path, what the commit really holds there
and whether the snapshot's copy is the commit's blob.  Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bot.core.changes import FileChange

TREE_MODE = "040000"
LINK_MODE = "120000"
SUBMODULE_MODE = "160000"


class Unknown(Enum):
    """A path the listing cannot speak for (it was truncated and did not reach that far)."""

    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN


@dataclass(frozen=True)
class TreeItem:
    """One entry of the listing: ``mode`` as git writes it, ``type`` blob/tree/commit."""

    mode: str
    type: str
    sha: str


@dataclass(frozen=True)
class GitTree:
    """The listing of one commit's root tree (``sha``), complete unless ``truncated``.

    ``complete_dirs`` are directories whose every entry is known even when the recursive
    listing was truncated (fetched one level at a time afterwards; "" is the root).
    """

    sha: str
    items: Mapping[str, TreeItem]
    truncated: bool = False
    complete_dirs: frozenset[str] = field(default=frozenset())

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> GitTree:
        """Parse a ``GET git/trees/{sha}?recursive=1`` answer."""
        items = {}
        for entry in body.get("tree") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                items[entry["path"]] = TreeItem(mode=str(entry.get("mode", "")),
                                                type=str(entry.get("type", "")),
                                                sha=str(entry.get("sha", "")))
        return cls(sha=str(body["sha"]), items=items, truncated=bool(body.get("truncated")))

    def with_directory(self, directory: str, body: Mapping[str, Any]) -> GitTree:
        """This listing plus one directory's non-recursive listing (``GET git/trees/{dir sha}``)."""
        prefix = f"{directory}/" if directory else ""
        items = dict(self.items)
        for entry in body.get("tree") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                items[prefix + entry["path"]] = TreeItem(mode=str(entry.get("mode", "")),
                                                         type=str(entry.get("type", "")),
                                                         sha=str(entry.get("sha", "")))
        return GitTree(sha=self.sha, items=items, truncated=self.truncated,
                       complete_dirs=self.complete_dirs | {directory})

    def lookup(self, path: str) -> TreeItem | None | Unknown:
        """The entry at ``path``; None when the commit has nothing there; UNKNOWN when unsure."""
        item = self.items.get(path)
        if item is not None:
            return item
        parent = path.rpartition("/")[0]
        if not self.truncated or parent in self.complete_dirs:
            return None
        # Below a known file, link or submodule nothing can exist either.
        parts = path.split("/")
        for depth in range(1, len(parts)):
            above = self.items.get("/".join(parts[:depth]))
            if above is not None and above.type != "tree":
                return None
        return UNKNOWN

    def mode_of(self, path: str, default: str = "100644") -> str:
        """The blob's git mode (keeps an edited script's exec bit); ``default`` when unknown."""
        item = self.items.get(path)
        return item.mode if item is not None and item.type == "blob" else default

    def missing_dirs(self, paths: Iterable[str]) -> list[str]:
        """Directories (parents first) to list one level each so every path in ``paths`` is decidable.

        A path is decided by listing its parent; that listing needs the parent's sha, known
        from the truncated listing or from listing the directories above it first.
        """
        wanted: list[str] = []
        for path in paths:
            if self.lookup(path) is not UNKNOWN:
                continue
            parts = path.split("/")[:-1]
            chain = ["/".join(parts[:depth]) for depth in range(len(parts) + 1)]  # "", …, parent
            start = 0
            for index in range(len(chain) - 1, 0, -1):
                item = self.items.get(chain[index])
                if item is not None and item.type == "tree":
                    start = index
                    break
            for directory in chain[start:]:
                if directory not in self.complete_dirs and directory not in wanted:
                    wanted.append(directory)
        return wanted


def blob_sha(data: bytes, *, like: str) -> str:
    """The git blob id of ``data``, SHA-1 or SHA-256 as the repository's ids (``like``) are."""
    header = b"blob %d\0" % len(data)
    digest = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return digest(header + data).hexdigest()


def why_not_editable(path: str, *, tree: GitTree, snapshot_bytes: bytes | None) -> str | None:
    """Why a change to ``path`` would not be a change to the commit's real file, or None.

    ``snapshot_bytes`` is the snapshot's copy (None when the snapshot has no file there).
    """
    parts = path.split("/")
    for depth in range(1, len(parts)):
        above = tree.lookup("/".join(parts[:depth]))
        if isinstance(above, TreeItem) and above.type != "tree":
            kind = "a submodule" if above.mode == SUBMODULE_MODE else \
                "a symlink" if above.mode == LINK_MODE else "a file"
            return f"{'/'.join(parts[:depth])!r} is {kind} in the repository, not a directory"
    item = tree.lookup(path)
    if item is UNKNOWN or item is None:
        return None  # unknown: checked again before the commit; None: a new file
    if item.type == "tree":
        return "it is a directory in the repository"
    if item.mode == SUBMODULE_MODE or item.type == "commit":
        return "it is a submodule"
    if item.mode == LINK_MODE:
        return "it is a symlink in the repository; links are kept as they are"
    if snapshot_bytes is None:
        return ("this file is in the repository but not in the snapshot (the archive leaves it "
                "out: too large, or export-ignore in .gitattributes), so it cannot be read or edited")
    if blob_sha(snapshot_bytes, like=item.sha) != item.sha:
        return ("the snapshot's copy differs from the committed file (export-subst or another "
                ".gitattributes rule rewrites it in the archive), so editing it would commit "
                "the rewritten text; it cannot be edited")
    return None


def change_problems(changes: Iterable[FileChange], tree: GitTree) -> list[str]:
    """What in ``changes`` does not fit the commit's real tree (checked just before committing).

    A create must land where the commit has nothing; a modify or delete must start from the
    committed blob itself.  A path the listing cannot speak for is reported too: the caller
    completes a truncated listing first (``bot.github.gitdata.complete_tree``).
    """
    problems = []
    for change in changes:
        item = tree.lookup(change.path)
        if item is UNKNOWN:
            problems.append(f"{change.path}: the repository's tree listing does not reach it")
            continue
        if change.action == "create":
            reason = why_not_editable(change.path, tree=tree, snapshot_bytes=None)
            if item is not None or reason is not None:
                problems.append(f"{change.path}: created, but {reason or 'it already exists'}")
            continue
        old = (change.old or "").encode("utf-8")
        if item is None:
            problems.append(f"{change.path}: {change.action}d, but the commit has no such file")
        else:
            reason = why_not_editable(change.path, tree=tree, snapshot_bytes=old)
            if reason is not None:
                problems.append(f"{change.path}: {reason}")
    return problems
