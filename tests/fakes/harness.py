"""Runs the real app (factory, lifecycle, worker) on loopback and sends it signed deliveries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, WORKER, create_app
from bot.services import Services
from bot.settings import load_settings
from bot.store import SqliteStore
from bot.webhook import job_for
from bot.worker import Worker
from tests.fakes.deliveries import headers_for

WEBHOOK_SECRET = "it's a secret to everybody"


class RecordedSleep:
    """An injected ``sleep`` that records the waits asked for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def bot_env(tmp_path: Path, *, github_url: str, private_key: str, app_id: int = 1234,
            anthropic_url: str | None = None, openai_url: str | None = None,
            **extra: str) -> dict[str, str]:
    """Environment for a bot wired to the fakes; extra keys override (e.g. ROUTE_ME_FALLBACKS)."""
    env = {
        "GITHUB_APP_ID": str(app_id),
        "GITHUB_PRIVATE_KEY": private_key,
        "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": github_url,
        "ROUTE_ME_DB": str(tmp_path / "state" / "route-me.db"),
        "ROUTE_ME_DATA_DIR": str(tmp_path / "snapshots"),
        "ANTHROPIC_API_KEY": "sk-ant-test-key",
        "ANTHROPIC_BASE_URL": anthropic_url or "http://127.0.0.1:9",
        "OPENAI_API_KEY": "sk-openai-test-key",
        "OPENAI_BASE_URL": openai_url or "http://127.0.0.1:9/v1",
        "ROUTE_ME_STRONG": "anthropic:claude-opus-5-5",
        "ROUTE_ME_CHEAP": "openai:kimi-k2.6",
        "ROUTE_ME_WORKERS": "4",
        # Tests stop the app mid-job on purpose: interrupt at once instead of waiting.
        "ROUTE_ME_SHUTDOWN_GRACE": "0",
    }
    env.update(extra)
    return env


def leave_interrupted_job(db_path: str, event: str, payload: dict[str, Any], *, delivery_id: str) -> int:
    """Record a delivery whose job a crashed process had started: status 'running' in the store."""
    store = SqliteStore(db_path)
    try:
        job = job_for(event, payload, json.dumps(payload).encode())
        assert job is not None, "this delivery would not have become a job"
        job_id = store.record_delivery(delivery_id, event, job)
        assert isinstance(job_id, int)
        store.start_job(job_id)
        return job_id
    finally:
        store.close()


class BotHarness:
    """``async with BotHarness(env) as bot: await bot.send("issues", payload); await bot.settle()``."""

    def __init__(self, env: Mapping[str, str], *, sleep: RecordedSleep | None = None) -> None:
        self.env = dict(env)
        self.sleep = sleep or RecordedSleep()
        self.client: TestClient | None = None

    async def __aenter__(self) -> BotHarness:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        settings = load_settings(self.env)
        app = create_app(settings, sleep=self.sleep)
        self.client = TestClient(TestServer(app))
        await self.client.start_server()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def services(self) -> Services:
        assert self.client is not None
        return self.client.server.app[SERVICES]

    @property
    def worker(self) -> Worker:
        assert self.client is not None
        return self.client.server.app[WORKER]

    async def send(self, event: str, payload: Any, *, delivery_id: str | None = None,
                   secret: str | None = WEBHOOK_SECRET, signature: str | None = None,
                   body: bytes | None = None, headers: Mapping[str, str] | None = None):
        """POST one delivery; returns the aiohttp response (status already read)."""
        assert self.client is not None
        raw = body if body is not None else json.dumps(payload).encode()
        all_headers = headers_for(event, raw, secret=secret, delivery_id=delivery_id, signature=signature)
        if headers is not None:
            all_headers = {k: v for k, v in all_headers.items() if k not in headers or headers[k] is not None}
            all_headers.update({k: v for k, v in headers.items() if v is not None})
        response = await self.client.post(self.services.settings.webhook_path, data=raw, headers=all_headers)
        await response.read()
        return response

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until the background worker has run everything queued."""
        await asyncio.wait_for(self.worker.drain(), timeout)


async def until(predicate: Any, *, timeout: float = 10.0) -> None:
    """Wait for the bot's background work (over loopback) to reach a point."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def overtake(bot: BotHarness, hold: Any, event: str, payload: dict[str, Any], *,
                   timeout: float = 20.0) -> None:
    """Deliver ``payload`` while ``hold`` keeps an earlier job's GitHub request in flight, wait
    until that delivery's job has run (it must not wait for the earlier one), then let the
    earlier job go on and settle."""
    await asyncio.wait_for(hold.arrived.wait(), timeout)
    done = bot.worker.completed
    await bot.send(event, payload)
    await until(lambda: bot.worker.completed > done, timeout=timeout)
    hold.release()
    await bot.settle()
