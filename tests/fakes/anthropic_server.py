"""A fake Anthropic Messages API on 127.0.0.1 that speaks the real wire format, scriptable per test.

Usage::

    async with FakeAnthropic() as fake:          # api_key="test-anthropic-key" by default
        client = AnthropicClient(api_key=fake.api_key, base_url=fake.base_url)   # base_url has no /v1
        fake.reply_text("hello", usage=Usage(10, 5, cache_write_tokens=100, cache_read_tokens=0))
        fake.reply_tool_call("submit_plan", {"summary": "..."})
        fake.fail(529, "overloaded_error", times=3)            # three 529s, then the next item
        fake.fail(429, "rate_limit_error", retry_after=7)       # with a retry-after header
        fake.fail_midstream("overloaded_error")                 # an SSE `error` event after message_start
        fake.fail(429, "rate_limit_error", error_code="enforced_spend_limit_reached")  # error.details.error_code
        ...
        fake.requests            # every request: Recorded(path, headers, body)
        fake.message_bodies      # JSON bodies of POST /v1/messages only
        fake.calls               # how many POST /v1/messages arrived

Replies are consumed first-in first-out.  For dynamic behaviour (multi-turn tool loops) set
``fake.responder = fn`` where ``fn(body: dict) -> Reply | Failure | None`` (may be async);
None falls through to the queue.  Build items with the module functions ``text_reply``,
``tool_reply`` (one or several tool calls) and ``failure``.

Streaming (``"stream": true``, as ``messages.stream`` sends) answers with SSE events
message_start / content_block_start / ping / content_block_delta (text_delta, input_json_delta)
/ content_block_stop / message_delta (with usage) / message_stop; otherwise a JSON Message.
``POST /v1/messages/count_tokens`` answers ``{"input_tokens": n}``: set ``fake.count_tokens``
to an int, a callable ``(body) -> int``, or a ``Failure``; by default n = len(body bytes) // 4.

Billing (``billing=``): ``"scripted"`` (default) reports each reply's usage as scripted;
``"bytes"`` bills the input from the request body (``tests.fakes.prompt_cache``'s byte
estimate) without caching; ``"cached"`` bills it as the real API would with prompt caching
(breakpoints, 20-block lookback, per-model minimum): ``input_tokens`` /
``cache_creation_input_tokens`` / ``cache_read_input_tokens``.  Output tokens stay scripted.
More than 4 ``cache_control`` blocks get the API's 400 in every mode.

A wrong key (``x-api-key`` or ``Authorization: Bearer``) gets a real 401 authentication_error; a missing ``anthropic-version`` a 400.

Like the real API it refuses (400 invalid_request_error, the API's own wording): a ``tool_use`` id
outside ``^[a-zA-Z0-9_-]+$``; a ``tool_result`` whose id is not a ``tool_use`` of the previous
turn; ``thinking`` with a forced ``tool_choice`` (adaptive thinking takes ``any``, as recorded) or with
``budget_tokens`` not below ``max_tokens``;
a fixed ``budget_tokens`` on a model that only thinks adaptively (Opus 4.7 and later), adaptive
thinking on a model before 4.6, and an ``output_config.effort`` outside low/medium/high/max;
with thinking on, a tool loop whose last assistant turn does not open with its thinking block;
and a thinking block whose text or signature differs from what this fake sent (signatures are
issued per block, so an edited or foreign block is caught).  ``Reply.thinking`` /
``Reply.redacted`` add thinking / redacted_thinking blocks, streamed as ``thinking_delta`` then
``signature_delta`` as the API does; ``drop_midstream()`` closes the connection after a few events.
With nothing scripted the fake answers 500 and, with ``strict=True`` (default), leaving the
``async with`` raises AssertionError so a missing script never passes silently.
The queue, responder, request record, strict check and server lifecycle live in
``tests.fakes.scripted_server.ScriptedServer``; this module adds the wire format.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.core.usage import Usage
from tests.fakes.prompt_cache import AnthropicPromptCache, anthropic_blocks
from tests.fakes.scripted_server import Billing, Recorded, ScriptedServer

__all__ = ["FakeAnthropic", "Failure", "Recorded", "Reply", "failure", "text_reply", "tool_reply"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    """A successful Message: text, then tool calls (name, input dict or raw JSON text, id or None)."""

    text: str = ""
    tool_calls: tuple[tuple[str, Any, str | None], ...] = ()
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=10, output_tokens=5))
    stop_reason: str | None = None
    model: str | None = None
    thinking: tuple[str, ...] = ()  # thinking blocks, sent first, each with a signature
    redacted: tuple[str, ...] = ()  # redacted_thinking blocks (opaque ``data``)


@dataclass(frozen=True)
class Drop:
    """Open the stream, send message_start and part of a text block, then close the connection."""


@dataclass(frozen=True)
class Failure:
    """An error answer: ``{"type":"error","error":{"type":error_type,"message":message}}``."""

    status: int
    error_type: str
    message: str = "fake failure"
    retry_after: float | None = None
    retry_after_ms: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    midstream: bool = False
    error_code: str | None = None  # sent as error.details.error_code, the API's stable cause code


def text_reply(text: str, *, usage: Usage | None = None, model: str | None = None, stop_reason: str = "end_turn",
               thinking: tuple[str, ...] = ()) -> Reply:
    return Reply(text=text, usage=usage or Usage(10, 5), model=model, stop_reason=stop_reason, thinking=thinking)


def tool_reply(
    name: str | None = None,
    arguments: Any = None,
    *,
    calls: list[tuple[str, Any]] | None = None,
    text: str = "",
    usage: Usage | None = None,
    model: str | None = None,
    call_id: str | None = None,
    thinking: tuple[str, ...] = (),
    redacted: tuple[str, ...] = (),
    stop_reason: str = "tool_use",
) -> Reply:
    """One call (``name``, ``arguments``) or several (``calls=[(name, args), ...]``)."""
    items: list[tuple[str, Any, str | None]] = []
    if name is not None:
        items.append((name, {} if arguments is None else arguments, call_id))
    items.extend((n, a, None) for n, a in calls or ())
    return Reply(text=text, tool_calls=tuple(items), usage=usage or Usage(10, 5), model=model,
                 stop_reason=stop_reason, thinking=thinking, redacted=redacted)


def failure(
    status: int,
    error_type: str,
    *,
    message: str | None = None,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    headers: dict[str, str] | None = None,
    error_code: str | None = None,
) -> Failure:
    return Failure(
        status=status,
        error_type=error_type,
        message=message or f"fake {error_type}",
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
        headers=tuple((headers or {}).items()),
        error_code=error_code,
    )


def _error_object(item: Failure) -> dict[str, Any]:
    error: dict[str, Any] = {"type": item.error_type, "message": item.message}
    if item.error_code is not None:
        error["details"] = {"error_code": item.error_code}
    return error


def _usage_json(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# The API's own words (quoted in public issue threads and the extended-thinking docs).
THINKING_FIRST = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When "
    "`thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the "
    "lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from "
    "previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)
FORCED_WITH_THINKING = "Thinking may not be enabled when tool_choice forces tool use."


def _signature(kind: str, text: str) -> str:
    return hashlib.sha256(f"fake-anthropic:{kind}:{text}".encode()).hexdigest()


def _thinking_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": text, "signature": _signature("thinking", text)} for text in reply.thinking
    ]
    blocks.extend({"type": "redacted_thinking", "data": data} for data in reply.redacted)
    return blocks


# Thinking per model (Anthropic's adaptive-thinking page): Opus/Sonnet 4.6 and later and the Fable
# and Mythos families take ``{"type": "adaptive"}`` with ``output_config.effort``; from Opus 4.7
# on (and on Fable/Mythos) a fixed ``budget_tokens`` is refused.  The refusal's wording is ours:
# no recorded body of it was found.
EFFORTS = ("low", "medium", "high", "max")
FIXED_BUDGET_REFUSED = ('thinking.type: "enabled" is not supported for {model}; use thinking.type: "adaptive" '
                        "with output_config.effort")
# Opus 5.5 and later, Fable and Mythos always think: the API's own words ("What's new in Claude
# Opus 5.5").  A forced tool is refused there too (that refusal's wording is ours).
ALWAYS_THINKING_REFUSED = ('"thinking.type.{kind}" is not supported for this model. Use "thinking.type.adaptive" '
                           'and "output_config.effort" to control thinking behavior.')
FORCED_TOOL_REFUSED = "tool_choice: forced tool use is not supported for this model; use tool_choice auto"
_VERSION = re.compile(r"^claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d)(?!\d))?")


def _claude_version(model: str) -> tuple[int, int] | None:
    found = _VERSION.match(model)
    return (int(found.group(1)), int(found.group(2) or 0)) if found else None


def _adaptive_model(model: str) -> bool:
    version = _claude_version(model)
    return model.startswith(("claude-fable", "claude-mythos")) or (version is not None and version >= (4, 6))


def _adaptive_only(model: str) -> bool:
    version = _claude_version(model)
    return model.startswith(("claude-fable", "claude-mythos")) or (version is not None and version >= (4, 7))


def _always_adaptive(model: str) -> bool:
    version = _claude_version(model)
    return model.startswith(("claude-fable", "claude-mythos")) or (version is not None and version >= (5, 5))


def request_problem(body: dict[str, Any], *, thought_uses: frozenset[str] | set[str] = frozenset()) -> str | None:
    """What the real Messages API would refuse in this body (with its own message), or None.

    ``thought_uses`` are the tool_use ids this fake sent beside thinking: with adaptive thinking
    (which may skip thinking on a turn) the turn holding one must open with its thinking block."""
    messages = body.get("messages") or []
    previous_uses: set[str] = set()
    for index, message in enumerate(messages):
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        uses: set[str] = set()
        for number, block in enumerate(blocks):
            if block.get("type") == "tool_use":
                if not _TOOL_ID.match(str(block.get("id", ""))):
                    return (f"messages.{index}.content.{number}.tool_use.id: String should match pattern "
                            "'^[a-zA-Z0-9_-]+$'")
                uses.add(block["id"])
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in previous_uses:
                return (f"messages.{index}.content.{number}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message.")
            if block.get("type") == "thinking" and block.get("signature") != _signature("thinking", block.get("thinking", "")):
                return f"messages.{index}.content.{number}: Invalid `signature` in `thinking` block"
        previous_uses = uses if message.get("role") == "assistant" else set()
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if _always_adaptive(str(body.get("model", ""))):
        if kind in ("enabled", "disabled"):
            return ALWAYS_THINKING_REFUSED.format(kind=kind)
        if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
            return FORCED_TOOL_REFUSED
        kind, thinking = "adaptive", thinking or {"type": "adaptive"}  # on whether sent or not
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        return f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORTS)}"
    if kind == "adaptive" and not _adaptive_model(str(body.get("model", ""))):
        return f"adaptive thinking is not supported on this model: {body.get('model')}"
    if kind == "enabled" and _adaptive_only(str(body.get("model", ""))):
        return FIXED_BUDGET_REFUSED.format(model=body.get("model"))
    if kind == "adaptive" and "budget_tokens" in thinking:
        return "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
    if kind in ("enabled", "adaptive"):
        budget = thinking.get("budget_tokens", 0) if kind == "enabled" else 0
        if kind == "enabled" and budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if kind == "enabled" and body.get("max_tokens", 0) <= budget:
            return "`max_tokens` must be greater than `thinking.budget_tokens`."
        # A fixed budget refuses any forced tool.  Adaptive thinking took tool_choice "any" in a
        # recorded exchange (pydantic-ai's test_anthropic_opus_46_adaptive_thinking_accepts_tool_output
        # cassette: the model then skipped thinking); a named tool with it is unrecorded, so refused.
        forced = (body.get("tool_choice") or {}).get("type")
        if forced == "tool" or (forced == "any" and kind == "enabled"):
            return FORCED_WITH_THINKING
        # Within a tool loop (the last user turn carries tool results), the last assistant turn
        # must open with the thinking block it was sent with.
        last_user = messages[-1] if messages else {}
        in_loop = isinstance(last_user.get("content"), list) and any(
            b.get("type") == "tool_result" for b in last_user["content"])
        assistant = next(((i, m) for i, m in reversed(list(enumerate(messages))) if m.get("role") == "assistant"), None)
        if in_loop and assistant is not None:
            index, message = assistant
            content = message.get("content")
            first = content[0].get("type") if isinstance(content, list) and content else "text"
            # A fixed budget thinks on every turn; adaptive thinking may skip one, so only a turn
            # that was sent with thinking must carry it back.
            sent_with_thinking = kind == "enabled" or any(
                b.get("type") == "tool_use" and b.get("id") in thought_uses for b in content or [] if isinstance(b, dict))
            if sent_with_thinking and first not in ("thinking", "redacted_thinking"):
                return THINKING_FIRST.format(index=index, found=first)
    return None


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = _thinking_blocks(reply)
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for name, arguments, call_id in reply.tool_calls:
        blocks.append({"type": "tool_use", "id": call_id or f"toolu_{next(_ids):06d}", "name": name, "input": arguments})
    return blocks


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class FakeAnthropic(ScriptedServer[Reply, Failure]):
    """See the module docstring."""

    unscripted_error = "api_error"
    _text_reply = staticmethod(text_reply)
    _tool_reply = staticmethod(tool_reply)
    _failure = staticmethod(failure)

    def __init__(self, *, api_key: str = "test-anthropic-key", strict: bool = True,
                 billing: Billing = "scripted", prompt_cache: AnthropicPromptCache | None = None) -> None:
        super().__init__(api_key=api_key, strict=strict, billing=billing)
        self.count_tokens: int | Callable[[dict[str, Any]], int] | Failure | None = None
        self.prompt_cache = prompt_cache or AnthropicPromptCache()
        # What GET /v1/models lists (route-me doctor's cheapest real request).
        self.models: list[str] = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]
        # tool_use ids sent beside thinking: their turn must come back opening with it.
        self.thought_uses: set[str] = set()

    def _remember_thought(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(b["type"] in ("thinking", "redacted_thinking") for b in blocks):
            self.thought_uses.update(b["id"] for b in blocks if b["type"] == "tool_use")
        return blocks

    # -- scripting ---------------------------------------------------------------------
    def drop_midstream(self, *, times: int = 1) -> FakeAnthropic:
        for _ in range(times):
            self.reply(Drop())  # type: ignore[arg-type]
        return self

    def fail_midstream(
        self, error_type: str = "overloaded_error", *, message: str = "Overloaded", error_code: str | None = None
    ) -> FakeAnthropic:
        return self.reply(
            Failure(status=200, error_type=error_type, message=message, midstream=True, error_code=error_code)
        )

    # -- inspection ----------------------------------------------------------------------
    @property
    def message_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/v1/messages"]

    @property
    def calls(self) -> int:
        return len(self.message_bodies)

    # -- handlers --------------------------------------------------------------------------
    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/messages", self._messages)
        router.add_post("/v1/messages/count_tokens", self._count_tokens)
        router.add_get("/v1/models", self._list_models)

    async def _list_models(self, request: web.Request) -> web.Response:
        """GET /v1/models as the Models API answers it (docs.anthropic.com, "List Models")."""
        _, refused = await self._admit(request)
        if refused is not None and refused.status == 401:
            return refused
        if not request.headers.get("anthropic-version"):
            return self._error(failure(400, "invalid_request_error", message="anthropic-version header is required"))
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
                for m in self.models]
        return web.json_response({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})

    async def _admit(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Record the request; the body, and the refusal a real API would send (or None)."""
        body = await self._record(request)
        # Older SDKs send x-api-key, newer ones Authorization: Bearer; the API takes either.
        keys = {request.headers.get("x-api-key"), request.headers.get("authorization", "").removeprefix("Bearer ")}
        if self.api_key not in keys:
            return body, self._error(failure(401, "authentication_error", message="invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            return body, self._error(failure(400, "invalid_request_error", message="anthropic-version header is required"))
        if not isinstance(body, dict):
            return body, self._error(failure(400, "invalid_request_error", message="body must be a JSON object"))
        marked = sum(block.breakpoint for block in anthropic_blocks(body))
        if marked > 4:
            message = f"A maximum of 4 blocks with cache_control may be provided. Found {marked}."
            return body, self._error(failure(400, "invalid_request_error", message=message))
        problem = request_problem(body, thought_uses=self.thought_uses)
        if problem is not None:
            return body, self._error(failure(400, "invalid_request_error", message=problem))
        return body, None

    def _billed(self, body: dict[str, Any], scripted: Usage) -> Usage:
        """The reply's usage under ``self.billing`` (see the module docstring)."""
        if self.billing == "scripted":
            return scripted
        if self.billing == "bytes":
            total = sum(block.tokens for block in anthropic_blocks(body))
            return Usage(input_tokens=total, output_tokens=scripted.output_tokens)
        bill = self.prompt_cache.bill(body)  # more than 4 breakpoints were refused in _admit
        return Usage(input_tokens=bill.input_tokens, output_tokens=scripted.output_tokens,
                     cache_write_tokens=bill.cache_write_tokens, cache_read_tokens=bill.cache_read_tokens)

    def _error_payload(self, item: Failure) -> dict[str, Any]:
        return {"type": "error", "error": _error_object(item)}

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._admit(request)
        if refused is not None:
            return refused
        setting = self.count_tokens
        if isinstance(setting, Failure):
            return self._error(setting)
        if callable(setting):
            value = setting(body)
        elif isinstance(setting, int):
            value = setting
        else:
            value = len(json.dumps(body)) // 4
        return web.json_response({"input_tokens": value})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._admit(request)
        if refused is not None:
            return refused
        item = await self._next(body)
        if item is None:
            return self._unscripted_answer()
        if isinstance(item, Drop):
            return await self._drop(request, model=body.get("model", "claude-fake"))
        if isinstance(item, Failure) and not item.midstream:
            return self._error(item)
        model = body.get("model", "claude-fake")
        if isinstance(item, Failure):
            return await self._stream_failure(request, item, model=model)
        message = {
            "id": f"msg_{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": item.model or model,
            "content": self._remember_thought(_blocks(item)),
            "stop_reason": item.stop_reason or ("tool_use" if item.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": _usage_json(self._billed(body, item.usage)),
        }
        if not body.get("stream"):
            return web.json_response(message)
        return await self._stream(request, message)

    async def _open_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        return response

    async def _stream(self, request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = await self._open_stream(request)
        usage = message["usage"]
        start = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        await response.write(_sse("message_start", {"type": "message_start", "message": start}))
        for index, block in enumerate(message["content"]):
            if block["type"] == "redacted_thinking":  # arrives whole, as the API sends it
                await response.write(_sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
                await response.write(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
                continue
            opening = (dict(block, text="") if block["type"] == "text"
                       else dict(block, thinking="", signature="") if block["type"] == "thinking"
                       else dict(block, input={}))
            await response.write(_sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening}))
            await response.write(_sse("ping", {"type": "ping"}))
            if block["type"] == "thinking":
                text = block["thinking"]
                for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                    delta = {"type": "thinking_delta", "thinking": piece}
                    await response.write(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
                delta = {"type": "signature_delta", "signature": block["signature"]}
                await response.write(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            elif block["type"] == "text":
                text = block["text"]
                for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
                    delta = {"type": "text_delta", "text": piece}
                    await response.write(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            else:
                raw = block["input"] if isinstance(block["input"], str) else json.dumps(block["input"])
                for piece in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    await response.write(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
            await response.write(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        final = {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
        await response.write(_sse("message_delta", final))
        await response.write(_sse("message_stop", {"type": "message_stop"}))
        await response.write_eof()
        return response

    async def _drop(self, request: web.Request, *, model: str) -> web.StreamResponse:
        """A stream that breaks mid-answer: what httpx reports as RemoteProtocolError."""
        response = await self._open_stream(request)
        start = {
            "id": f"msg_{next(_ids):06d}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": _usage_json(Usage(10, 1)),
        }
        await response.write(_sse("message_start", {"type": "message_start", "message": start}))
        opening = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        await response.write(_sse("content_block_start", opening))
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me"}}
        await response.write(_sse("content_block_delta", delta))
        assert request.transport is not None
        request.transport.abort()  # no final chunk: the chunked body ends early
        return response

    async def _stream_failure(self, request: web.Request, item: Failure, *, model: str) -> web.StreamResponse:
        response = await self._open_stream(request)
        start = {
            "id": f"msg_{next(_ids):06d}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": _usage_json(Usage(10, 1)),
        }
        await response.write(_sse("message_start", {"type": "message_start", "message": start}))
        error = {"type": "error", "error": _error_object(item)}
        await response.write(_sse("error", error))
        await response.write_eof()
        return response
