"""Bounds on unauthenticated traffic: connections, request heads and bodies (SPEC section 7).

Anyone can open a connection to the webhook and send whatever it likes; the signature can
only be checked once the whole body is in memory.  So, before that:

- a connection must send a complete request head within ``header_timeout`` of opening or of
  its previous answer (aiohttp has no header-read timeout of its own; this also bounds
  keep-alive idling), else it is aborted;
- at most ``max_connections`` are open at once: a new one over the cap evicts the
  connection that has been idle longest (no request in progress), or is refused when every
  open connection is busy, so trickling senders can never exhaust file descriptors;
- a body must arrive whole within ``body_timeout`` (408), a declared ``Content-Length``
  over the cap is refused before a byte of it is read (413), and bodies over
  LARGE_BODY_BYTES (or of unknown length) are read at most ``max_large_bodies`` at once.
  One over the count waits for a slot within the body deadline rather than being refused
  at once, because GitHub does not retry a delivery answered 503 by itself: a real large
  delivery queued behind a hostile one still gets in when that one times out.  Past the
  deadline it gets 503 with Retry-After.

Memory held by unauthenticated bodies is then at most about
``max_connections × LARGE_BODY_BYTES + max_large_bodies × max_body_bytes``
(256 × 256 KiB + 2 × 25 MiB ≈ 114 MiB with the defaults), whatever the senders do.

The guard sits between the event loop and aiohttp's protocol (``ConnectionGuard.wrap``),
and learns when a request starts and ends from a middleware (``ConnectionGuard.middleware``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

LARGE_BODY_BYTES = 256 * 1024  # GitHub's deliveries are mostly 5-60 KB; bigger ones take a slot
RETRY_AFTER_SECONDS = 5


class ConnectionGuard:
    """Open connections, when each last made progress, and the timers that close idle ones."""

    def __init__(self, *, header_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        # Insertion order is age: the first idle entry is the one idle longest.
        self._open: dict[asyncio.BaseTransport, _Connection] = {}
        self.timed_out = 0
        self.evicted = 0
        self.refused = 0

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` that puts each connection under guard."""
        return lambda: _GuardedProtocol(factory(), self)

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        connection = self._open.get(request.transport) if request.transport is not None else None
        if connection is None:  # served without the guard (tests' own servers)
            return await handler(request)
        connection.busy += 1
        connection.disarm()
        try:
            return await handler(request)
        finally:
            connection.busy -= 1
            if connection.busy == 0 and request.transport in self._open:
                self._idle(connection)

    def _admit(self, transport: asyncio.BaseTransport) -> bool:
        if len(self._open) >= self.max_connections:
            victim = next((c for c in self._open.values() if c.busy == 0), None)
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            self._close(victim)
        connection = _Connection(transport)
        self._open[transport] = connection
        self._idle(connection)
        return True

    def _idle(self, connection: _Connection) -> None:
        """The connection owes us a request head within header_timeout (or it is idle keep-alive)."""
        self._open.pop(connection.transport, None)
        self._open[connection.transport] = connection  # moved to the young end
        connection.disarm()
        loop = asyncio.get_running_loop()
        connection.timer = loop.call_later(self.header_timeout, self._expire, connection)

    def _expire(self, connection: _Connection) -> None:
        connection.timer = None
        if connection.busy == 0:
            self.timed_out += 1
            self._close(connection)

    def _close(self, connection: _Connection) -> None:
        connection.disarm()
        self._open.pop(connection.transport, None)
        connection.transport.abort()  # nothing is owed to a connection that sent no request

    def _lost(self, transport: asyncio.BaseTransport) -> None:
        connection = self._open.pop(transport, None)
        if connection is not None:
            connection.disarm()


