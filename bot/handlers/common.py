"""What a handler is given by the job runner (``Run``), and the per-process setup around handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.events import Delivery, Intent
from bot.github.client import GitHubClient
from bot.services import Services
from bot.stages.context import IssueContext, issue_context
from bot.stages.runtime import build_runtime, close_runtime


@dataclass(frozen=True)
class Run:
    """One claimed job as its handler sees it: the intent classified at intake, the typed parts
    of its delivery, and the route-me issue behind the pull request or branch it concerns
    (``linked_issue``, looked up once by the runner; None for an issue's own events)."""

    services: Services
    gh: GitHubClient
    intent: Intent
    delivery: Delivery
    job_id: int
    attempt: int = 1
    linked_issue: int | None = None

    def context(self, number: int, *, ordered: bool = True) -> IssueContext:
        """The job's view of issue ``number``; ``ordered`` gives it the job id, which orders
        the job against cancels that overtook it (bot/stages/state.py)."""
        return issue_context(self.services, self.gh, self.delivery, number=number,
                             job_id=self.job_id if ordered else None)


Handler = Callable[[Run], Awaitable[None]]


async def setup(services: Services) -> None:
    """Create the model stack, snapshot cache and other per-process helpers."""
    await build_runtime(services)


async def teardown(services: Services) -> None:
    await close_runtime(services)
