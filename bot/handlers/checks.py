"""Check suites: when CI finishes on a route-me pull request, the scorecard records each app's outcome."""

from __future__ import annotations

from typing import Any

import gidgethub.routing
from gidgethub import sansio

from bot.github.client import GitHubClient
from bot.services import Services
from bot.stages import score
from bot.stages.context import IssueContext

router = gidgethub.routing.Router()


@router.register("check_suite", action="completed")
async def check_suite_completed(event: sansio.Event, gh: GitHubClient, *, services: Services,
                                **_: Any) -> None:
    suite = event.data["check_suite"]
    repository = event.data["repository"]
    repo = repository["full_name"]
    for pull in suite.get("pull_requests") or []:
        issue = services.store.issue_for_pull_request(repo, int(pull["number"]))
        if issue is None:
            continue
        ctx = IssueContext(services=services, gh=gh, owner=repository["owner"]["login"],
                           name=repository["name"], number=issue,
                           installation_id=int(event.data["installation"]["id"]),
                           default_branch=repository.get("default_branch") or "main")
        state = ctx.load_state()
        if state is None or state.head_sha not in (None, suite.get("head_sha")):
            continue  # CI of an older commit; the newer one will report
        app = suite.get("app") or {}
        await score.record_ci(ctx, app=str(app.get("name") or app.get("slug") or "an unnamed app"),
                              head_sha=str(suite.get("head_sha")), status=suite.get("status"),
                              conclusion=suite.get("conclusion"))
