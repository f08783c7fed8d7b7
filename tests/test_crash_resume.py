"""SIGKILL at the worst moment: a real ``route-me serve`` is killed while the fake GitHub holds the named
call, GitHub then completes that call (as it would: the request had reached it), and the restarted
process resumes the job.  Each run must end with exactly one plan comment, one pull request and one
review, no orphan branch, and no model called twice for the same work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes.app_keys import generate_app_key
from tests.fakes.deliveries import issue_comment, issue_labeled
from tests.fakes.github_server import FakeGitHub
from tests.fakes.harness import bot_env
from tests.fakes.served_bot import ServedBot

BRANCH = f"route-me/issue-{sc.ISSUE}"


@pytest.fixture
async def served(tmp_path: Path, github, anthropic, openai) -> AsyncIterator[ServedBot]:
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    openai.responder = sc.implementer_replies(sc.IMPLEMENTER_TURNS)
    private, _ = generate_app_key()
    env = bot_env(tmp_path, github_url=github.url, private_key=private, anthropic_url=anthropic.base_url,
                  openai_url=openai.base_url)
    bot = ServedBot(env, log=tmp_path / "bot.log")
    try:
        yield bot
    finally:
        await bot.stop()


def labeled() -> dict:
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                         title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER)


def approved() -> dict:
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/approve", user=sc.MAINTAINER)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    return payload


async def kill_while_held(bot: ServedBot, github: FakeGitHub, hold, *, then_exists) -> None:
    """SIGKILL the bot while ``hold`` keeps its call at GitHub, let GitHub finish the call, restart."""
    await asyncio.wait_for(hold.arrived.wait(), 30)
    await bot.kill()
    hold.release()
    async with asyncio.timeout(10):  # the call reached GitHub, so GitHub completes it
        while not then_exists():
            await asyncio.sleep(0.02)
    await bot.start()
    await bot.settle()


async def test_killed_while_posting_the_plan_comment(served, github, anthropic):
    hold = github.hold_next("POST", r"/issues/\d+/comments$")
    await served.start()
    assert await served.send("issues", labeled()) == 202
    await kill_while_held(served, github, hold,
                          then_exists=lambda: len(github.comments(sc.OWNER, sc.REPO, sc.ISSUE)) == 1)
    comments = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
    assert len(comments) == 1, [c["body"][:60] for c in comments]
    assert find_marker(comments[0]["body"], "plan")["state"] == "planned"  # not stuck at "planning…"
    assert anthropic.calls == 1  # the planner ran once
    assert served.exits[0] == -9


async def planned(served: ServedBot) -> None:
    await served.start()
    assert await served.send("issues", labeled()) == 202
    await served.settle()


async def test_killed_while_creating_the_branch(served, github, openai):
    await planned(served)
    hold = github.hold_next("POST", r"/git/refs$")
    assert await served.send("issue_comment", approved()) == 202
    repo = github.repo(sc.OWNER, sc.REPO)
    await kill_while_held(served, github, hold, then_exists=lambda: BRANCH in repo.branches())
    assert repo.branches() == ["main", BRANCH]  # no "-2" branch, no orphan
    pulls = github.pulls(sc.OWNER, sc.REPO)
    assert len(pulls) == 1 and pulls[0]["head"]["ref"] == BRANCH
    assert openai.calls == len(sc.IMPLEMENTER_TURNS)  # the implementer was not run again
    assert len(github.reviews(sc.OWNER, sc.REPO, pulls[0]["number"])) == 1
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "pr_open"


async def test_killed_while_posting_the_review(served, github, anthropic):
    await planned(served)
    hold = github.hold_next("POST", r"/pulls/\d+/reviews$")
    assert await served.send("issue_comment", approved()) == 202

    def reviewed() -> bool:
        pulls = github.pulls(sc.OWNER, sc.REPO)
        return bool(pulls) and len(github.reviews(sc.OWNER, sc.REPO, pulls[0]["number"])) == 1

    await kill_while_held(served, github, hold, then_exists=reviewed)
    pull = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    reviews = github.reviews(sc.OWNER, sc.REPO, pull)
    assert len(reviews) == 1
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert not any("stage failed" in b for b in bodies), bodies
    assert anthropic.calls == 2  # planner once, judge once
    state = await asyncio.to_thread(_issue_state, served.db)
    assert state["state"] == "pr_open" and state["review_id"] == reviews[0]["id"]


def _issue_state(db: str) -> dict:
    import json
    import sqlite3

    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (data,) = connection.execute("SELECT data FROM issue_state").fetchone()
        return json.loads(data)
    finally:
        connection.close()
