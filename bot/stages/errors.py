"""How a stage ends without a result: it failed (reported with /retry), it was cancelled (quietly),
or it broke unexpectedly after answering the issue (``FailureReported``, for the job runner)."""

from __future__ import annotations


class StageFailed(Exception):
    """A stage ended without a result; the message is shown to the maintainers."""

    hint: str | None = None
    """What the maintainers can do about it, when that is not simply `/retry`."""


class StageCancelled(Exception):
    """A maintainer cancelled the issue while the stage was running; nothing more is done."""


class FailureReported(Exception):
    """A stage broke unexpectedly (a bug, not a ``StageFailed``) and has already answered the
    issue; the job runner (``bot/runner.py``) must not answer it again, and records ``error``
    as the job's failure."""

    def __init__(self, stage: str, error: Exception) -> None:
        super().__init__(f"the {stage} stage failed and said so: {type(error).__name__}: {error}")
        self.stage = stage
        self.error = error
