"""Transient network errors: what is safe to repeat is retried with backoff, an expected error is one log
line (no traceback), and a delivery whose job failed without doing anything can be redelivered."""

from __future__ import annotations

import logging

from bot.core.markers import find_marker
from bot.github.client import MAX_ATTEMPTS
from tests import scenario as sc
from tests.fakes.deliveries import issue_labeled

TOKEN = r"/app/installations/\d+/access_tokens$"
CONFIG = r"/contents/\.github/route-me\.yml$"


def labeled() -> dict:
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                         title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER)


def planned(github) -> bool:
    found = [c for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE) if find_marker(c["body"], "plan")]
    return len(found) == 1 and find_marker(found[0]["body"], "plan")["state"] == "planned"


async def test_a_token_request_that_fails_once_is_retried(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    github.fail_next("POST", TOKEN, status=502)
    await bot.send("issues", labeled())
    await bot.settle()
    assert planned(github)
    assert bot.worker.failed == 0
    assert github.count("POST", "/access_tokens") == 2
    assert any(0.5 <= wait <= 1.0 for wait in bot.sleep.waits), bot.sleep.waits  # backoff, not a hot loop


async def test_a_reset_token_request_is_retried(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    github.disconnect_after_effect("POST", TOKEN)  # minted, answer lost: minting again is harmless
    await bot.send("issues", labeled())
    await bot.settle()
    assert planned(github)
    assert bot.worker.failed == 0


async def test_a_job_that_failed_without_effect_is_run_again_when_redelivered(make_bot, github, anthropic, caplog):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    # The config read fails every time the client tries: the job fails before doing anything.
    github.fail_next("GET", CONFIG, status=502, times=MAX_ATTEMPTS)
    caplog.set_level(logging.INFO)
    first = await bot.send("issues", labeled(), delivery_id="redeliver-me")
    assert first.status == 202
    await bot.settle()
    assert bot.worker.failed == 1
    assert github.count("POST", f"/issues/{sc.ISSUE}/comments") <= 1  # at most the failure comment
    assert not planned(github)
    # One line for an expected network error, without a traceback.
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot.")]
    assert failures and all(r.exc_info is None for r in failures), [r.getMessage() for r in failures]

    # GitHub's "Redeliver" sends the same delivery id again: it must run, not be ignored.
    again = await bot.send("issues", labeled(), delivery_id="redeliver-me")
    assert again.status == 202
    await bot.settle()
    assert planned(github)


async def test_a_delivery_whose_job_did_something_stays_deduplicated(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    assert (await bot.send("issues", labeled(), delivery_id="done-once")).status == 202
    await bot.settle()
    assert planned(github)
    assert (await bot.send("issues", labeled(), delivery_id="done-once")).status == 200
    assert anthropic.calls == 1
