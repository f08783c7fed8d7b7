"""A proposed change to a repository: the value passed from the implementer to the committer and the judge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Action = Literal["create", "modify", "delete"]


@dataclass(frozen=True)
class FileChange:
    """One file's change.  ``old`` is None for a created file, ``new`` is None for a deleted one."""

    path: str
    action: Action
    old: str | None
    new: str | None


def changes_between(earlier: Sequence[FileChange], later: Sequence[FileChange]) -> list[FileChange]:
    """The change that turns ``base + earlier`` into ``base + later`` (both against one base).

    ``/fix`` works on the pull request's whole change against the plan's base, but commits
    only what it adds on top of the branch head.
    """
    before = {change.path: change for change in earlier}
    after = {change.path: change for change in later}
    result: list[FileChange] = []
    for path in sorted(before.keys() | after.keys()):
        was, now = before.get(path), after.get(path)
        old = was.new if was is not None else now.old if now is not None else None
        new = now.new if now is not None else was.old if was is not None else None
        if old == new:
            continue
        action: Action = "create" if old is None else "delete" if new is None else "modify"
        result.append(FileChange(path=path, action=action, old=old, new=new))
    return result
