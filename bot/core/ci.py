"""CI on a pull request's head commit: one outcome per app's check suite, and the worst of them.

Several apps (GitHub Actions, a coverage service, a linter app) each report a check suite on
the same commit, in any order; the pull request is only as green as its worst suite.
"""

from __future__ import annotations

from collections.abc import Mapping

# Suite states that mean "still running" (a check_suite's status before it completes).
PENDING = frozenset({"requested", "queued", "in_progress", "pending"})
# Worse outcomes rank higher; an unknown conclusion counts as a warning, never as green.
_SEVERITY = {"success": 0, "skipped": 1, "neutral": 1, "stale": 2, "cancelled": 3, "action_required": 3,
             "timed_out": 4, "startup_failure": 4, "failure": 4}
_UNKNOWN_SEVERITY = 3


def suite_outcome(status: str | None, conclusion: str | None) -> str:
    """What one suite says: its conclusion once completed, else its status."""
    if conclusion:
        return conclusion
    return status if status in PENDING else "pending"


def record_suite(suites: Mapping[str, str], *, suites_head: str | None, head_sha: str, app: str,
                 outcome: str) -> dict[str, str]:
    """The suites after ``app`` reported ``outcome`` on ``head_sha``; another head starts afresh."""
    updated = dict(suites) if suites_head == head_sha else {}
    updated[app] = outcome
    return updated


def worst_outcome(suites: Mapping[str, str]) -> str | None:
    """The overall CI state: a running suite wins over green ones, a failure over everything."""
    if not suites:
        return None
    finished = [o for o in suites.values() if o not in PENDING]
    worst = max(finished, key=lambda o: _SEVERITY.get(o, _UNKNOWN_SEVERITY), default=None)
    running = [o for o in suites.values() if o in PENDING]
    if running and (worst is None or _SEVERITY.get(worst, _UNKNOWN_SEVERITY) < _UNKNOWN_SEVERITY):
        return "in_progress"
    return worst
