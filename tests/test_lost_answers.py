"""GitHub did the work but the answer was lost (dropped connection, timeout, 5xx): nothing is made twice
and no branch is deleted from under a pull request that exists."""

from __future__ import annotations

from bot.core.markers import find_marker
from bot.github.client import MAX_ATTEMPTS
from tests import scenario as sc
from tests.test_implement_stage import planned  # noqa: F401 - fixture
from tests.test_plan_stage import comment

BRANCH = f"route-me/issue-{sc.ISSUE}"


def assert_one_pull_and_its_branch(github, bot) -> None:
    pulls = github.pulls(sc.OWNER, sc.REPO)
    assert len(pulls) == 1
    assert pulls[0]["head"]["ref"] == BRANCH
    assert github.repo(sc.OWNER, sc.REPO).branches() == ["main", BRANCH]
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "pr_open"
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert not any("stage failed" in b for b in bodies), bodies
    assert bot.worker.failed == 0


async def test_connection_lost_after_the_pull_request_was_opened(planned, github):  # noqa: F811
    github.disconnect_after_effect("POST", r"/repos/[^/]+/[^/]+/pulls$")
    await comment(planned, "/approve")
    assert_one_pull_and_its_branch(github, planned)


async def test_connection_lost_after_the_branch_was_made(planned, github):  # noqa: F811
    github.disconnect_after_effect("POST", r"/git/refs$")
    await comment(planned, "/approve")
    assert_one_pull_and_its_branch(github, planned)  # the branch is reused, not "issue-7-2"


async def test_a_pull_request_that_exists_keeps_its_branch_when_looking_for_it_failed(planned, github):  # noqa: F811
    # GitHub opens the pull request but answers 502; every retry of the lookup fails too.
    github.fail_after_effect("POST", r"/repos/[^/]+/[^/]+/pulls$", status=502)
    github.fail_next("GET", r"/repos/[^/]+/[^/]+/pulls$", status=500, times=MAX_ATTEMPTS)
    await comment(planned, "/approve")
    assert_one_pull_and_its_branch(github, planned)
