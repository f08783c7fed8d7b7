"""CI events on a route-me pull request: check suites, check runs and commit statuses.

Each one leads to ``bot/stages/ci_fix.py``, which reads the head commit's whole CI picture,
shows it in the review and, when everything is done and something failed, runs a fix round.
"""

from __future__ import annotations

from typing import Any

import gidgethub.routing
from gidgethub import sansio

from bot.core.repo_config import ConfigError
from bot.github.client import GitHubClient
from bot.handlers.common import linked_issue
from bot.services import Services
from bot.stages import ci_fix
from bot.stages.context import IssueContext

router = gidgethub.routing.Router()


def _context(event: sansio.Event, gh: GitHubClient, services: Services, issue: int) -> IssueContext:
    repository = event.data["repository"]
    return IssueContext(services=services, gh=gh, owner=repository["owner"]["login"],
                        name=repository["name"], number=issue,
                        installation_id=int(event.data["installation"]["id"]),
                        default_branch=repository.get("default_branch") or "main")


async def _reported(event: sansio.Event, gh: GitHubClient, services: Services, *, head_sha: str,
                    suite: tuple[str, str | None, str | None] | None = None) -> None:
    repo = event.data["repository"]["full_name"]
    issue = linked_issue(services.store, repo, event.event, event.data)
    if issue is None:
        return
    ctx = _context(event, gh, services, issue)
    if ctx.load_state() is None:
        return
    try:
        await ctx.load_config()
    except ConfigError:
        return  # the invalid file was reported when it was read for a command; no model call now
    await ci_fix.ci_reported(ctx, head_sha=head_sha, suite=suite)


@router.register("check_suite", action="completed")
async def check_suite_completed(event: sansio.Event, gh: GitHubClient, *, services: Services,
                                **_: Any) -> None:
    suite = event.data["check_suite"]
    app = suite.get("app") or {}
    await _reported(event, gh, services, head_sha=str(suite.get("head_sha")),
                    suite=(str(app.get("name") or app.get("slug") or "an unnamed app"), suite.get("status"),
                           suite.get("conclusion")))


@router.register("check_run", action="completed")
async def check_run_completed(event: sansio.Event, gh: GitHubClient, *, services: Services, **_: Any) -> None:
    await _reported(event, gh, services, head_sha=str(event.data["check_run"].get("head_sha")))


@router.register("status")
async def status_reported(event: sansio.Event, gh: GitHubClient, *, services: Services, **_: Any) -> None:
    await _reported(event, gh, services, head_sha=str(event.data.get("sha")))
