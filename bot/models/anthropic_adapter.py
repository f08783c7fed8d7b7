"""Anthropic Messages adapter: our request to the wire (tools, cache_control), streaming, usage, errors."""

from __future__ import annotations

import logging
from typing import Any

import anthropic

from bot.core.usage import Usage
from bot.models.errors import (
    AuthFailed,
    BadRequest,
    ModelError,
    Overloaded,
    ProviderUnavailable,
    RateLimited,
    SpendLimited,
    parse_retry_after,
    redact,
)
from bot.models.port import (
    Message,
    ModelReply,
    ModelRequest,
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
# error type on a plain response is what the router reports and counts.
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


def _message_content(message: Message) -> list[dict[str, Any]] | str:
    blocks: list[dict[str, Any]] = []
    if message.role == "user":
        # The API requires tool_result blocks to open the user turn, before any text.
        for result in message.tool_results:
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": result.call_id,
                    "content": result.content,
                    "is_error": result.is_error,
                }
            )
        if message.text:
            blocks.append({"type": "text", "text": message.text})
    else:
        if message.text:
            blocks.append({"type": "text", "text": message.text})
        for call in message.tool_calls:
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    # An empty turn is still a turn; the API refuses an empty block list but takes a string.
    return blocks or message.text


def to_anthropic_params(request: ModelRequest, *, model: str) -> dict[str, Any]:
    """The keyword arguments for ``messages.stream`` / ``messages.count_tokens`` (pure).

    The prompt prefix is tools, then system blocks [system, cached_context]; the last stable
    block carries ``cache_control`` so the whole prefix is cached and later turns read it.
    """
    system = [{"type": "text", "text": text} for text in (request.system, request.cached_context) if text]
    tools = [
        {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
        for tool in request.tools
    ]
    if system:
        system[-1]["cache_control"] = dict(_CACHE_CONTROL)
    elif tools:
        tools[-1]["cache_control"] = dict(_CACHE_CONTROL)
    messages = [{"role": m.role, "content": _message_content(m)} for m in request.messages]
    if len(messages) > 1 and isinstance(messages[-1]["content"], list) and messages[-1]["content"]:
        # A tool loop resends its whole history each turn: a second breakpoint at the end of
        # the conversation lets the next turn read all of it from the cache (0.1x the price).
        messages[-1]["content"][-1]["cache_control"] = dict(_CACHE_CONTROL)
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
        params["tool_choice"] = _tool_choice(request.tool_choice)
    return params


def reply_from_message(message: Any) -> ModelReply:
    """Our reply from the SDK's final Message (pure over its attributes)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
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
    return ModelReply(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
            cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
        ),
        model=message.model,
        stop_reason=message.stop_reason or "",
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
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderUnavailable(f"{where} timed out", provider=provider, model=model)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderUnavailable(f"{where}: connection error", provider=provider, model=model)
    if not isinstance(exc, anthropic.APIStatusError):
        detail = redact(str(exc), secrets)[:300]
        return ProviderUnavailable(f"{where}: {type(exc).__name__}: {detail}", provider=provider, model=model)
    error_type, api_message, error_code = _body_error(exc.body)
    midstream = exc.status_code < 400
    status = _STATUS_OF_TYPE.get(error_type, 500) if midstream else exc.status_code
    retry_after = parse_retry_after(exc.response.headers)
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


class AnthropicClient:
    """A ModelClient over the Anthropic Messages API.  Streams every call so long generations
    never sit on an idle HTTP connection; the SDK never retries (the router owns retries)."""

    def __init__(
        self, *, api_key: str, base_url: str | None, timeout: float = 600.0, provider: str = "anthropic"
    ) -> None:
        self.provider = provider
        self._secrets = (api_key,)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    async def complete(self, request: ModelRequest, *, model: str) -> ModelReply:
        params = to_anthropic_params(request, model=model)
        try:
            async with self._client.messages.stream(**params) as stream:
                message = await stream.get_final_message()
        except (anthropic.AnthropicError, ValueError, RuntimeError) as exc:
            # ValueError/RuntimeError: a malformed stream (bad tool JSON, events out of order).
            raise map_anthropic_error(exc, provider=self.provider, model=model, secrets=self._secrets) from None
        return reply_from_message(message)

    async def count_input_tokens(self, request: ModelRequest, *, model: str) -> int:
        """The provider's own count; a byte estimate when the endpoint is unavailable."""
        params = to_anthropic_params(request, model=model)
        params.pop("max_tokens")
        try:
            counted = await self._client.messages.count_tokens(**params)
            return int(counted.input_tokens)
        except (anthropic.AnthropicError, ValueError, TypeError) as exc:
            log.info("count_tokens failed for %s:%s (%s); using a byte estimate", self.provider, model, type(exc).__name__)
            return estimate_tokens(request_text(request))

    async def close(self) -> None:
        await self._client.close()
