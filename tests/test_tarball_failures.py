"""Tarball failures: retried the way GitHub asks, and never leaking the codeload token."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.github.tarball import TarballError, download_tarball
from tests import scenario as sc
from tests.fakes.deliveries import issue_labeled

REPO = f"{sc.OWNER}/{sc.REPO}"
SECRET = "CODELOAD_SECRET_abc123"


def labeled() -> dict:
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                         title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port whose accept queue is full: new connects hang (their SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


async def test_a_connect_timeout_on_the_redirect_keeps_the_token_out_of_message_and_log(
        black_hole: int, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def tarball(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{black_hole}/o/r/legacy.tar.gz/main?token={SECRET}")

    app = web.Application()
    app.router.add_get("/repos/o/r/tarball/main", tarball)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(TarballError) as info:
                await download_tarball(session, api_url=f"http://127.0.0.1:{port}", token="ghs_x",
                                       owner="o", repo="r", ref="main", dest_file=tmp_path / "a.tgz",
                                       max_bytes=10**6,
                                       timeout=aiohttp.ClientTimeout(total=None, sock_connect=0.5, sock_read=5))
    finally:
        await runner.cleanup()
    error = info.value
    # Said as it happened (a connect timeout), not as a 900-second download limit.
    assert str(error) == "connecting to 127.0.0.1 timed out"
    assert error.status == 0 and error.retryable
    # The stages log failures with their traceback: nothing chained may carry the URL.
    assert error.__cause__ is None and error.__suppress_context__
    assert SECRET not in "".join(traceback.format_exception(error))
    with caplog.at_level(logging.WARNING):
        logging.getLogger("bot.stages.flow").warning("plan stage failed: %s", error, exc_info=error)
    assert SECRET not in caplog.text and "timed out" in caplog.text


@pytest.mark.parametrize("status,headers,waits", [
    (502, {}, None),                         # backoff: 0.5-1 s, then 1-2 s
    (429, {"retry-after": "3"}, [3.0, 3.0]),
    (403, {"retry-after": "5"}, [5.0, 5.0]),  # a secondary rate limit
])
async def test_a_throttled_or_failing_tarball_is_retried(make_bot, github, anthropic, status, headers,
                                                        waits) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    github.fail_next("GET", r"/tarball/", status=status, times=2, headers=headers)
    await bot.send("issues", labeled())
    await bot.settle()

    assert bot.services.store.issue_state(REPO, sc.ISSUE)["state"] == "planned"
    assert [r.status for r in github.requests if "/tarball/" in r.path] == [status, status, 302]
    if waits is None:
        assert len(bot.sleep.waits) == 2
        assert 0.5 <= bot.sleep.waits[0] <= 1.0 and 1.0 <= bot.sleep.waits[1] <= 2.0
    else:
        assert bot.sleep.waits == waits


async def test_a_forbidden_tarball_without_retry_after_fails_at_once(make_bot, github, anthropic) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    github.fail_next("GET", r"/tarball/", status=403, times=5)
    await bot.send("issues", labeled())
    await bot.settle()

    assert [r.status for r in github.requests if "/tarball/" in r.path] == [403]
    assert bot.sleep.waits == []
    assert bot.services.store.issue_state(REPO, sc.ISSUE)["state"] == "failed"
    assert "Could not download the repository snapshot" in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]


async def test_a_rate_limit_longer_than_a_minute_is_reported_not_waited(make_bot, github, anthropic) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    github.fail_next("GET", r"/tarball/", status=429, times=5, headers={"retry-after": "600"})
    await bot.send("issues", labeled())
    await bot.settle()

    assert [r.status for r in github.requests if "/tarball/" in r.path] == [429]
    assert bot.sleep.waits == []
    assert bot.services.store.issue_state(REPO, sc.ISSUE)["state"] == "failed"
