"""Shared fixtures: the fake GitHub, the fake model providers, and a factory for the real bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import scenario as sc
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.app_keys import generate_app_key
from tests.fakes.deliveries import issue_labeled
from tests.fakes.github_server import FakeGitHub
from tests.fakes.harness import BotHarness, RecordedSleep, bot_env
from tests.fakes.openai_server import FakeOpenAI
from tests.pg import Cluster

ANTHROPIC_KEY = "sk-ant-test-key"
OPENAI_KEY = "sk-openai-test-key"


@pytest.fixture
async def github(tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    """The fake GitHub; every test also checks that what the bot sent fits GitHub's schemas."""
    _, public = generate_app_key()
    async with FakeGitHub(tmp_path / "github", app_id=1234, public_key_pem=public) as fake:
        yield fake
    assert fake.schema_violations == [], fake.schema_violations
    assert fake.unknown_routes == [], fake.unknown_routes


@pytest.fixture
async def anthropic() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


MakeBot = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
async def make_bot(tmp_path: Path, github: FakeGitHub, anthropic: FakeAnthropic,
                   openai: FakeOpenAI) -> AsyncIterator[MakeBot]:
    """``bot = await make_bot(ROUTE_ME_FALLBACKS="...")``: the real app wired to the fakes."""
    private, _ = generate_app_key()
    started: list[BotHarness] = []

    async def make(sleep: RecordedSleep | None = None, **overrides: str) -> BotHarness:
        env = bot_env(tmp_path, github_url=github.url, private_key=private,
                      anthropic_url=anthropic.base_url, openai_url=openai.base_url,
                      ANTHROPIC_API_KEY=ANTHROPIC_KEY, OPENAI_API_KEY=OPENAI_KEY)
        env.update(overrides)
        bot = BotHarness(env, sleep=sleep)
        await bot.start()
        started.append(bot)
        return bot

    yield make
    for bot in started:
        await bot.stop()


StartPlanned = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
def start_planned(make_bot: MakeBot, github: FakeGitHub, anthropic: FakeAnthropic,
                  openai: FakeOpenAI) -> StartPlanned:
    """``bot = await start_planned(config="max_files: 2\n")``: the common start of an end-to-end run.

    The scenario repository and issue are seeded, the strong model answers as planner and judge,
    the cheap one follows ``implementer_turns`` (default ``sc.IMPLEMENTER_TURNS``), and a maintainer's label has been handled,
    so the issue is planned.  Tests that script a model differently set it up themselves.
    """
    async def start(*, config: str | None = None,
                    implementer_turns: list[tuple[str, dict[str, Any]]] | None = None) -> BotHarness:
        sc.seed(github, config=config)
        anthropic.responder = sc.anthropic_roles()
        openai.responder = sc.implementer_replies(sc.IMPLEMENTER_TURNS if implementer_turns is None else implementer_turns)
        bot = await make_bot()
        await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                               title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
        await bot.settle()
        return bot

    return start


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throw-away PostgreSQL server for the whole run, started only if a test asks for it."""
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(pg_cluster: Cluster) -> str:
    """A fresh, empty database on the test cluster."""
    return pg_cluster.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """ROUTE_ME_DB for each backend: the store tests run once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "route-me.db")
    return request.getfixturevalue("postgres_url")
