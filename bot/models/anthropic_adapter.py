"""Anthropic Messages adapter: our request to the wire (tools, cache_control), streaming, usage, errors."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any, Literal

import anthropic
import httpx2

from bot.core.usage import Usage
from bot.models.errors import (
    AuthFailed,
    BadRequest,
    ModelError,
    Overloaded,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    SpendLimited,
    StreamDropped,
    parse_retry_after,
    redact,
    retry_after_from_text,
)
from bot.models.port import (
    Message,
    ModelReply,
    ModelRequest,
    Reasoning,
    ReasoningPart,
    ToolCall,
    estimate_tokens,
    request_text,
)

log = logging.getLogger(__name__)

_CACHE_CONTROL = {"type": "ephemeral"}
_BILLING_WORDS = ("credit balance", "billing", "spend limit", "insufficient funds", "api usage limits")
# Stable cause codes (``error.details.error_code``) meaning the account cannot pay.  Several
# arrive as HTTP 429 or 403 (the SDK raises them as RateLimitError / PermissionDeniedError),
# yet no wait or retry lifts a spend limit before the billing period or a top-up: calling again,
# or another model on the same account, only burns attempts.  So they stop the job at once.
_SPEND_CODES = frozenset({
    "enforced_spend_limit_reached",  # 429: the organisation's monthly tier limit
    "contract_spend_limit_reached",  # 429: the contract's spend limit
    "linked_organization_spend_limit_reached",  # 402
    "linked_organization_billing_unavailable",  # 402
    "user_profile_billing_not_authorized",  # 403
    "user_profile_not_billable",  # 403
})
# A stream's `error` event arrives on an HTTP 200 response; the status the API gives the same
# error type on a plain response is what the model stack reports and counts.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def _tool_choice(choice: str) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "any":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


# The Messages API refuses any tool_use id outside this alphabet; Kimi's (`functions.read_file:0`)
# and a Gemini gateway's (empty) ids reach it after a fallback, so they are mapped on the wire.
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_THINKING_TYPES = ("thinking", "redacted_thinking")


class _ToolIds:
    """Maps our tool-call ids to ids the API accepts, unique within one request; a tool result
    takes the id given to its call in the latest assistant turn (Kimi's ids repeat across turns)."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._current: dict[str, str] = {}

    def calls(self, calls: tuple[ToolCall, ...]) -> list[str]:
        self._current = {}
        wire = []
        for call in calls:
            base = call.id if _TOOL_ID.match(call.id) else re.sub(r"[^a-zA-Z0-9_-]", "_", call.id) or "toolu"
            candidate, n = base, 1
            while candidate in self._used:
                n += 1
                candidate = f"{base}_{n}"
            self._used.add(candidate)
            self._current.setdefault(call.id, candidate)
            wire.append(candidate)
        return wire

    def result(self, call_id: str) -> str:
        return self._current.get(call_id) or re.sub(r"[^a-zA-Z0-9_-]", "_", call_id) or "toolu"


def _thinking_blocks(message: Message, source: str) -> list[dict[str, Any]]:
    """This model's own thinking blocks of one assistant turn, exactly as it sent them."""
    return [part.block_dict() for part in message.reasoning if part.kind == "anthropic" and part.source == source]


def _message_content(message: Message, ids: _ToolIds, *, source: str) -> list[dict[str, Any]] | str:
    blocks: list[dict[str, Any]] = []
    if message.role == "user":
        # The API requires tool_result blocks to open the user turn, before any text.
        for result in message.tool_results:
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": ids.result(result.call_id),
                    "content": result.content,
                    "is_error": result.is_error,
                }
            )
        if message.text:
            blocks.append({"type": "text", "text": message.text})
    else:
        # Thinking first, unchanged and signature included: the API checks them within a tool loop.
        blocks.extend(_thinking_blocks(message, source))
        if message.text:
            blocks.append({"type": "text", "text": message.text})
        for call, wire_id in zip(message.tool_calls, ids.calls(message.tool_calls), strict=True):
            blocks.append({"type": "tool_use", "id": wire_id, "name": call.name, "input": call.arguments})
    # An empty turn is still a turn; the API refuses an empty block list but takes a string.
    return blocks or message.text


