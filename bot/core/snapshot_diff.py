"""The change between two snapshots of one repository (base commit vs a branch head), as FileChanges."""

from __future__ import annotations

from bot.core.changes import FileChange
from bot.core.snapshot import Snapshot


def snapshot_changes(base: Snapshot, head: Snapshot) -> list[FileChange]:
    """Text files created, modified or deleted from ``base`` to ``head``, sorted by path.

    Binary files are left out: nothing the bot does creates or edits them.
    """
    changes: list[FileChange] = []
    base_paths, head_paths = set(base.paths()), set(head.paths())
    for path in sorted(base_paths | head_paths):
        old = base.read_text(path) if path in base_paths else None
        new = head.read_text(path) if path in head_paths else None
        if path in base_paths and path in head_paths:
            if base.size(path) == head.size(path) and base.read_bytes(path) == head.read_bytes(path):
                continue
            if old is None or new is None:
                continue
            changes.append(FileChange(path=path, action="modify", old=old, new=new))
        elif path in head_paths:
            if new is not None:
                changes.append(FileChange(path=path, action="create", old=None, new=new))
        elif old is not None:
            changes.append(FileChange(path=path, action="delete", old=old, new=None))
    return changes
