"""What the fake model servers (``FakeAnthropic``, ``FakeOpenAI``) share: a loopback aiohttp app
answered from a first-in first-out script, an optional responder, and a record of every request.

A subclass supplies its wire format:

* ``base_path`` — what follows ``http://host:port`` in ``base_url`` (``""`` or ``"/v1"``);
* ``_routes(router)`` — adds its handlers; each one calls ``_record`` (the parsed body), checks
  what it must, then ``_next(body)`` and, when that is None, returns ``_unscripted_answer()``;
* ``_text_reply`` / ``_tool_reply`` / ``_failure`` — its module's item builders (as staticmethods),
  used by ``reply_text`` / ``reply_tool_call`` / ``fail``;
* ``_error_payload(item)`` — the JSON body of an error answer, and ``unscripted_error`` — the error
  type of the 500 sent when nothing is scripted.

``billing`` says where a reply's input tokens come from: ``"scripted"`` (the reply's own usage,
the default so tests can assert exact numbers), ``"bytes"`` (estimated from the request body,
no caching) or ``"cached"`` (estimated, then split into cache reads/writes as the provider
would; ``tests.fakes.prompt_cache``).  Output tokens are always the scripted ones.
"""

from __future__ import annotations

import inspect
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

from aiohttp import web


class FailureLike(Protocol):
    """The fields every fake's ``Failure`` has, which ``_error`` turns into status and headers."""

    @property
    def status(self) -> int: ...
    @property
    def retry_after(self) -> float | None: ...
    @property
    def retry_after_ms(self) -> float | None: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...


Billing = Literal["scripted", "bytes", "cached"]
BILLINGS: tuple[Billing, ...] = ("scripted", "bytes", "cached")
ReplyT = TypeVar("ReplyT")
FailureT = TypeVar("FailureT", bound=FailureLike)


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any


class ScriptedServer(Generic[ReplyT, FailureT]):
    """See the module docstring."""

    base_path: ClassVar[str] = ""
    unscripted_error: ClassVar[str] = "server_error"
    _text_reply: Callable[..., ReplyT]
    _tool_reply: Callable[..., ReplyT]
    _failure: Callable[..., FailureT]

    def __init__(self, *, api_key: str, strict: bool = True, billing: Billing = "scripted") -> None:
        if billing not in BILLINGS:
            raise ValueError(f"billing must be one of {BILLINGS}, got {billing!r}")
        self.api_key = api_key
        self.strict = strict
        self.billing: Billing = billing
        self.queue: deque[ReplyT | FailureT] = deque()
        self.responder: Callable[[dict[str, Any]], ReplyT | FailureT | None | Awaitable[ReplyT | FailureT | None]] | None
        self.responder = None
        self.requests: list[Recorded] = []
        self.unscripted = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- scripting ---------------------------------------------------------------------
    def reply(self, item: ReplyT | FailureT) -> Self:
        self.queue.append(item)
        return self

    def reply_text(self, text: str, **kwargs: Any) -> Self:
        return self.reply(self._text_reply(text, **kwargs))

    def reply_tool_call(self, name: str, arguments: Any, **kwargs: Any) -> Self:
        return self.reply(self._tool_reply(name, arguments, **kwargs))

    def fail(self, status: int, error_type: str, *, times: int = 1, **kwargs: Any) -> Self:
        for _ in range(times):
            self.reply(self._failure(status, error_type, **kwargs))
        return self

    # -- lifecycle -----------------------------------------------------------------------
    def _routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        app = web.Application()
        self._routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}{self.base_path}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        await self.close()
        if self.strict and self.unscripted and exc_type is None:
            raise AssertionError(f"{type(self).__name__} got {self.unscripted} request(s) with nothing scripted")

    # -- handlers --------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> Any:
        """Read the body (parsed JSON, else text), record the request, and return the body."""
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(Recorded(path=request.path, headers=dict(request.headers), body=body))
        return body

    def _error_payload(self, item: FailureT) -> dict[str, Any]:
        raise NotImplementedError

    def _error(self, item: FailureT) -> web.Response:
        headers = dict(item.headers)
        if item.retry_after is not None:
            headers["retry-after"] = f"{item.retry_after:g}"
        if item.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{item.retry_after_ms:g}"
        return web.json_response(self._error_payload(item), status=item.status, headers=headers)

    async def _next(self, body: dict[str, Any]) -> ReplyT | FailureT | None:
        if self.responder is not None:
            produced = self.responder(body)
            if inspect.isawaitable(produced):
                produced = await produced
            if produced is not None:
                return produced
        return self.queue.popleft() if self.queue else None

    def _unscripted_answer(self) -> web.Response:
        """Count a call with nothing scripted and answer it with a 500."""
        self.unscripted += 1
        message = f"{type(self).__name__}: nothing scripted for this call"
        return self._error(self._failure(500, self.unscripted_error, message=message))
