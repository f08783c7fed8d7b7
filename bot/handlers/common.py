"""Hooks the app calls around the routers: build per-process helpers, report abandoned jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.core.events import Intent, describe
from bot.core.json_body import parse_json
from bot.github.client import is_transient
from bot.services import Services
from bot.stages import job_failures
from bot.stages.runtime import build_runtime, close_runtime
from bot.store import Job, Store
from bot.worker import IssueKey

log = logging.getLogger(__name__)

async def setup(services: Services) -> None:
    """Create the model router, snapshot cache and other per-process helpers."""
    await build_runtime(services)


async def teardown(services: Services) -> None:
    await close_runtime(services)


def job_intent(job: Job) -> Intent:
    """The job's intent as classified at intake; jobs recorded before intents were stored
    (or by a test that built a bare job) are classified from their payload now."""
    if job.intent is not None:
        return Intent.from_json(job.intent)
    return describe(job.event, parse_json(job.payload), repo=job.repo, installation_id=job.installation_id)


def runs_unlocked(job: Job) -> bool:
    """Cancelling must reach an issue whose stage is still running, so it skips the issue lock.

    The running stage sees the cancelled state before its next model call and stops.
    """
    return job_intent(job).bypasses_lock


def lock_key_for(store: Store) -> Callable[[Job], IssueKey]:
    """The issue a job locks: jobs about a route-me pull request lock the issue it belongs to,
    so a command, a closed pull request or a finished check suite waits for the issue's
    implement or judge run instead of racing it.

    Runs in the worker (the webhook stays free of lookups) and asks only the store.
    """

    def lock_key(job: Job) -> IssueKey:
        issue = issue_behind(store, job_intent(job))
        return (job.repo, issue if issue is not None else job.issue)

    return lock_key


def issue_behind(store: Store, intent: Intent) -> int | None:
    """The issue behind the route-me pull request or branch a delivery is about, or None
    (a comment on the issue itself, or nothing of route-me's)."""
    for number in intent.pull_requests:
        issue = store.issue_for_pull_request(intent.repo, number)
        if issue is not None:
            return issue
    return intent.issue_from_branches()


def linked_issue(store: Store, repo: str, event: str, payload: dict[str, Any]) -> int | None:
    """The issue behind the pull request or bot branch an event is about, or None."""
    return issue_behind(store, describe(event, payload, repo=repo, installation_id=None))


async def report_abandoned(services: Services, job: Job, *, what: str) -> None:
    """Tell the maintainers about a job the worker gave up on (interrupted too often, or unschedulable)."""
    await job_failures.report_abandoned(services, job, what=what)


async def report_failed_job(services: Services, job: Job, exc: Exception) -> None:
    """A job failed where no stage reported it (e.g. the config read or the permission check):
    answer the maintainer anyway; a report that fails itself is only logged."""
    try:
        await job_failures.report_unhandled(services, job, exc)
    except Exception as report_exc:  # noqa: BLE001 - the original failure is what the worker records
        log.warning("could not report the failure of job %s: %s: %s", job.id, type(report_exc).__name__,
                    report_exc, exc_info=not is_transient(report_exc))
