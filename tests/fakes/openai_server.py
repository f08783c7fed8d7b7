"""A fake OpenAI-compatible Chat Completions API on 127.0.0.1 (real wire format), scriptable per test.

Usage::

    async with FakeOpenAI() as fake:             # api_key="test-openai-key" by default
        client = OpenAICompatClient(api_key=fake.api_key, base_url=fake.base_url, provider="moonshot")
        # fake.base_url ends in /v1, as the openai SDK expects
        fake.reply_text("done", usage=Usage(100, 20, cache_read_tokens=60))
        fake.reply_tool_call("read_file", {"path": "a.py"}, reasoning="I should look first")
        fake.reply_tool_call("finish", '{"summary": "bro', )    # raw text: broken JSON arguments
        fake.fail(429, "rate_limit_exceeded", retry_after=2)    # error body {"error": {...}}
        fake.fail(429, "insufficient_quota", code="insufficient_quota")
        fake.fail(503, "server_error", message="engine is overloaded", times=3)
        ...
        fake.requests / fake.completion_bodies / fake.calls

Usage maps to the wire as OpenAI reports it: ``prompt_tokens`` = input + cache_read, and
``prompt_tokens_details.cached_tokens`` = cache_read; with ``cache_report="moonshot"`` also a
top-level ``cached_tokens`` (as Moonshot's Kimi K2 models report it).  A reply's ``reasoning``
becomes the message's ``reasoning_content`` (as Kimi thinking models send it).

Billing (``billing=``): ``"scripted"`` (default) reports each reply's usage as scripted;
``"bytes"`` bills the prompt from the request body (``tests.fakes.prompt_cache``'s byte
estimate) without caching; ``"cached"`` adds automatic prefix caching (the longest prefix
shared with an earlier request, ≥ 1024 tokens, in 128-token steps).  Output stays scripted.

Replies are consumed first-in first-out; ``fake.responder = fn`` with ``fn(body) -> Reply |
Failure | None`` (may be async) answers dynamically, None falling through to the queue.  Build
items with ``text_reply``, ``tool_reply`` and ``failure``.  ``"stream": true`` is answered
with SSE chunks (``data: {...}`` … ``data: [DONE]``, usage in a last chunk when
``stream_options.include_usage``).  A wrong ``Authorization: Bearer`` key gets a real 401
``invalid_api_key``.  With nothing scripted the fake answers 500 and, with ``strict=True``
(default), leaving the ``async with`` raises AssertionError.
The queue, responder, request record, strict check and server lifecycle live in
``tests.fakes.scripted_server.ScriptedServer``; this module adds the wire format.

Like the real servers it refuses (400 invalid_request_error): a ``tool`` message whose
``tool_call_id`` is not a call of the preceding assistant turn (OpenAI's wording) and, with
``thinking=True`` (a Kimi K2.x thinking model), an assistant tool-call turn sent back without
``reasoning_content`` (Moonshot's wording, quoted in bytedance/deer-flow#3043) unless the request
turned thinking off with ``"thinking": {"type": "disabled"}``, and a ``thinking.type`` other than
enabled/disabled (that error's wording is ours).  ``Reply.refusal``
sends ``message.refusal``; ``Failure.extra`` adds fields to the error object (OpenRouter's
``metadata.raw`` relaying the upstream provider's body).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from bot.core.tokens import estimate_tokens
from bot.core.usage import Usage
from tests.fakes.prompt_cache import OpenAIPromptCache, openai_prompt_text
from tests.fakes.scripted_server import Billing, Recorded, ScriptedServer

__all__ = ["FakeOpenAI", "Failure", "Recorded", "Reply", "failure", "text_reply", "tool_reply"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    """A completion: text, tool calls (name, arguments dict or raw JSON text, id or None), usage."""

    text: str | None = None
    tool_calls: tuple[tuple[str, Any, str | None], ...] = ()
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=10, output_tokens=5))
    finish_reason: str | None = None
    model: str | None = None
    reasoning: str | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class Failure:
    """An error answer ``{"error": {"message", "type", "param", "code"}}``."""

    status: int
    error_type: str
    message: str = "fake failure"
    code: Any = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()


def text_reply(text: str, *, usage: Usage | None = None, model: str | None = None, reasoning: str | None = None) -> Reply:
    return Reply(text=text, usage=usage or Usage(10, 5), model=model, finish_reason="stop", reasoning=reasoning)


def tool_reply(
    name: str | None = None,
    arguments: Any = None,
    *,
    calls: list[tuple[str, Any]] | None = None,
    text: str | None = None,
    usage: Usage | None = None,
    model: str | None = None,
    call_id: str | None = None,
    reasoning: str | None = None,
    call_ids: tuple[str, ...] = (),
    finish_reason: str = "tool_calls",
) -> Reply:
    """One call (``name``, ``arguments``) or several (``calls=[(name, args), ...]``, ids from
    ``call_ids`` when given: Kimi's positional ``functions.read_file:0``, a gateway's empty id)."""
    items: list[tuple[str, Any, str | None]] = []
    if name is not None:
        items.append((name, {} if arguments is None else arguments, call_id))
    ids = list(call_ids)
    items.extend((n, a, ids[i] if i < len(ids) else None) for i, (n, a) in enumerate(calls or ()))
    return Reply(
        text=text, tool_calls=tuple(items), usage=usage or Usage(10, 5), model=model,
        finish_reason=finish_reason, reasoning=reasoning,
    )


def failure(
    status: int,
    error_type: str,
    *,
    message: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Failure:
    return Failure(
        status=status, error_type=error_type, message=message or f"fake {error_type}", code=code,
        retry_after=retry_after, retry_after_ms=retry_after_ms, headers=tuple((headers or {}).items()),
        extra=tuple((extra or {}).items()),
    )


MISSING_REASONING = "thinking is enabled but reasoning_content is missing in assistant tool call message at index {index}"


def request_problem(body: dict[str, Any], *, thinking: bool) -> str | None:
    """What a real OpenAI-compatible server would refuse in this body, or None.

    ``thinking`` is a Kimi K2.x model, which thinks unless the body says
    ``"thinking": {"type": "disabled"}`` (and accepts only "enabled" or "disabled" there).
    """
    switch = body.get("thinking")
    if switch is not None:
        if not isinstance(switch, dict) or switch.get("type") not in ("enabled", "disabled"):
            return "Invalid request: thinking.type must be one of enabled, disabled"
        thinking = thinking and switch["type"] == "enabled"
    pending: set[str] = set()
    for index, message in enumerate(body.get("messages") or []):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return ("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                        "message with 'tool_calls'.")
            continue
        pending = set()
        if role == "assistant" and message.get("tool_calls"):
            pending = {call.get("id") for call in message["tool_calls"]}
            if any(not call.get("id") for call in message["tool_calls"]):
                return f"Invalid 'messages[{index}].tool_calls[0].id': empty string."
            if thinking and "reasoning_content" not in message:
                return MISSING_REASONING.format(index=index)
    return None


CacheReport = Literal["openai", "moonshot"]


def _usage_json(usage: Usage, cache_report: CacheReport = "openai") -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read_tokens
    wire: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
    }
    if cache_report == "moonshot":
        wire["cached_tokens"] = usage.cache_read_tokens
    return wire


def _tool_calls_json(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{next(_ids):06d}" if call_id is None else call_id,
            "type": "function",
            "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
        }
        for name, args, call_id in reply.tool_calls
    ]


class FakeOpenAI(ScriptedServer[Reply, Failure]):
    """See the module docstring."""

    base_path = "/v1"
    unscripted_error = "server_error"
    _text_reply = staticmethod(text_reply)
    _tool_reply = staticmethod(tool_reply)
    _failure = staticmethod(failure)

    def __init__(self, *, api_key: str = "test-openai-key", strict: bool = True, billing: Billing = "scripted",
                 prompt_cache: OpenAIPromptCache | None = None, cache_report: CacheReport = "openai",
                 thinking: bool = False) -> None:
        super().__init__(api_key=api_key, strict=strict, billing=billing)
        self.thinking = thinking
        self.prompt_cache = prompt_cache or OpenAIPromptCache()
        self.cache_report: CacheReport = cache_report
        # What GET /v1/models lists (route-me doctor's cheapest real request).
        self.models: list[str] = ["kimi-k2.6", "gpt-5.5-mini"]

    def _billed(self, body: dict[str, Any], scripted: Usage) -> Usage:
        """The reply's usage under ``self.billing`` (see the module docstring)."""
        if self.billing == "scripted":
            return scripted
        if self.billing == "bytes":
            return Usage(input_tokens=estimate_tokens(openai_prompt_text(body)), output_tokens=scripted.output_tokens)
        bill = self.prompt_cache.bill(body)
        return Usage(input_tokens=bill.prompt_tokens - bill.cached_tokens, output_tokens=scripted.output_tokens,
                     cache_read_tokens=bill.cached_tokens)

    # -- inspection ----------------------------------------------------------------------
    @property
    def completion_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def calls(self) -> int:
        return len(self.completion_bodies)

    # -- handlers --------------------------------------------------------------------------
    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._completions)
        router.add_get("/v1/models", self._list_models)

    async def _list_models(self, request: web.Request) -> web.Response:
        """GET /v1/models as OpenAI-compatible APIs answer it (platform.openai.com, "List models")."""
        await self._record(request)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(
                failure(401, "invalid_request_error", message="Incorrect API key provided", code="invalid_api_key")
            )
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1767225600, "owned_by": "fake"} for m in self.models]})

    def _error_payload(self, item: Failure) -> dict[str, Any]:
        error = {"message": item.message, "type": item.error_type, "param": None, "code": item.code}
        return {"error": error | dict(item.extra)}

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(
                failure(401, "invalid_request_error", message="Incorrect API key provided", code="invalid_api_key")
            )
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            return self._error(failure(400, "invalid_request_error", message="model and messages are required"))
        problem = request_problem(body, thinking=self.thinking)
        if problem is not None:
            return self._error(failure(400, "invalid_request_error", message=problem))
        item = await self._next(body)
        if item is None:
            return self._unscripted_answer()
        if isinstance(item, Failure):
            return self._error(item)
        message: dict[str, Any] = {"role": "assistant", "content": item.text}
        calls = _tool_calls_json(item)
        if calls:
            message["tool_calls"] = calls
        if item.reasoning is not None:
            message["reasoning_content"] = item.reasoning
        if item.refusal is not None:
            message["refusal"] = item.refusal
        completion = {
            "id": f"chatcmpl-{next(_ids):06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": item.model or body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": item.finish_reason or ("tool_calls" if calls else "stop"),
                    "logprobs": None,
                }
            ],
            "usage": _usage_json(self._billed(body, item.usage), self.cache_report),
        }
        if not body.get("stream"):
            return web.json_response(completion)
        return await self._stream(request, completion, include_usage=bool((body.get("stream_options") or {}).get("include_usage")))

    async def _stream(self, request: web.Request, completion: dict[str, Any], *, include_usage: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        message = completion["choices"][0]["message"]
        base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        if message.get("content"):
            await send({"content": message["content"]})
        for index, call in enumerate(message.get("tool_calls", [])):
            await send({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""}}]})
            await send({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]})
        await send({}, completion["choices"][0]["finish_reason"])
        if include_usage:
            await response.write(f"data: {json.dumps(dict(base, choices=[], usage=completion['usage']))}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
