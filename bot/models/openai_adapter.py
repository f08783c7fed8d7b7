"""OpenAI-compatible Chat Completions adapter: tools/tool_calls, usage with cached tokens, errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import openai
from cachetools import LRUCache

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

# Codes (``error.code``) or types (``error.type``) that mean the account cannot pay.  OpenAI
# and Moonshot send most of them with HTTP 429, but no wait lifts them before a top-up or the
# next billing period, so they stop the job at once instead of being retried as rate limits.
_QUOTA_CODES = frozenset({
    "insufficient_quota",  # OpenAI: no credit / plan quota left
    "billing_hard_limit_reached",
    "billing_not_active",
    "credit_balance_exhausted",
    "usage_limit_exceeded",
    "organization_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
    "project_spend_limit_exceeded",
    "exceeded_current_quota_error",  # Moonshot (Kimi): 429 when the balance is used up or suspended
})
# Moonshot may say it only in words (429 "Your account is suspended due to insufficient
# balance, please recharge your account ..."), so these phrases count too.
_QUOTA_WORDS = ("insufficient balance", "recharge your account", "exceeded your current quota")


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice == "auto":
        return "auto"
    if choice == "any":
        return "required"
    return {"type": "function", "function": {"name": choice}}


def _error_text(content: str) -> str:
    """SPEC: an OpenAI tool message for a failed call starts with ``error:`` (once, not twice)."""
    return content if content.lower().startswith("error:") else f"error: {content}"


def _wire_messages(message: Message, reasoning: Mapping[str, str]) -> list[dict[str, Any]]:
    if message.role == "user":
        out: list[dict[str, Any]] = [
            {
                "role": "tool",
                "tool_call_id": r.call_id,
                "content": _error_text(r.content) if r.is_error else r.content,
            }
            for r in message.tool_results
        ]
        if message.text or not out:
            out.append({"role": "user", "content": message.text})
        return out
    wire: dict[str, Any] = {"role": "assistant", "content": message.text}
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in message.tool_calls
        ]
        # Thinking models (Kimi K2.x) refuse a tool-call turn whose reasoning is not sent back.
        kept = next((reasoning[c.id] for c in message.tool_calls if c.id in reasoning), None)
        if kept is not None:
            wire["reasoning_content"] = kept
    return [wire]


def to_openai_params(
    request: ModelRequest, *, model: str, provider: str, reasoning: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The keyword arguments for ``chat.completions.create`` (pure).

    The cached context is appended to the one system message: a stable prefix lets the
    provider's automatic prefix caching work, and one system message suits every server.
    """
    system = "\n\n".join(text for text in (request.system, request.cached_context) if text)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        messages.extend(_wire_messages(message, reasoning or {}))
    params: dict[str, Any] = {"model": model, "messages": messages}
    # OpenAI's own newer models refuse max_tokens; compatible servers mostly know only max_tokens.
    params["max_completion_tokens" if provider == "openai" else "max_tokens"] = request.max_tokens
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
            }
            for t in request.tools
        ]
        params["tool_choice"] = _tool_choice(request.tool_choice)
    return params


def _parse_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}, None
    try:
        value = json.loads(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        return {}, f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None


def reply_from_completion(completion: Any) -> tuple[ModelReply, str | None]:
    """Our reply (and the reasoning text, if the server sent one) from a ChatCompletion."""
    if not completion.choices:
        raise ValueError("the completion has no choices")
    choice = completion.choices[0]
    message = choice.message
    calls: list[ToolCall] = []
    for tc in message.tool_calls or ():
        function = getattr(tc, "function", None)
        if function is None:
            continue
        arguments, error = _parse_arguments(function.arguments)
        calls.append(ToolCall(id=tc.id, name=function.name, arguments=arguments, parse_error=error))
    usage = completion.usage
    prompt = getattr(usage, "prompt_tokens", 0) or 0
    details = getattr(usage, "prompt_tokens_details", None)
    # OpenAI reports cached tokens in prompt_tokens_details; Moonshot also at the top level.
    cached = (getattr(details, "cached_tokens", None) if details else None) or getattr(usage, "cached_tokens", None) or 0
    cached = min(int(cached), prompt)
    reply = ModelReply(
        text=message.content or "",
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=prompt - cached,
            output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            cache_read_tokens=cached,
        ),
        model=completion.model or "",
        stop_reason=choice.finish_reason or "",
    )
    reasoning = getattr(message, "reasoning_content", None)
    return reply, reasoning if isinstance(reasoning, str) and reasoning else None


def map_openai_error(exc: Exception, *, provider: str, model: str, secrets: tuple[str, ...] = ()) -> ModelError:
    """Our error for an OpenAI SDK exception, by code/type first, then status."""
    where = f"{provider}:{model}"
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable(f"{where} timed out", provider=provider, model=model)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(f"{where}: connection error", provider=provider, model=model)
    if not isinstance(exc, openai.APIStatusError):
        detail = redact(str(exc), secrets)[:300]
        return ProviderUnavailable(f"{where}: {type(exc).__name__}: {detail}", provider=provider, model=model)
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    api_message = str(body.get("message") or exc.message or "")
    code = str(exc.code or "")
    error_type = str(exc.type or "")
    text = redact(api_message, secrets)[:500]
    kwargs: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "status": status,
        "retry_after": parse_retry_after(exc.response.headers),
    }
    label = f"{where} answered HTTP {status} {code or error_type}".rstrip()
    marker = f"{code} {error_type} {api_message}".lower()
    lowered_message = api_message.lower()
    if (
        code in _QUOTA_CODES
        or error_type in _QUOTA_CODES
        or status == 402
        or any(words in lowered_message for words in _QUOTA_WORDS)
    ):
        return SpendLimited(f"{label}: {text}", **kwargs)
    if status == 529 or (status in (429, 503) and "overload" in marker):
        return Overloaded(f"{label}: {text}", **kwargs)
    if status == 429:
        return RateLimited(f"{label}: {text}", **kwargs)
    if status in (401, 403):
        return AuthFailed(f"{label}: {text}", **kwargs)
    if status >= 500 or status == 408:
        return ProviderUnavailable(f"{label}: {text}", **kwargs)
    return BadRequest(f"{label}: {text}", **kwargs)


class OpenAICompatClient:
    """A ModelClient over any OpenAI-compatible Chat Completions endpoint (OpenAI, Moonshot, OpenRouter, …)."""

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 600.0, provider: str) -> None:
        self.provider = provider
        self._secrets = (api_key,)
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)
        # reasoning_content by tool-call id, replayed on the next turn (bounded: conversations end).
        self._reasoning: LRUCache[str, str] = LRUCache(maxsize=4096)

    async def complete(self, request: ModelRequest, *, model: str) -> ModelReply:
        params = to_openai_params(request, model=model, provider=self.provider, reasoning=self._reasoning)
        try:
            completion = await self._client.chat.completions.create(**params)
            reply, reasoning = reply_from_completion(completion)
        except (openai.OpenAIError, ValueError) as exc:
            raise map_openai_error(exc, provider=self.provider, model=model, secrets=self._secrets) from None
        if reasoning:
            for call in reply.tool_calls:
                self._reasoning[call.id] = reasoning
        return reply

    async def count_input_tokens(self, request: ModelRequest, *, model: str) -> int:
        """OpenAI-compatible servers have no common counting endpoint: a conservative byte estimate."""
        return estimate_tokens(request_text(request))

    async def close(self) -> None:
        await self._client.close()