# Which thinking request a Claude model takes (Anthropic's adaptive-thinking and extended-thinking
# pages): Opus/Sonnet 4.6 and later, and the Fable and Mythos families, think adaptively, with
# ``thinking: {"type": "adaptive"}`` and ``output_config.effort``; from Opus 4.7 on a fixed
# ``budget_tokens`` is refused (400), and on 4.6 it is deprecated.  Earlier Claude 4 models take
# ``budget_tokens`` and think between tool calls only with the interleaved-thinking beta (adaptive
# thinking interleaves by itself).  Claude 3.7 takes ``budget_tokens`` and cannot interleave.
_CLAUDE_VERSION = re.compile(r"^claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d)(?!\d))?")
_ADAPTIVE_FAMILY = re.compile(r"^claude-(?:fable|mythos)\b")
INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"


def _claude_version(model: str) -> tuple[int, int] | None:
    """(major, minor) of an Opus/Sonnet/Haiku id (a date suffix is not a minor), else None."""
    found = _CLAUDE_VERSION.match(model.lower())
    return (int(found.group(1)), int(found.group(2) or 0)) if found else None


def _adaptive_family(model: str) -> bool:
    return _ADAPTIVE_FAMILY.match(model.lower()) is not None


def always_thinks(model: str) -> bool:
    """Whether ``model`` thinks whatever it is asked (Anthropic's "What's new in Claude Opus 5.5"):
    Opus 5.5 and later, Fable and Mythos refuse ``thinking`` disabled or with a budget, and
    refuse a forced ``tool_choice``; effort is the only control, ``low`` the least."""
    version = _claude_version(model)
    return _adaptive_family(model) or (version is not None and version >= (5, 5))


def thinking_style(model: str) -> Literal["adaptive", "interleaved", "budget"]:
    """How ``model`` is asked to think (pure; see the comment above)."""
    version = _claude_version(model)
    if _adaptive_family(model) or (version is not None and version >= (4, 6)):
        return "adaptive"
    return "interleaved" if version is not None and version >= (4, 0) else "budget"


def thinking_allowed(request: ModelRequest, *, source: str) -> bool:
    """Whether this request may think: its role asks for it, and the tool loop it continues (if
    any) was last answered by this model with its thinking, which the API then requires first in
    that turn; after a fallback model's turn, thinking pauses until the loop ends."""
    if request.reasoning is None or not request.reasoning.on:
        return False
    last = next((m for m in reversed(request.messages) if m.role == "assistant"), None)
    if last is None or not last.tool_calls:
        return True
    return bool(_thinking_blocks(last, source))


