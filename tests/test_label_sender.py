"""The trigger label starts a paid planner run only when a maintainer added it."""

from __future__ import annotations

from tests import scenario as sc
from tests.fakes.deliveries import issue_labeled
from tests.test_plan_stage import label

TRIAGER = "tina"


async def test_a_label_added_by_a_bot_is_ignored(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    payload = issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                            title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender="auto-labeler[bot]",
                            sender_type="Bot")
    response = await bot.send("issues", payload)
    assert response.status == 200 and (await response.json())["status"] == "ignored"  # not even a job
    await bot.settle()
    assert anthropic.calls == 0
    assert github.comments(sc.OWNER, sc.REPO, sc.ISSUE) == []
    assert github.requests == []  # no token, no config read, no permission lookup


async def test_a_label_added_by_a_triager_plans_nothing(make_bot, github, anthropic):
    sc.seed(github)
    github.set_permission(sc.OWNER, sc.REPO, TRIAGER, "triage")
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await label(bot, sender=TRIAGER)
    await label(bot, sender=TRIAGER)
    assert anthropic.calls == 0
    assert not any("route-me:plan" in c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE))
    assert bot.services.store.issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE) is None


async def test_a_triager_on_a_cancelled_issue_gets_one_polite_reply(make_bot, github, anthropic):
    sc.seed(github)
    github.set_permission(sc.OWNER, sc.REPO, TRIAGER, "triage")
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await label(bot)  # the maintainer: one plan
    assert anthropic.calls == 1
    state = bot.services.store.issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE)
    bot.services.store.save_issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE, {**state, "state": "cancelled"})
    await label(bot, sender=TRIAGER)
    await label(bot, sender=TRIAGER)
    assert anthropic.calls == 1
    replies = [c for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE) if "only maintainers" in c["body"]]
    assert len(replies) == 1 and f"@{TRIAGER}" in replies[0]["body"]
    assert "can start route-me by adding its label" in replies[0]["body"]
