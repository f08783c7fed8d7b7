"""A proposed change to a repository: the value passed from the implementer to the committer and the judge."""

from __future__ import annotations

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
