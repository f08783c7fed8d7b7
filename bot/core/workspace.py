"""The implementer's in-memory overlay over a snapshot, with change guards (path rules: bot.core.paths).

With the commit's real tree (``bot.core.git_tree``) it also refuses what the snapshot cannot
stand for: files the archive skipped or left out, and files it rewrote (export-subst).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from bot.core.changes import FileChange
from bot.core.diff import file_line_stats
from bot.core.git_tree import GitTree, TreeItem, why_not_editable
from bot.core.paths import PathRefused, Refused, check_path, quote_path
from bot.core.snapshot import Snapshot

Deny = Callable[[str], str | None]
# (path, text before, text after; None = absent) -> why this edit is refused, or None.
EditDeny = Callable[[str, str | None, str | None], str | None]


class GuardRefused(Refused):
    """A change that would break a limit: file count, changed lines, file size, binary file."""


class Workspace:
    """Reads fall through to the snapshot; writes land in an overlay that becomes the change.

    A guard refuses an edit only when it breaks a limit *and* makes the change bigger than
    before, so the model can always shrink an oversized change back under the limits.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        deny: Deny = lambda p: None,
        deny_edit: EditDeny = lambda path, old, new: None,
        max_files: int = 20,
        max_changed_lines: int = 1000,
        max_file_bytes: int = 1_000_000,
        tree: GitTree | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.tree = tree  # the commit's real tree; None when unknown (then the snapshot is trusted)
        self.deny = deny
        self.deny_edit = deny_edit  # content-aware: e.g. the package script CI runs (ci_paths)
        self.max_files = max_files
        self.max_changed_lines = max_changed_lines
        self.max_file_bytes = max_file_bytes
        self._overlay: dict[str, str | None] = {}  # path -> new text, None = deleted
        self._stats: dict[str, tuple[int, int]] = {}  # changed path -> (added, removed)
        self._originals: dict[str, str | None] = {}
        self._not_editable: dict[str, str | None] = {}

    @classmethod
    def from_changes(
        cls,
        snapshot: Snapshot,
        changes: Iterable[FileChange],
        **limits: object,
    ) -> Workspace:
        """Rebuild the state after ``changes`` (e.g. a PR branch, for ``/fix``).

        Limits are not enforced while loading: the change already exists.  Raises
        ValueError when a change does not fit the snapshot, PathRefused for a bad path.
        """
        workspace = cls(snapshot, **limits)  # type: ignore[arg-type]
        for change in changes:
            path = check_path(change.path, snapshot=snapshot)
            in_snapshot = snapshot.has_file(path)
            if change.action == "create" and in_snapshot:
                raise ValueError(f"{path}: created, but it already exists in the snapshot")
            if change.action != "create":
                if not in_snapshot:
                    raise ValueError(f"{path}: {change.action}d, but it is not in the snapshot")
                original = snapshot.read_text(path)
                if original is None:
                    raise ValueError(f"{path}: binary files cannot be loaded into a workspace")
                if change.old is not None and change.old != original:
                    raise ValueError(f"{path}: the change's old text differs from the snapshot")
            workspace._set(path, change.new)
        return workspace

    # Reading -------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file now; False for any path check_path would refuse."""
        try:
            check_path(path, snapshot=self.snapshot)
        except PathRefused:
            return False
        if path in self._overlay:
            return self._overlay[path] is not None
        return self.snapshot.has_file(path)

    def read(self, path: str) -> str:
        """The current text; FileNotFoundError if absent, ValueError if binary."""
        check_path(path, snapshot=self.snapshot)
        if path in self._overlay:
            content = self._overlay[path]
            if content is None:
                raise FileNotFoundError(f"{path} has been deleted")
            return content
        if not self.snapshot.has_file(path):
            absent = self._absent_reason(path)
            if absent is not None:
                raise PathRefused(f"path {quote_path(path)} refused: {absent}")
            raise FileNotFoundError(f"{path} does not exist")
        text = self.snapshot.read_text(path)
        if text is None:
            raise ValueError(f"{path} is a binary file")
        return text

    def size(self, path: str) -> int:
        """Current size in bytes (UTF-8 for overlay files); FileNotFoundError if absent."""
        check_path(path, snapshot=self.snapshot)
        if not self.exists(path):
            absent = None if path in self._overlay else self._absent_reason(path)
            if absent is not None:
                raise PathRefused(f"path {quote_path(path)} refused: {absent}")
            raise FileNotFoundError(f"{path} does not exist")
        content = self._overlay.get(path)
        if content is not None:
            return len(content.encode("utf-8"))
        return self.snapshot.size(path)

    def list_files(self, prefix: str = "") -> list[str]:
        """Current files (snapshot + created - deleted) under directory ``prefix``, sorted."""
        prefix = prefix[:-1] if prefix.endswith("/") else prefix
        if prefix:
            check_path(prefix, snapshot=self.snapshot)
        files = set(self.snapshot.paths())
        for path, content in self._overlay.items():
            if content is None:
                files.discard(path)
            else:
                files.add(path)
        if prefix:
            files = {p for p in files if p == prefix or p.startswith(prefix + "/")}
        return sorted(files)

    # Changing ------------------------------------------------------------------------

    def write(self, path: str, content: str) -> None:
        """Create or overwrite ``path`` with ``content``."""
        self._check_writable(path)
        if not isinstance(content, str):
            raise TypeError("content must be a string")
        try:
            size = len(content.encode("utf-8"))
        except UnicodeEncodeError:
            raise GuardRefused(f"{path}: content is not valid Unicode text") from None
        if size > self.max_file_bytes:
            raise GuardRefused(
                f"{path}: content is {size} bytes; "
                f"the limit is {self.max_file_bytes} bytes per file"
            )
        if not self.exists(path):
            self._check_no_file_dir_clash(path)
        self._check_edit(path, content)
        self._apply_guarded(path, content)

    def replace(self, path: str, old: str, new: str) -> None:
        """Replace the single occurrence of ``old`` in ``path`` by ``new``."""
        self._check_writable(path)
        current = self.read(path)
        if not old:
            raise Refused(f"{path}: 'old' is empty; give the exact text to replace")
        count = current.count(old)
        if count == 0:
            hint = _near(current, old)
            raise Refused(f"{path}: 'old' was not found (it occurred 0 times). {hint}")
        if count > 1:
            lines = _occurrence_lines(current, old)
            raise Refused(
                f"{path}: 'old' occurred {count} times (starting at lines {lines}); it must occur "
                "exactly once. Include more surrounding lines in 'old' to make it unique."
            )
        self.write(path, current.replace(old, new, 1))

    def delete(self, path: str) -> None:
        """Delete ``path``; FileNotFoundError if it does not exist."""
        self._check_writable(path)
        if not self.exists(path):
            raise FileNotFoundError(f"{path} does not exist")
        self._check_edit(path, None)
        self._apply_guarded(path, None)

    # The change ----------------------------------------------------------------------

    def changes(self) -> list[FileChange]:
        """The change against the snapshot, sorted by path; unchanged files are omitted."""
        result = []
        for path in sorted(self._overlay):
            original = self._original(path)
            new = self._overlay[path]
            if original is None:
                result.append(FileChange(path, "create", None, new))
            elif new is None:
                result.append(FileChange(path, "delete", original, None))
            else:
                result.append(FileChange(path, "modify", original, new))
        return result

    def changed_lines(self) -> tuple[int, int]:
        """``(added, removed)`` lines over the whole change."""
        added = sum(a for a, _ in self._stats.values())
        removed = sum(r for _, r in self._stats.values())
        return added, removed

    # Internals -----------------------------------------------------------------------

    def _check_writable(self, path: str) -> None:
        check_path(path, snapshot=self.snapshot)
        reason = self.deny(path)
        if reason is not None:
            raise PathRefused(f"path {quote_path(path)} refused: {reason}")
        if path not in self._overlay:
            reason = self._not_editable_reason(path)
            if reason is not None:
                raise PathRefused(f"path {quote_path(path)} refused: {reason}")
        # Overlay files are always text; only an untouched snapshot file can be binary.
        if path not in self._overlay and self.snapshot.has_file(path):
            if self._original(path) is None:
                raise GuardRefused(f"{path} is a binary file; binary files cannot be changed")

    def _check_edit(self, path: str, new: str | None) -> None:
        # Against the current text: every accepted step keeps what is protected, so the
        # whole change does too (and a /fix run is judged on what it adds).
        current = self._overlay[path] if path in self._overlay else self._original(path)
        reason = self.deny_edit(path, current, new)
        if reason is not None:
            raise PathRefused(f"path {quote_path(path)} refused: {reason}")

    def _check_no_file_dir_clash(self, path: str) -> None:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if self.exists(parent):
                raise PathRefused(
                    f"path {quote_path(path)} refused: {parent!r} is a file, not a directory"
                )
        if self.list_files(path):
            raise PathRefused(f"path {quote_path(path)} refused: it is a directory")

    def _apply_guarded(self, path: str, content: str | None) -> None:
        before_files = len(self._stats)
        before_lines = sum(self.changed_lines())
        was_changed = path in self._overlay
        previous = self._overlay.get(path)
        self._set(path, content)
        after_files = len(self._stats)
        after_lines = sum(self.changed_lines())
        problem = None
        if after_files > self.max_files and after_files > before_files:
            problem = f"this would change {after_files} files; the limit is {self.max_files}"
        elif after_lines > self.max_changed_lines and after_lines > before_lines:
            problem = (f"this would make {after_lines} changed lines; the limit is "
                       f"{self.max_changed_lines} (currently {before_lines})")
        if problem is not None:
            self._set(path, previous, unchanged=not was_changed)
            raise GuardRefused(f"{path}: refused: {problem}")

    def _set(self, path: str, content: str | None, *, unchanged: bool = False) -> None:
        original = self._original(path)
        if unchanged or content == original:
            # Back to the snapshot's state: no longer part of the change.
            self._overlay.pop(path, None)
            self._stats.pop(path, None)
            return
        self._overlay[path] = content
        self._stats[path] = file_line_stats(original, content)

    def _absent_reason(self, path: str) -> str | None:
        """Why a path the snapshot lacks is not simply absent from the commit, or None."""
        skipped = self.snapshot.skipped_reason(path)
        if skipped is not None:
            return (f"this file is in the repository but not in the snapshot ({skipped}), "
                    "so it cannot be read or edited")
        if self.tree is not None:
            item = self.tree.lookup(path)
            if isinstance(item, TreeItem) and item.type == "blob":
                return why_not_editable(path, tree=self.tree, snapshot_bytes=None)
        return None

    def _not_editable_reason(self, path: str) -> str | None:
        """Why changing ``path`` would not change the commit's real file as the model sees it."""
        if path not in self._not_editable:
            reason = self._absent_reason(path) if not self.snapshot.has_file(path) else None
            if reason is None and self.tree is not None:
                data = self.snapshot.read_bytes(path) if self.snapshot.has_file(path) else None
                reason = why_not_editable(path, tree=self.tree, snapshot_bytes=data)
            self._not_editable[path] = reason
        return self._not_editable[path]

    def _original(self, path: str) -> str | None:
        # The snapshot never changes, so each original is read from disk once.
        if path not in self._originals:
            has = self.snapshot.has_file(path)
            self._originals[path] = self.snapshot.read_text(path) if has else None
        return self._originals[path]


def _occurrence_lines(text: str, needle: str, *, limit: int = 5) -> str:
    lines, start = [], 0
    while len(lines) < limit and (found := text.find(needle, start)) != -1:
        lines.append(str(text.count("\n", 0, found) + 1))
        start = found + 1
    return ", ".join(lines)


def _near(text: str, old: str) -> str:
    """Lines of ``text`` that look most like the first line of ``old``, to help a retry."""
    hint = "'old' must match the file exactly, including indentation and line endings."
    wanted = next((line.strip() for line in old.split("\n") if line.strip()), "")
    if not wanted:
        return hint
    lines = text.split("\n")[:20_000]  # bound the cost on huge files
    stripped = {line.strip()[:500]: n for n, line in reversed(list(enumerate(lines, 1)))}
    close = difflib.get_close_matches(wanted[:500], list(stripped), n=3, cutoff=0.6)
    if not close:
        return hint + " No similar line was found; read the file again before editing."
    shown = "\n".join(f"{stripped[c]:5d}| {lines[stripped[c] - 1][:300]}" for c in close)
    crlf = " The file uses CRLF line endings." if "\r\n" in text else ""
    return f"{hint}{crlf} Closest lines:\n{shown}"
