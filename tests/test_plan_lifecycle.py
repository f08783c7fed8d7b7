"""The plan stage against what happens around it: a cancel mid-download, a failed revision."""

from __future__ import annotations

import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, issue_labeled
from tests.fakes.harness import overtake


def labeled(*, action: str = "labeled"):
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                         title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER, action=action)


def commented(body: str):
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body=body, user=sc.MAINTAINER)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    return payload


@pytest.mark.parametrize("how", ["/cancel", "unlabel"])
async def test_cancel_during_the_snapshot_download_stops_planning(make_bot, github, anthropic, how):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    download = github.hold_next("GET", r"legacy\.tar\.gz")
    await bot.send("issues", labeled())
    # The cancel runs while the download is held.
    if how == "/cancel":
        await overtake(bot, download, "issue_comment", commented("/cancel"))
    else:
        await overtake(bot, download, "issues", labeled(action="unlabeled"))

    assert anthropic.calls == 0
    state = bot.services.store.issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE)
    assert state["state"] == "cancelled" and state["version"] == 0
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert len(bodies) == 1 and "cancelled" in bodies[0]
    assert not any("stage failed" in b for b in bodies)


async def test_a_failed_revision_keeps_the_current_plan_visible(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await bot.send("issues", labeled())
    await bot.settle()
    patches_before = github.count("PATCH", "/issues/comments/")
    # the planner now answers with a plan that never fits the schema: the revision fails
    anthropic.responder = sc.planner_replies({k: v for k, v in sc.PLAN.items() if k != "steps"})
    await bot.send("issue_comment", commented("/revise also handle negative zero"))
    await bot.settle()

    edits = [r.json["body"] for r in github.requests if r.method == "PATCH" and "/issues/comments/" in r.path]
    revising = edits[patches_before]  # what the comment said while the revision ran
    assert "plan v2 is being written" in revising and "Guard the divisor" in revising
    assert find_marker(revising, "plan")["version"] == 1

    body = sc.plan_comment(github)["body"]
    marker = find_marker(body, "plan")
    assert marker["version"] == 1 and marker["state"] == "failed"
    assert "Guard the divisor" in body  # plan v1 is still there to read
    assert "Revision failed" in body and "/retry" in body
    comments = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
    assert "stage failed" in comments[-1]["body"]
