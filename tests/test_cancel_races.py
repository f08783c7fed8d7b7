"""Cancels that overtake other jobs: each is recorded, and a job older than a cancel never undoes it.

Cancels skip the issue lock (they must reach a running stage), so they can run before a
job recorded earlier; see bot/stages/state.py for the rule these tests hold the bot to.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.core.markers import find_marker
from bot.stages.state import IssueState
from bot.store import SqliteStore
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, issue_labeled
from tests.fakes.harness import leave_interrupted_job, overtake, until

REPO = f"{sc.OWNER}/{sc.REPO}"


def labeled(*, action: str = "labeled"):
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                         title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER, action=action)


def commented(body: str, *, comment_id: int, number: int = sc.ISSUE, on_pull_request: bool = False):
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=sc.MAINTAINER,
                            on_pull_request=on_pull_request, comment_id=comment_id)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    return payload


def stored(bot) -> dict:
    return bot.services.store.issue_state(REPO, sc.ISSUE)


async def test_a_cancel_while_the_pull_request_is_opened_keeps_the_pull_request(start_planned, github, openai):
    bot = await start_planned()
    pulls_post = github.hold_next("POST", r"/pulls$")
    await bot.send("issue_comment", commented("/approve", comment_id=601))
    await overtake(bot, pulls_post, "issue_comment", commented("/cancel", comment_id=602))

    [pull] = github.pulls(sc.OWNER, sc.REPO)
    pr = pull["number"]
    state = stored(bot)
    assert state["state"] == "cancelled"
    assert (state["pr_number"], state["branch"]) == (pr, pull["head"]["ref"])
    assert github.reviews(sc.OWNER, sc.REPO, pr) == []  # the judge did not run after the cancel
    plan_comment = sc.plan_comment(github)["body"]
    assert find_marker(plan_comment, "plan")["state"] == "cancelled"
    assert f"#{pr}" in plan_comment  # the maintainer learns the pull request exists

    # /fix on that pull request is answered there, and nothing fails.
    calls = openai.calls
    await bot.send("issue_comment", commented("/fix also handle -0", comment_id=603, number=pr,
                                              on_pull_request=True))
    await bot.settle()
    assert bot.worker.failed == 0 and openai.calls == calls
    assert "was cancelled" in github.comments(sc.OWNER, sc.REPO, pr)[-1]["body"]


async def test_an_unlabel_before_the_label_job_saved_its_state_stops_it(make_bot, github, anthropic):
    """The label job waits on its permission check while the (unlocked) unlabel runs."""
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    permission = github.hold_next("GET", r"/collaborators/.*/permission")
    await bot.send("issues", labeled())
    await overtake(bot, permission, "issues", labeled(action="unlabeled"))

    assert anthropic.calls == 0
    assert stored(bot)["state"] == "cancelled"
    assert github.comments(sc.OWNER, sc.REPO, sc.ISSUE) == []

    # The label added again afterwards is newer than the cancel: it plans.
    await bot.send("issues", labeled())
    await bot.settle()
    assert anthropic.calls == 1 and stored(bot)["state"] == "planned"


async def test_a_cancel_comment_before_the_label_job_saved_its_state_stops_it(make_bot, github, anthropic):
    """Like the unlabel above, but a maintainer types /cancel while the label job checks its sender."""
    sc.seed(github, maintainers=(sc.MAINTAINER, "bob"))
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    permission = github.hold_next("GET", rf"/collaborators/{sc.MAINTAINER}/permission")
    await bot.send("issues", labeled())
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/cancel", user="bob",
                            comment_id=610)
    payload["issue"]["labels"] = [labeled()["label"]]  # the comment's issue carries the label it just got
    await overtake(bot, permission, "issue_comment", payload)

    assert anthropic.calls == 0
    assert stored(bot)["state"] == "cancelled"


async def test_a_cancel_comment_on_an_unlabelled_untracked_issue_does_nothing(make_bot, github):
    sc.seed(github)
    bot = await make_bot()
    payload = commented("/cancel", comment_id=611)
    payload["issue"]["labels"] = []
    await bot.send("issue_comment", payload)
    await bot.settle()
    assert stored(bot) is None and github.rest_calls() == []


@pytest.mark.parametrize("toggles, planned_again", [(("unlabeled", "labeled", "unlabeled"), False),
                                                    (("unlabeled", "labeled"), True)])
async def test_a_parked_label_job_obeys_the_last_label_event(make_bot, github, anthropic, toggles,
                                                              planned_again):
    """A /revise holds the issue while the label is toggled: the parked label job runs last."""
    sc.seed(github)
    plain = sc.planner_replies()
    hold, release = asyncio.Event(), asyncio.Event()

    async def respond(body):
        if hold.is_set():
            await release.wait()
        return plain(body)

    anthropic.responder = respond
    bot = await make_bot()
    await bot.send("issues", labeled())
    await bot.settle()
    hold.set()
    await bot.send("issue_comment", commented("/revise also handle -0", comment_id=701))
    await until(lambda: anthropic.calls == 2)  # the revision's model call is held
    for action in toggles:
        done, pending = bot.worker.completed, bot.worker.pending
        await bot.send("issues", labeled(action=action))
        if action == "unlabeled":
            await until(lambda: bot.worker.completed > done)  # unlocked: runs at once
        else:
            await until(lambda: bot.worker.pending > pending)  # parked behind the /revise
    hold.clear()
    release.set()
    await bot.settle()

    state = stored(bot)
    if planned_again:
        assert (state["state"], state["version"]) == ("planned", 2)
    else:
        assert (state["state"], state["version"]) == ("cancelled", 1)
        assert anthropic.calls == 2


async def test_a_cancel_that_overtakes_an_approve_leaves_the_plan_comment_cancelled(start_planned, github, openai):
    bot = await start_planned()
    bot.services.extras["runtime"].permissions._cache.clear()  # the permission cache expired
    downloads = github.count("GET", "legacy.tar.gz")
    permission = github.hold_next("GET", r"/collaborators/.*/permission")
    await bot.send("issue_comment", commented("/approve", comment_id=901))
    await overtake(bot, permission, "issue_comment", commented("/cancel", comment_id=902))

    assert stored(bot)["state"] == "cancelled"
    assert openai.calls == 0 and github.pulls(sc.OWNER, sc.REPO) == []
    body = sc.plan_comment(github)["body"]
    assert find_marker(body, "plan")["state"] == "cancelled"
    assert "implementing…" not in body
    assert github.count("GET", "legacy.tar.gz") == downloads  # no snapshot downloaded for nothing


async def test_a_label_job_interrupted_before_its_progress_comment_plans_when_resumed(make_bot, github,
                                                                                       anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await bot.stop()
    store = SqliteStore(bot.env["ROUTE_ME_DB"])
    IssueState(repo=REPO, number=sc.ISSUE, state="planning").save(store)  # start_plan's first save
    store.close()
    job_id = leave_interrupted_job(bot.env["ROUTE_ME_DB"], "issues", labeled(), delivery_id="label-crashed")
    await bot.start()
    await bot.settle()

    assert bot.services.store.job(job_id).status == "done"
    assert anthropic.calls == 1
    assert stored(bot)["state"] == "planned"
    assert find_marker(sc.plan_comment(github)["body"], "plan")["version"] == 1


async def test_fix_and_rescore_on_a_cancelled_issue_are_answered(start_planned, github, anthropic, openai):
    bot = await start_planned()
    await bot.send("issue_comment", commented("/approve", comment_id=1201))
    await bot.settle()
    pr = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    await bot.send("issue_comment", commented("/cancel", comment_id=1202))
    await bot.settle()
    calls, reviews = (openai.calls, anthropic.calls), len(github.reviews(sc.OWNER, sc.REPO, pr))

    for n, command in enumerate(["/fix also document it", "/rescore"]):
        before = len(github.comments(sc.OWNER, sc.REPO, pr))
        await bot.send("issue_comment", commented(command, comment_id=1203 + n, number=pr,
                                                  on_pull_request=True))
        await bot.settle()
        replies = github.comments(sc.OWNER, sc.REPO, pr)[before:]
        assert len(replies) == 1 and "was cancelled" in replies[0]["body"]
    assert (openai.calls, anthropic.calls) == calls
    assert len(github.reviews(sc.OWNER, sc.REPO, pr)) == reviews
    assert stored(bot)["state"] == "cancelled" and bot.worker.failed == 0


async def test_a_cancel_while_the_branch_is_created_leaves_no_branch(start_planned, github):
    bot = await start_planned()
    refs_post = github.hold_next("POST", r"/git/refs$")
    await bot.send("issue_comment", commented("/approve", comment_id=1301))
    await overtake(bot, refs_post, "issue_comment", commented("/cancel", comment_id=1302))

    assert github.pulls(sc.OWNER, sc.REPO) == []
    assert github.repo(sc.OWNER, sc.REPO).branches() == ["main"]
    state = stored(bot)
    assert state["state"] == "cancelled" and state["branch"] is None and state["pr_number"] is None
    assert bot.worker.failed == 0


async def test_closing_the_issue_before_the_label_job_saved_its_state_stops_it(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    closed_elsewhere = labeled(action="closed")
    closed_elsewhere["issue"].update(number=sc.ISSUE + 1, labels=[{"name": "bug"}])
    await bot.send("issues", closed_elsewhere)
    await bot.settle()
    assert bot.services.store.issue_state(REPO, sc.ISSUE + 1) is None  # never route-me's: no state

    permission = github.hold_next("GET", r"/collaborators/.*/permission")
    await bot.send("issues", labeled())
    closed = labeled(action="closed")
    closed["issue"]["labels"] = [{"name": "bug"}, {"name": "route-me"}]
    await overtake(bot, permission, "issues", closed)

    assert anthropic.calls == 0
    assert stored(bot)["state"] == "cancelled"
