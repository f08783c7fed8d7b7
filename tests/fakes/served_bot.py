"""A real ``route-me serve`` process wired to the fakes, for crash tests: start it, SIGKILL it, start it again.

The fakes run in the test's event loop; the bot is a separate process reaching them over
loopback, so a SIGKILL kills exactly what a crash would (no finally blocks, no atexit, the
state file as the process left it).  Everything here waits with ``asyncio.sleep`` so the
fakes keep answering while the test waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.deliveries import headers_for
from tests.fakes.harness import WEBHOOK_SECRET

ROUTE_ME = Path(sys.executable).parent / "route-me"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedBot:
    """``bot = ServedBot(env, log=tmp/"bot.log"); await bot.start(); await bot.kill(); await bot.start()``."""

    def __init__(self, env: Mapping[str, str], *, log: Path) -> None:
        self.port = free_port()
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port), "PATH": os.environ.get("PATH", ""),
                    "ROUTE_ME_WORKERS": env.get("ROUTE_ME_WORKERS", "2")}
        self.log = log
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []

    @property
    def db(self) -> str:
        return self.env["ROUTE_ME_DB"]

    async def start(self, *, timeout: float = 30.0) -> None:
        """Start the process and wait until /healthz answers (any status: health may say why not)."""
        assert self.process is None
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([str(ROUTE_ME), "serve"], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=self.log.parent)
        async with asyncio.timeout(timeout):
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"route-me serve exited with {self.process.returncode}:\n{self.output()}")
                try:
                    await self.healthz()
                    return
                except (aiohttp.ClientError, OSError):
                    await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: the process dies where it stands."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.exits.append(await self.wait_exit())

    async def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 20 s); a no-op when not running."""
        if self.process is None:
            return
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                self.exits.append(await self.wait_exit())
        except TimeoutError:
            process.kill()
            self.process = process
            self.exits.append(await self.wait_exit())

    async def wait_exit(self) -> int:
        assert self.process is not None
        while self.process.poll() is None:
            await asyncio.sleep(0.02)
        code = self.process.returncode
        self.process = None
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/healthz") as response:
            return response.status, await response.json()

    async def send(self, event: str, payload: Any, *, delivery_id: str | None = None) -> int:
        """POST one signed delivery; returns the status."""
        body = json.dumps(payload).encode()
        headers = headers_for(event, body, secret=WEBHOOK_SECRET, delivery_id=delivery_id)
        async with aiohttp.ClientSession() as session, \
                session.post(f"{self.url}/api/github/webhooks", data=body, headers=headers) as response:
            await response.read()
            return response.status

    def unfinished_jobs(self) -> int:
        """Jobs pending or running in the state file (read by a connection of the test's own)."""
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')").fetchone()[0])
        finally:
            db.close()

    async def settle(self, *, timeout: float = 30.0) -> None:
        """Wait until every recorded job has ended."""
        async with asyncio.timeout(timeout):
            while self.unfinished_jobs():
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"route-me serve died:\n{self.output()}")
                await asyncio.sleep(0.05)
