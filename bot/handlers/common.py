"""Hooks the app calls around the routers: build per-process helpers, report abandoned jobs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from bot.core.commands import parse_commands
from bot.core.json_body import parse_json
from bot.services import Services
from bot.stages import job_failures
from bot.stages.runtime import build_runtime, close_runtime
from bot.store import Job, Store
from bot.worker import IssueKey

log = logging.getLogger(__name__)

# The bot names its branches "<prefix>issue-N"; the prefix is per-repository config, so only
# the end is matched.  Used when the store has no link (yet) for a pull request.  A branch
# that already existed gets a "-2", "-3" … suffix; issue numbers never contain "-", so
# "issue-7-2" can only be issue 7.
_ISSUE_BRANCH = re.compile(r"(?:^|/)issue-(\d+)(?:-\d+)?$")


async def setup(services: Services) -> None:
    """Create the model router, snapshot cache and other per-process helpers."""
    await build_runtime(services)


async def teardown(services: Services) -> None:
    await close_runtime(services)


def runs_unlocked(job: Job) -> bool:
    """Cancelling must reach an issue whose stage is still running, so it skips the issue lock.

    The running stage sees the cancelled state before its next model call and stops.
    """
    if job.event not in ("issues", "issue_comment"):
        return False
    payload = parse_json(job.payload)
    if job.event == "issues":
        return payload.get("action") in ("unlabeled", "closed")
    commands = parse_commands((payload.get("comment") or {}).get("body"))
    return bool(commands) and all(command.name == "cancel" for command in commands)


def lock_key_for(store: Store) -> Callable[[Job], IssueKey]:
    """The issue a job locks: jobs about a route-me pull request lock the issue it belongs to,
    so a command, a closed pull request or a finished check suite waits for the issue's
    implement or judge run instead of racing it.

    Runs in the worker (the webhook stays free of lookups) and asks only the store.
    """

    def lock_key(job: Job) -> IssueKey:
        if job.event not in ("issue_comment", "pull_request", "check_suite", "check_run", "status"):
            return (job.repo, job.issue)
        payload = parse_json(job.payload)
        issue = linked_issue(store, job.repo, job.event, payload)
        return (job.repo, issue if issue is not None else job.issue)

    return lock_key


def linked_issue(store: Store, repo: str, event: str, payload: dict[str, Any]) -> int | None:
    """The issue behind the pull request or bot branch an event is about, or None."""
    pulls: list[int] = []
    branches: list[str] = []
    if event == "issue_comment":
        issue = payload.get("issue") or {}
        if not issue.get("pull_request"):
            return None  # a comment on the issue itself: its own number is right
        pulls.append(issue.get("number"))
    elif event == "pull_request":
        pull = payload.get("pull_request") or {}
        pulls.append(pull.get("number"))
        branches.append((pull.get("head") or {}).get("ref"))
    elif event == "status":
        branches += [branch.get("name") for branch in payload.get("branches") or () if isinstance(branch, dict)]
    else:
        suite = payload.get("check_suite") or {}
        run = payload.get("check_run") if event == "check_run" else None
        if isinstance(run, dict):
            suite = run.get("check_suite") or {}
            for pull in run.get("pull_requests") or []:
                pulls.append(pull.get("number"))
                branches.append((pull.get("head") or {}).get("ref"))
        for pull in suite.get("pull_requests") or []:
            pulls.append(pull.get("number"))
            branches.append((pull.get("head") or {}).get("ref"))
        branches.append(suite.get("head_branch"))
    for number in pulls:
        if isinstance(number, int):
            issue = store.issue_for_pull_request(repo, number)
            if issue is not None:
                return issue
    for branch in branches:
        match = _ISSUE_BRANCH.search(branch) if isinstance(branch, str) else None
        if match:
            return int(match.group(1))
    return None


async def report_abandoned(services: Services, job: Job, *, what: str) -> None:
    """Tell the maintainers about a job the worker gave up on (interrupted too often, or unschedulable)."""
    await job_failures.report_abandoned(services, job, what=what)


async def report_failed_job(services: Services, job: Job, exc: Exception) -> None:
    """A job failed where no stage reported it (e.g. the config read or the permission check):
    answer the maintainer anyway; a report that fails itself is only logged."""
    try:
        await job_failures.report_unhandled(services, job, exc)
    except Exception:  # noqa: BLE001 - the original failure is what the worker records
        log.exception("could not report the failure of job %s", job.id)
