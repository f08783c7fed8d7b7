"""How a stage ends without a result: it failed (reported with /retry) or it was cancelled (quietly)."""

from __future__ import annotations


class StageFailed(Exception):
    """A stage ended without a result; the message is shown to the maintainers."""

    hint: str | None = None
    """What the maintainers can do about it, when that is not simply `/retry`."""


class StageCancelled(Exception):
    """A maintainer cancelled the issue while the stage was running; nothing more is done."""
