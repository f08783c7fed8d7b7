"""The plan comment and the review are made once, even when GitHub made them and the answer was lost
(a 5xx after the effect, a connection reset): the bot finds its own output by its marker.

The crash cases (SIGKILL while the call is in flight) are in tests/test_crash_resume.py.
"""

from __future__ import annotations

import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.test_implement_stage import planned  # noqa: F401 - fixture
from tests.test_plan_stage import comment, label

PLAN_COMMENT_POST = r"/issues/\d+/comments$"
REVIEW_POST = r"/pulls/\d+/reviews$"


def lose_the_answer(github, method: str, path: str, how: str) -> None:
    if how == "reset":
        github.disconnect_after_effect(method, path)
    else:
        github.fail_after_effect(method, path, status=502)


def assert_no_failure_comment(github) -> None:
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert not any("failed" in b.lower() and "/retry" in b for b in bodies), bodies


@pytest.mark.parametrize("how", ["502", "reset"])
async def test_a_plan_comment_made_despite_the_error_is_found_not_posted_again(make_bot, github, anthropic, how):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    lose_the_answer(github, "POST", PLAN_COMMENT_POST, how)
    await label(bot)
    comments = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
    assert len(comments) == 1, [c["body"][:60] for c in comments]
    marker = find_marker(comments[0]["body"], "plan")
    assert marker["state"] == "planned"  # not stuck at "planning…"
    assert bot.worker.failed == 0
    assert github.count("POST", "/comments") == 1


@pytest.mark.parametrize("how", ["502", "reset"])
async def test_a_review_made_despite_the_error_is_found_not_reported_as_failed(planned, github, how):  # noqa: F811
    lose_the_answer(github, "POST", REVIEW_POST, how)
    await comment(planned, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    reviews = github.reviews(sc.OWNER, sc.REPO, pull)
    assert len(reviews) == 1
    assert find_marker(reviews[0]["body"], "review")["pr"] == pull
    assert_no_failure_comment(github)
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "pr_open"
    state = planned.services.store.issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE)
    assert state["state"] == "pr_open" and state["review_id"] == reviews[0]["id"]
    assert planned.worker.failed == 0