class _Connection:
    __slots__ = ("transport", "busy", "timer")

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.busy = 0
        self.timer: asyncio.TimerHandle | None = None

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _GuardedProtocol(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol; tells the guard when the connection opens and closes."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.BaseTransport | None = None
        self._admitted = False
        # Bound once: the hot path pays no extra frame per chunk received.
        self.data_received = inner.data_received  # type: ignore[method-assign]
        self.eof_received = inner.eof_received  # type: ignore[method-assign]
        self.pause_writing = inner.pause_writing  # type: ignore[method-assign]
        self.resume_writing = inner.resume_writing  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if not self._guard._admit(transport):
            transport.abort()
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard._lost(self._transport)
        if self._admitted:
            self._inner.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite, with every connection under a ConnectionGuard."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, guard: ConnectionGuard,
                 backlog: int = 128) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._guard.wrap(server), self._host, self._port,
                                                backlog=self._backlog, reuse_address=True)


GUARD = web.AppKey("connection_guard", ConnectionGuard)


def runner_for(app: web.Application, *, header_timeout: float, shutdown_timeout: float,
               handle_signals: bool = False) -> web.AppRunner:
    """The runner the service is served by: keep-alive idling bounded like a request head, and
    no lingering after an early answer (413, 408, 503): aiohttp would otherwise go on reading
    and discarding what the sender still streams, a second of full-speed reads per refused
    connection, which under a flood of them stalled real deliveries (bench_hostile_intake.py:
    p99 0.7 s with it, 0.3 s without)."""
    return web.AppRunner(app, access_log=None, handle_signals=handle_signals, shutdown_timeout=shutdown_timeout,
                         keepalive_timeout=header_timeout, lingering_time=0)


async def start_guarded(app: web.Application, *, host: str, port: int, header_timeout: float,
                        shutdown_timeout: float = 2.0,
                        handle_signals: bool = False) -> tuple[web.AppRunner, GuardedSite]:
    """Set up ``app`` (its startup runs here) and listen on ``host:port`` under its guard."""
    runner = runner_for(app, header_timeout=header_timeout, shutdown_timeout=shutdown_timeout,
                        handle_signals=handle_signals)
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, guard=app[GUARD])
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site


async def read_body(request: web.Request, *, max_bytes: int, timeout: float,
                    large: asyncio.Semaphore) -> bytes | web.Response:
    """The request's whole body, or the answer that refuses it (413, 408, 503)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        return _refuse(413, f"body of {declared} bytes is over the {max_bytes}-byte cap")
    if declared is not None and declared <= LARGE_BODY_BYTES:
        return await _read_within(request, timeout)
    try:
        async with asyncio.timeout(timeout):
            await large.acquire()
    except TimeoutError:
        response = _refuse(503, "too many large bodies are being received; retry later")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    try:
        return await _read_within(request, timeout)
    finally:
        large.release()


async def _read_within(request: web.Request, timeout: float) -> bytes | web.Response:
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        return _refuse(408, f"the body did not arrive within {timeout:g} s")
    except web.HTTPRequestEntityTooLarge as exc:  # a chunked body that crossed the cap
        return _refuse(413, exc.text or "body over the cap")


def _refuse(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    response.force_close()  # whatever else the sender had in mind for this connection, it is over
    return response


def make_guard(settings: Settings) -> ConnectionGuard:
    """The guard for an app served with ``settings`` (create_app puts it in ``app[GUARD]``)."""
    return ConnectionGuard(header_timeout=settings.header_timeout, max_connections=settings.max_connections)


def run_guarded(app: web.Application, *, host: str, port: int, header_timeout: float,
                shutdown_timeout: float, loop: asyncio.AbstractEventLoop,
                print: Callable[[str], None] = log.info) -> None:
    """``web.run_app`` for the service, with the connection guard: the same SIGINT/SIGTERM
    handling (stop listening, give in-flight requests ``shutdown_timeout``, run the app's
    cleanup), but listening through GuardedSite, which run_app has no way to take."""

    async def main() -> None:
        runner, site = await start_guarded(app, host=host, port=port, header_timeout=header_timeout,
                                           shutdown_timeout=shutdown_timeout, handle_signals=True)
        try:
            print(f"======== Running on {site.name} ========")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.set_event_loop(loop)
    task = loop.create_task(main())
    try:
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        leftover = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in leftover:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
