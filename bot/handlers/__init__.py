"""The one place where handlers are combined: which handler takes which classified intent.

The job runner (``bot/runner.py``) looks a job's ``(intent.event, intent.action)`` up here
and calls that one handler with a ``Run``; a key missing here is work classify() never makes.
"""

from __future__ import annotations

from bot.handlers import checks, comments, issues, pulls
from bot.handlers.common import Handler, Run, setup, teardown

HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("issues", "labeled"): issues.issue_labeled,
    ("issues", "unlabeled"): issues.issue_unlabeled_or_closed,
    ("issues", "closed"): issues.issue_unlabeled_or_closed,
    ("issue_comment", "created"): comments.comment_created,
    ("issue_comment", "edited"): comments.comment_edited,
    ("check_suite", "completed"): checks.check_suite_completed,
    ("check_run", "completed"): checks.check_run_completed,
    ("status", None): checks.status_reported,
    ("pull_request", "closed"): pulls.pull_request_closed,
}

__all__ = ["HANDLERS", "Handler", "Run", "setup", "teardown"]
