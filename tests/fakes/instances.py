"""Real ``route-me serve`` processes for the several-instances tests (SPEC section 10).

Each instance is the installed ``route-me`` command in its own process, on its own loopback
port, sharing one PostgreSQL database and the test's fake GitHub and fake model servers
(which answer from the test's event loop).  ``kill`` is a real SIGKILL, ``terminate`` a
real SIGTERM.  Each instance's log is kept in a file and shown when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.deliveries import headers_for
from tests.fakes.harness import WEBHOOK_SECRET


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    installed = Path(sys.executable).with_name("route-me")
    return [str(installed), "serve"] if installed.exists() else [sys.executable, "-m", "bot", "serve"]


class Instance:
    """One ``route-me serve`` process."""

    def __init__(self, name: str, env: Mapping[str, str], *, workdir: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "serve.log"
        self.env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port), "ROUTE_ME_INSTANCE": name,
                    "ROUTE_ME_DATA_DIR": str(self.workdir / "snapshots")}
        self.env.pop("CI", None)
        self.process: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_path = env.get("WEBHOOK_PATH", "/api/github/webhooks")

    async def start(self) -> None:
        log = self.log_path.open("ab")
        # cwd is the instance's own folder, so no developer .env is read by accident.
        self.process = await asyncio.create_subprocess_exec(
            *_command(), env=self.env, cwd=self.workdir, stdout=log, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL)
        log.close()

    async def ready(self, session: aiohttp.ClientSession, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                async with session.get(self.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not come up:\n{self.log()}")
            await asyncio.sleep(0.1)

    async def send(self, session: aiohttp.ClientSession, event: str, payload: Any, *, delivery_id: str) -> int:
        body = json.dumps(payload).encode()
        headers = headers_for(event, body, secret=WEBHOOK_SECRET, delivery_id=delivery_id)
        async with session.post(self.url + self.webhook_path, data=body, headers=headers) as response:
            await response.read()
            return response.status

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


class Cluster:
    """Several instances on one database; stops them all (SIGKILL) at the end."""

    def __init__(self, env: Mapping[str, str], *, workdir: Path) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.instances: list[Instance] = []
        self.session: aiohttp.ClientSession | None = None

    async def start(self, count: int, **overrides: str) -> list[Instance]:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        started = [Instance(f"i{len(self.instances) + n + 1}", {**self.env, **overrides}, workdir=self.workdir)
                   for n in range(count)]
        self.instances += started
        for instance in started:
            await instance.start()
        await asyncio.gather(*(instance.ready(self.session) for instance in started))
        return started

    def by_name(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    async def send(self, instance: Instance, event: str, payload: Any, *, delivery_id: str) -> int:
        assert self.session is not None
        return await instance.send(self.session, event, payload, delivery_id=delivery_id)

    def logs(self) -> str:
        return "\n".join(f"--- {i.name} ---\n{i.log()}" for i in self.instances)

    async def close(self) -> None:
        for instance in self.instances:
            if instance.process is not None and instance.process.returncode is None:
                instance.kill()
                await instance.wait(10)
        if self.session is not None:
            await self.session.close()
