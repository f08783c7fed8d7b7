"""Shutdown leaves nothing running behind the app: no snapshot download outlives it."""

from __future__ import annotations

import asyncio

from tests import scenario as sc
from tests.fakes.deliveries import issue_labeled


async def test_a_snapshot_download_in_flight_is_stopped_at_shutdown(make_bot, github, anthropic) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    download = github.hold_next("GET", r"legacy\.tar\.gz")
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
    await asyncio.wait_for(download.arrived.wait(), 10)
    snapshots = bot.services.extras["runtime"].snapshots
    (fetch,) = snapshots._inflight.values()

    await bot.stop()

    assert fetch.done() and fetch.cancelled()
    assert not snapshots._inflight
    download.release()
