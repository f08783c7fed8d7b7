"""Hooks the app calls around the routers: build per-process helpers, report abandoned jobs."""

from __future__ import annotations

import json
import logging

from bot.services import Services
from bot.store import Job

log = logging.getLogger(__name__)


async def setup(services: Services) -> None:
    """Create the model router, snapshot cache and other per-process helpers."""
    from bot.stages.context import build_runtime

    await build_runtime(services)


async def teardown(services: Services) -> None:
    from bot.stages.context import close_runtime

    await close_runtime(services)


async def report_abandoned(services: Services, job: Job) -> None:
    """Tell the issue that a job was interrupted too often to trust another automatic run."""
    from bot.stages.context import post_failure_for_job

    payload = json.loads(job.payload)
    await post_failure_for_job(services, job, payload,
                               what="the job was interrupted several times (the service restarted mid-work)")
