"""Jobs about a route-me pull request wait for the issue's running stage instead of racing it."""

from __future__ import annotations

import asyncio
import copy
import json

from bot.runner import lock_key_for
from bot.store import Job, SqliteStore
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, load_payload, retarget
from tests.test_plan_stage import label


def check_suite_completed(pull: dict, conclusion: str = "failure") -> dict:
    payload = retarget(load_payload("pull_request.opened.1"), owner=sc.OWNER, repo=sc.REPO)
    return {
        "action": "completed",
        "check_suite": {"id": 5, "head_sha": pull["head"]["sha"], "head_branch": pull["head"]["ref"],
                        "status": "completed", "conclusion": conclusion,
                        "pull_requests": [{"number": pull["number"], "id": pull["id"],
                                           "head": {"ref": pull["head"]["ref"], "sha": pull["head"]["sha"]},
                                           "base": {"ref": "main", "sha": pull["base"]["sha"]}}]},
        "repository": payload["repository"], "installation": payload["installation"],
        "sender": {"login": "github-actions[bot]", "type": "Bot"},
    }


async def approve_and_hold_the_judge(make_bot, github, anthropic, openai):
    """Plan, then /approve; returns while the first judge call is held open."""
    sc.seed(github)
    roles = sc.anthropic_roles()
    judging, release = asyncio.Event(), asyncio.Event()

    async def respond(body):
        if is_judge_call(body) and not judging.is_set():
            judging.set()  # only the first judge call is held
            await release.wait()
        return roles(body)

    anthropic.responder = respond
    openai.responder = sc.implementer_replies()
    bot = await make_bot()
    await label(bot)
    approve = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/approve",
                            user=sc.MAINTAINER, comment_id=601)
    approve["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    assert (await bot.send("issue_comment", approve)).status == 202
    await asyncio.wait_for(judging.wait(), 20)
    return bot, github.pulls(sc.OWNER, sc.REPO)[0], release


def is_judge_call(body: dict) -> bool:
    return any(t["name"] == "submit_scorecard" for t in body.get("tools", []))


async def give_the_worker_a_chance(bot, anthropic, completed_before: int) -> None:
    """Until the new job is waiting behind the judge or (were it not locked) has run alongside it."""
    def judge_calls() -> int:
        return sum(1 for b in anthropic.message_bodies if is_judge_call(b))

    async def poll() -> None:
        while bot.worker.pending == 0 and bot.worker.completed == completed_before and judge_calls() < 2:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), 10)
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_check_suite_finishing_while_the_judge_runs_is_in_the_review(make_bot, github, anthropic, openai):
    bot, pull, release = await approve_and_hold_the_judge(make_bot, github, anthropic, openai)
    completed = bot.worker.completed
    assert (await bot.send("check_suite", check_suite_completed(pull))).status == 202
    await give_the_worker_a_chance(bot, anthropic, completed)
    release.set()
    await bot.settle()
    reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
    assert len(reviews) == 1
    assert "**CI:** ❌ failure" in reviews[0]["body"]
    assert bot.worker.failed == 0


async def test_rescore_during_the_first_judge_run_ends_with_one_review(make_bot, github, anthropic, openai):
    bot, pull, release = await approve_and_hold_the_judge(make_bot, github, anthropic, openai)
    completed = bot.worker.completed
    rescore = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=pull["number"], body="/rescore",
                            user=sc.MAINTAINER, comment_id=602, on_pull_request=True)
    assert (await bot.send("issue_comment", rescore)).status == 202
    await give_the_worker_a_chance(bot, anthropic, completed)
    release.set()
    await bot.settle()
    reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
    assert len(reviews) == 1, [r["body"][:80] for r in reviews]
    judge_calls = [b for b in anthropic.message_bodies if is_judge_call(b)]
    assert len(judge_calls) == 2  # the first run, then the rescore after it
    assert bot.worker.failed == 0


def _job(event: str, payload: dict, *, issue: int | None) -> Job:
    return Job(id=1, delivery_id="d", event=event, installation_id=1, repo="o/r", issue=issue,
               payload=json.dumps(payload).encode(), status="pending", attempts=0)


def test_pull_request_jobs_lock_the_issue_they_belong_to(tmp_path):
    store = SqliteStore(tmp_path / "db")
    try:
        store.link_pull_request("o/r", 12, 7)
        key = lock_key_for(store)
        pull_comment = {"issue": {"number": 12, "pull_request": {"url": "u"}}}
        assert key(_job("issue_comment", pull_comment, issue=12)) == ("o/r", 7)
        assert key(_job("issue_comment", {"issue": {"number": 7}}, issue=7)) == ("o/r", 7)
        closed = {"pull_request": {"number": 12, "head": {"ref": "route-me/issue-7"}}}
        assert key(_job("pull_request", closed, issue=None)) == ("o/r", 7)
        suite = {"check_suite": {"head_branch": "route-me/issue-7",
                                 "pull_requests": [{"number": 12, "head": {"ref": "route-me/issue-7"}}]}}
        assert key(_job("check_suite", suite, issue=None)) == ("o/r", 7)
        # Not linked yet (or GitHub left pull_requests empty): the branch name still tells.
        bare_suite = {"check_suite": {"head_branch": "bot/issue-9", "pull_requests": []}}
        assert key(_job("check_suite", bare_suite, issue=None)) == ("o/r", 9)
        other = {"check_suite": {"head_branch": "feature-x", "pull_requests": []}}
        assert key(_job("check_suite", other, issue=None)) == ("o/r", None)
        unlinked = copy.deepcopy(pull_comment)
        unlinked["issue"]["number"] = 30
        assert key(_job("issue_comment", unlinked, issue=30)) == ("o/r", 30)
    finally:
        store.close()