def to_anthropic_params(request: ModelRequest, *, model: str, provider: str = "anthropic") -> dict[str, Any]:
    """The keyword arguments for ``messages.stream`` / ``messages.count_tokens`` (pure).

    The prompt prefix is tools, then system blocks [system, cached_context]; the last stable
    block carries ``cache_control`` so the whole prefix is cached and later turns read it.
    With thinking on, ``max_tokens`` grows by the thinking budget and a forced ``tool_choice``
    (which the API refuses with thinking) becomes "auto" with only that tool offered.
    """
    source = f"{provider}:{model}"
    always = always_thinks(model)
    # A model that always thinks is asked for its least effort when the role wants none, and
    # keeps thinking after another model's turn (it cannot pause).
    reasoning = request.reasoning if request.reasoning is not None and request.reasoning.on else None
    if always and reasoning is None:
        reasoning = Reasoning("low")
    thinking = always or thinking_allowed(request, source=source)
    choice = request.tool_choice
    offered = request.tools
    if thinking and choice not in ("auto", "any"):
        offered = tuple(t for t in request.tools if t.name == choice) or request.tools
    if thinking:
        choice = "auto"
    system = [{"type": "text", "text": text} for text in (request.system, request.cached_context) if text]
    tools = [
        {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
        for tool in offered
    ]
    if system:
        system[-1]["cache_control"] = dict(_CACHE_CONTROL)
    elif tools:
        tools[-1]["cache_control"] = dict(_CACHE_CONTROL)
    ids = _ToolIds()
    messages = [{"role": m.role, "content": _message_content(m, ids, source=source)} for m in request.messages]
    if len(messages) > 1 and isinstance(messages[-1]["content"], list) and messages[-1]["content"]:
        # A tool loop resends its whole history each turn: a second breakpoint at the end of
        # the conversation lets the next turn read all of it from the cache (0.1x the price).
        messages[-1]["content"][-1]["cache_control"] = dict(_CACHE_CONTROL)
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if thinking:
        assert reasoning is not None
        budget = reasoning.thinking_budget()
        # Thinking shares max_tokens with the answer (budget_tokens must stay below it): the
        # answer keeps its own room either way.
        params["max_tokens"] = request.max_tokens + budget
        style = thinking_style(model)
        if style == "adaptive":
            params["thinking"] = {"type": "adaptive"}
            params["output_config"] = {"effort": reasoning.effort()}
        else:
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
            if style == "interleaved":
                # Without it a Claude 4 model thinks only before its first tool call of the loop.
                params["extra_headers"] = {"anthropic-beta": INTERLEAVED_THINKING_BETA}
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
        params["tool_choice"] = _tool_choice(choice)
    return params


def reply_from_message(message: Any, *, source: str = "") -> ModelReply:
    """Our reply from the SDK's final Message (pure over its attributes)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    thoughts: list[ReasoningPart] = []
    thought_tokens = 0
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type in _THINKING_TYPES:
            wire = block.model_dump(mode="json", exclude_none=True) if hasattr(block, "model_dump") else dict(block)
            thoughts.append(ReasoningPart(kind="anthropic", source=source, block=tuple(wire.items())))
            thought_tokens += estimate_tokens(wire.get("thinking") or wire.get("data") or "")
        elif block.type == "tool_use":
            if isinstance(block.input, dict):
                calls.append(ToolCall(id=block.id, name=block.name, arguments=dict(block.input)))
            else:
                calls.append(
                    ToolCall(
                        id=block.id,
                        name=block.name,
                        arguments={},
                        parse_error=f"tool input must be a JSON object, got {type(block.input).__name__}",
                    )
                )
    usage = message.usage
    output = usage.output_tokens or 0
    return ModelReply(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=output,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
            # The API bills thinking inside output_tokens without a separate count: estimated.
            reasoning_tokens=min(thought_tokens, output),
        ),
        model=message.model,
        stop_reason=message.stop_reason or "",
        reasoning=tuple(thoughts),
    )


def _body_error(body: object) -> tuple[str, str, str]:
    """(error type, message, error code) from an Anthropic error body
    ``{"type":"error","error":{"type", "message", "details": {"error_code"}}}``."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            details = inner.get("details")
            code = details.get("error_code") if isinstance(details, dict) else None
            return str(inner.get("type") or ""), str(inner.get("message") or ""), str(code or "")
    return "", "", ""


def map_anthropic_error(exc: Exception, *, provider: str, model: str, secrets: tuple[str, ...] = ()) -> ModelError:
    """Our error for an SDK exception, by error type first (stream errors arrive with HTTP 200), then status."""
    where = f"{provider}:{model}"
    if isinstance(exc, UnicodeError):
        return RequestNotSent(
            f"{where}: the request could not be encoded ({type(exc).__name__}: {redact(str(exc), secrets)[:200]}); "
            "nothing was sent", provider=provider, model=model)
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderUnavailable(f"{where} timed out", provider=provider, model=model)
    if isinstance(exc, httpx2.TransportError) or (
        isinstance(exc, anthropic.APIConnectionError) and isinstance(exc.__cause__, httpx2.RemoteProtocolError)
    ):
        return StreamDropped(f"{where}: the connection dropped mid-answer ({type(exc).__name__})",
                             provider=provider, model=model)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderUnavailable(f"{where}: connection error", provider=provider, model=model)
    if not isinstance(exc, anthropic.APIStatusError):
        detail = redact(str(exc), secrets)[:300]
        return ProviderUnavailable(f"{where}: {type(exc).__name__}: {detail}", provider=provider, model=model)
    error_type, api_message, error_code = _body_error(exc.body)
    midstream = exc.status_code < 400
    status = _STATUS_OF_TYPE.get(error_type, 500) if midstream else exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
    if retry_after is None and status in (429, 529):
        retry_after = retry_after_from_text(api_message)
    text = redact(api_message or str(exc), secrets)[:500]
    kwargs: dict[str, Any] = {"provider": provider, "model": model, "status": status, "retry_after": retry_after}
    cause = " ".join(part for part in (error_type, error_code) if part)
    where_said = "mid-stream" if midstream else f"HTTP {status}"
    label = f"{where} answered {where_said} {cause}".rstrip()
    lowered = text.lower()
    # Spend limits first: some come as 429 rate_limit_error and must not be retried as one.
    # A workspace's own usage limit is a 400 whose message says "API usage limits".
    if (
        error_code in _SPEND_CODES
        or error_type == "billing_error"
        or status == 402
        or any(w in lowered for w in _BILLING_WORDS)
    ):
        return SpendLimited(f"{label}: {text}", **kwargs)
    if error_type == "overloaded_error" or status == 529:
        return Overloaded(f"{label}: {text}", **kwargs)
    if error_type == "rate_limit_error" or status == 429:
        return RateLimited(f"{label}: {text}", **kwargs)
    if error_type in ("authentication_error", "permission_error") or status in (401, 403):
        return AuthFailed(f"{label}: {text}", **kwargs)
    if error_type in ("api_error", "timeout_error") or status >= 500 or status == 408:
        return ProviderUnavailable(f"{label}: {text}", **kwargs)
    return BadRequest(f"{label}: {text}", **kwargs)


def served_level(request: ModelRequest, *, params: dict[str, Any]) -> str:
    """How comments name the reasoning a call ran with: "off" when thinking was not sent, else
    the role's level; thinking is sent without one only to a model that always thinks, asked
    for its ``low`` effort (``to_anthropic_params``)."""
    if "thinking" not in params:
        return "off"
    return request.reasoning.label() if request.reasoning is not None and request.reasoning.on else "low"


class AnthropicClient:
    """A ModelClient over the Anthropic Messages API.  Streams every call so long generations
    never sit on an idle HTTP connection; the SDK never retries (``Retrying`` owns retries)."""

    def __init__(
        self, *, api_key: str, base_url: str | None, timeout: float = 600.0, provider: str = "anthropic"
    ) -> None:
        self.provider = provider
        self._secrets = (api_key,)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    async def complete(self, request: ModelRequest, *, model: str) -> ModelReply:
        params = to_anthropic_params(request, model=model, provider=self.provider)
        try:
            async with self._client.messages.stream(**params) as stream:
                message = await stream.get_final_message()
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError, RuntimeError) as exc:
            # ValueError/RuntimeError: a malformed stream (bad tool JSON, events out of order), or
            # (UnicodeEncodeError) a request of ours that could not be encoded; httpx2 errors: a
            # stream dropped mid-answer, which the SDK does not wrap.
            raise map_anthropic_error(exc, provider=self.provider, model=model, secrets=self._secrets) from None
        reply = reply_from_message(message, source=f"{self.provider}:{model}")
        level = served_level(request, params=params)
        return replace(reply, reasoning_level=level)

    async def count_input_tokens(self, request: ModelRequest, *, model: str) -> int:
        """The provider's own count; a byte estimate when the endpoint is unavailable."""
        params = to_anthropic_params(request, model=model, provider=self.provider)
        params.pop("max_tokens")
        try:
            counted = await self._client.messages.count_tokens(**params)
            return int(counted.input_tokens)
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError, TypeError) as exc:
            log.info("count_tokens failed for %s:%s (%s); using a byte estimate", self.provider, model, type(exc).__name__)
            return estimate_tokens(request_text(request))

    async def close(self) -> None:
        await self._client.close()
