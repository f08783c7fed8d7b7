"""The long-lived collaborators a job needs, built once in the app's lifecycle and passed down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.github.auth import InstallationTokens
from bot.github.client import GitHubClient, TokenSource
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store import Store, open_store


@dataclass
class Services:
    """Everything handlers and stages use; tests build it with fakes' URLs, never patched code."""

    settings: Settings
    store: Store
    session: aiohttp.ClientSession
    tokens: InstallationTokens
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.time
    extras: dict[str, Any] = field(default_factory=dict)
    # The most recent REST calls, for tests and benchmarks; bounded so a long-lived process
    # does not grow.  ``rest_call_count`` counts them all.
    rest_calls: deque[tuple[str, str, int]] = field(default_factory=lambda: deque(maxlen=10_000))
    rest_call_count: int = 0
    metrics: Metrics = field(default_factory=Metrics)

    def note_rest_call(self, method: str, url: str, status: int) -> None:
        self.rest_call_count += 1
        self.rest_calls.append((method, url, status))
        self.metrics.github_call(method, status)

    def github(self, tokens: TokenSource | None = None) -> GitHubClient:
        """A REST client on the shared session; ``tokens`` supplies an installation token."""
        return GitHubClient(
            self.session,
            base_url=self.settings.github_api_url,
            tokens=tokens,
            sleep=self.sleep,
            clock=self.clock,
            on_request=self.note_rest_call,
            on_rate_limit=self.metrics.github_rate_limit,
        )

    def installation_client(self, installation_id: int) -> GitHubClient:
        """A client that takes the installation's token from the cache on every request, so a
        job that outlasts one token simply uses the next."""
        tokens = self.tokens
        return self.github(TokenSource(
            current=lambda: tokens.get(installation_id),
            refused=lambda token: tokens.forget(installation_id, token),
        ))

    async def installation_token(self, installation_id: int) -> str:
        return await self.tokens.get(installation_id)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Services]:
    """The shared session, store and token cache, closed on exit (the server and CLI both use it)."""
    store = open_store(settings.db)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120, connect=15))
    services: Services | None = None

    async def post_for_token(url: str, app_jwt: str) -> dict[str, Any]:
        assert services is not None
        return await services.github().post(url, data=b"", jwt=app_jwt)

    tokens = InstallationTokens(app_id=settings.github_app_id, private_key=settings.github_private_key,
                                post=post_for_token, clock=clock)
    services = Services(settings=settings, store=store, session=session, tokens=tokens, sleep=sleep,
                        clock=clock)
    try:
        yield services
    finally:
        await session.close()
        store.close()
