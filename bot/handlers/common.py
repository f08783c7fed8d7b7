"""Hooks the app calls around the routers: build per-process helpers, report abandoned jobs."""

from __future__ import annotations

import json

from bot.core.commands import parse_commands
from bot.services import Services
from bot.stages.context import post_failure_for_job
from bot.stages.runtime import build_runtime, close_runtime
from bot.store import Job


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
    payload = json.loads(job.payload)
    if job.event == "issues":
        return payload.get("action") in ("unlabeled", "closed")
    commands = parse_commands((payload.get("comment") or {}).get("body"))
    return bool(commands) and all(command.name == "cancel" for command in commands)


async def report_abandoned(services: Services, job: Job) -> None:
    """Tell the issue that a job was interrupted too often to trust another automatic run."""
    await post_failure_for_job(services, job, json.loads(job.payload),
                               what="The job was interrupted several times (the service restarted mid-work).")
