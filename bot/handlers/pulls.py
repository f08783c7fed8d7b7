"""Pull request events: a route-me pull request closed without merging hands the issue back to its plan."""

from __future__ import annotations

import logging
from typing import Any

import gidgethub.routing
from gidgethub import sansio

from bot.github.client import GitHubClient
from bot.services import Services
from bot.stages import flow
from bot.stages.context import IssueContext

log = logging.getLogger(__name__)
router = gidgethub.routing.Router()


@router.register("pull_request", action="closed")
async def pull_request_closed(event: sansio.Event, gh: GitHubClient, *, services: Services, **_: Any) -> None:
    pull = event.data["pull_request"]
    repository = event.data["repository"]
    issue = services.store.issue_for_pull_request(repository["full_name"], int(pull["number"]))
    if issue is None or pull.get("merged"):
        return
    ctx = IssueContext(services=services, gh=gh, owner=repository["owner"]["login"], name=repository["name"],
                       number=issue, installation_id=int(event.data["installation"]["id"]),
                       default_branch=repository.get("default_branch") or "main")
    if ctx.load_state() is None or ctx.state is None or ctx.state.pr_number != pull["number"]:
        return
    await flow.pull_request_abandoned(ctx, pr_number=int(pull["number"]))
