"""OpenAI-compatible Chat Completions adapter: tools/tool_calls, usage with cached tokens, errors."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2
import openai

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
    ToolCallRejected,
    parse_retry_after,
    redact,
    retry_after_from_text,
)
from bot.models.port import (
    STOP_END,
    STOP_MAX_TOKENS,
    STOP_REFUSAL,
    STOP_TOOL_USE,
    Message,
    ModelReply,
    ModelRequest,
    Reasoning,
    ReasoningPart,
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


# Sent as the reasoning of an assistant tool-call turn that has none of this model's own (another
# model in the fallback chain served it): thinking models such as Kimi refuse such a turn with 400
# "thinking is enabled but reasoning_content is missing in assistant tool call message at index N".
MISSING_REASONING = "(this step was taken by another model; its reasoning is not available)"
_FINISH = {"stop": STOP_END, "tool_calls": STOP_TOOL_USE, "function_call": STOP_TOOL_USE,
           "length": STOP_MAX_TOKENS, "content_filter": STOP_REFUSAL}


def _own_reasoning(message: Message, source: str) -> str | None:
    texts = [part.text for part in message.reasoning if part.kind == "openai" and part.source == source]
    return "\n".join(texts) if texts else None


def _wire_messages(message: Message, *, source: str, needs_reasoning: bool) -> list[dict[str, Any]]:
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
        # Reasoning goes back only to the model that wrote it, from this conversation's own
        # messages; a turn another model served gets a placeholder when this model needs one.
        kept = _own_reasoning(message, source)
        if kept is not None:
            wire["reasoning_content"] = kept
        elif needs_reasoning:
            wire["reasoning_content"] = MISSING_REASONING
    return [wire]


# How reasoning is asked for on the wire.  Most OpenAI-compatible servers take
# ``reasoning_effort``.  Moonshot's own Kimi ids differ (platform.kimi.ai, "Model Parameter
# Reference" and the chat API reference; seen live by others as quoted in public issue threads):
# K2.5/K2.6 think unless the request carries ``"thinking": {"type": "disabled"}`` and ignore
# ``reasoning_effort`` without an error; the K2 "thinking" and K2.7 code models always think and
# refuse "disabled"; K3 takes a top-level ``reasoning_effort`` of low/high/max and cannot stop
# thinking.  ``max_tokens`` is deprecated there in favour of ``max_completion_tokens``.
_KIMI_SWITCH = re.compile(r"^kimi-k2\.\d")
_KIMI_ALWAYS = re.compile(r"^kimi-k2(\.7-code|-thinking)")
_KIMI_EFFORT = re.compile(r"^kimi-k3")
_KIMI_K3_EFFORT = {"low": "low", "medium": "high", "high": "max"}
# What a model that thinks whatever it is asked gets on top of the answer's own limit.
_ALWAYS_THINKING_BUDGET = Reasoning("medium").thinking_budget()


@dataclass(frozen=True)
class ReasoningWire:
    """What one request sends for its reasoning setting, and what that amounts to.

    ``params`` are keyword arguments of the openai SDK; ``body`` are fields it does not know, sent
    as they are (``extra_body``); ``thinking_tokens`` is added to the output limit (reasoning
    shares it here); ``thinks`` says the model will reason, so its tool-call turns must carry
    ``reasoning_content`` back; ``label`` is how comments name what served.
    """

    params: dict[str, Any]
    thinking_tokens: int
    thinks: bool
    label: str
    body: dict[str, Any] = field(default_factory=dict)


def reasoning_wire(reasoning: Reasoning | None, *, model: str) -> ReasoningWire:
    """The wire form of ``reasoning`` for ``model`` (pure).  Model ids with a vendor prefix
    (``moonshotai/kimi-k2.6`` at a gateway) follow the gateway's generic parameters."""
    asked = reasoning or Reasoning()
    name = model.lower()
    if _KIMI_ALWAYS.match(name):
        budget = asked.thinking_budget() if asked.on else _ALWAYS_THINKING_BUDGET
        return ReasoningWire({}, budget, True, asked.label() if asked.on else "always on")
    if _KIMI_EFFORT.match(name):
        effort = _KIMI_K3_EFFORT[asked.effort()] if asked.on else "low"
        budget = asked.thinking_budget() if asked.on else Reasoning("low").thinking_budget()
        # Thinking cannot be turned off there: the lowest effort is what serves.
        return ReasoningWire({"reasoning_effort": effort}, budget, True, asked.label() if asked.on else "low")
    if _KIMI_SWITCH.match(name):
        if not asked.on:
            return ReasoningWire({}, 0, False, "off", body={"thinking": {"type": "disabled"}})
        # No graduated control: the level only sizes the room left for thinking, so comments say "on".
        return ReasoningWire({}, asked.thinking_budget(), True, "on", body={"thinking": {"type": "enabled"}})
    if not asked.on:
        return ReasoningWire({}, 0, False, "off")
    return ReasoningWire({"reasoning_effort": asked.effort()}, asked.thinking_budget(), False, asked.label())


def _limit_key(provider: str, model: str) -> str:
    # OpenAI's newer models refuse max_tokens and Moonshot's Kimi ids deprecate it; other
    # compatible servers mostly know only max_tokens.
    return "max_completion_tokens" if provider == "openai" or model.lower().startswith("kimi-") else "max_tokens"


def to_openai_params(
    request: ModelRequest, *, model: str, provider: str, reasoning_model: bool = False
) -> dict[str, Any]:
    """The keyword arguments for ``chat.completions.create`` (pure).

    The cached context is appended to the one system message: a stable prefix lets the
    provider's automatic prefix caching work, and one system message suits every server.
    ``reasoning_model`` says this model is known to return ``reasoning_content`` (so it wants
    it back on every tool-call turn); the history showing its own reasoning says so too.
    """
    source = f"{provider}:{model}"
    wire = reasoning_wire(request.reasoning, model=model)
    needs_reasoning = wire.thinks or reasoning_model or any(
        _own_reasoning(m, source) is not None for m in request.messages if m.role == "assistant"
    )
    system = "\n\n".join(text for text in (request.system, request.cached_context) if text)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        messages.extend(_wire_messages(message, source=source, needs_reasoning=needs_reasoning))
    params: dict[str, Any] = {"model": model, "messages": messages}
    # Reasoning tokens count against the same output limit here, so the limit grows by the
    # thinking budget, as Anthropic's does.
    params[_limit_key(provider, model)] = request.max_tokens + wire.thinking_tokens
    params.update(wire.params)
    if wire.body:
        params["extra_body"] = dict(wire.body)
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


def _reasoning_text(message: Any) -> str | None:
    """``reasoning_content`` (Moonshot, DeepSeek) or OpenRouter's ``reasoning``, when sent."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None)
        if value is None and getattr(message, "model_extra", None):
            value = message.model_extra.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def reply_from_completion(completion: Any, *, source: str = "") -> ModelReply:
    """Our reply from a ChatCompletion; reasoning text, if any, rides on the reply itself."""
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
        # Gateways in front of Gemini may send an empty id; every wire needs one to pair the result.
        call_id = tc.id or f"call_{uuid.uuid4().hex[:24]}"
        calls.append(ToolCall(id=call_id, name=function.name, arguments=arguments, parse_error=error))
    usage = completion.usage
    prompt = getattr(usage, "prompt_tokens", 0) or 0
    details = getattr(usage, "prompt_tokens_details", None)
    # OpenAI reports cached tokens in prompt_tokens_details; Moonshot also at the top level.
    cached = (getattr(details, "cached_tokens", None) if details else None) or getattr(usage, "cached_tokens", None) or 0
    cached = min(int(cached), prompt)
    output = getattr(usage, "completion_tokens", 0) or 0
    reasoning = _reasoning_text(message)
    out_details = getattr(usage, "completion_tokens_details", None)
    thought = (getattr(out_details, "reasoning_tokens", None) if out_details else None) or 0
    if not thought and reasoning:
        thought = estimate_tokens(reasoning)  # not every server counts them; never above the output
    stop = _FINISH.get(choice.finish_reason or "", choice.finish_reason or "")
    if getattr(message, "refusal", None):
        stop = STOP_REFUSAL
    return ModelReply(
        text=message.content or "",
        tool_calls=tuple(calls),
        usage=Usage(
            input_tokens=prompt - cached,
            output_tokens=output,
            cache_read_tokens=cached,
            reasoning_tokens=min(int(thought), output),
        ),
        model=completion.model or "",
        stop_reason=stop,
        reasoning=(ReasoningPart(kind="openai", source=source, text=reasoning),) if reasoning else (),
    )


def _raw_text(body: dict[str, Any]) -> str:
    """The upstream provider's own error, which gateways (OpenRouter) relay in ``metadata.raw``."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return ""
    raw = metadata.get("raw")
    return raw if isinstance(raw, str) else json.dumps(raw) if raw is not None else ""


def map_openai_error(exc: Exception, *, provider: str, model: str, secrets: tuple[str, ...] = ()) -> ModelError:
    """Our error for an OpenAI SDK exception, by code/type first, then status."""
    where = f"{provider}:{model}"
    if isinstance(exc, UnicodeError):
        return RequestNotSent(
            f"{where}: the request could not be encoded ({type(exc).__name__}: {redact(str(exc), secrets)[:200]}); "
            "nothing was sent", provider=provider, model=model)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable(f"{where} timed out", provider=provider, model=model)
    if isinstance(exc, httpx2.TransportError) or (
        isinstance(exc, openai.APIConnectionError) and isinstance(exc.__cause__, httpx2.RemoteProtocolError)
    ):
        return StreamDropped(f"{where}: the connection dropped mid-answer ({type(exc).__name__})",
                             provider=provider, model=model)
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
    raw = _raw_text(body)
    if raw:
        api_message = f"{api_message} ({raw[:400]})" if api_message else raw
    text = redact(api_message, secrets)[:500]
    retry_after = parse_retry_after(exc.response.headers)
    if retry_after is None and status in (429, 503, 529):
        retry_after = retry_after_from_text(api_message)  # "Please try again in 18.642s"
    kwargs: dict[str, Any] = {"provider": provider, "model": model, "status": status, "retry_after": retry_after}
    label = f"{where} answered HTTP {status} {code or error_type}".rstrip()
    marker = f"{code} {error_type} {api_message}".lower()
    lowered_message = api_message.lower()
    if (
        code in _QUOTA_CODES
        or error_type in _QUOTA_CODES
        or status == 402
        or any(words in lowered_message for words in _QUOTA_WORDS)
        or any(quota in lowered_message for quota in _QUOTA_CODES)  # a gateway relaying the upstream body
    ):
        return SpendLimited(f"{label}: {text}", **kwargs)
    if code == "tool_use_failed":
        return ToolCallRejected(f"{label}: the model sent a malformed tool call: {text}", **kwargs)
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
    """A ModelClient over any OpenAI-compatible Chat Completions endpoint (OpenAI, Moonshot, OpenRouter, …).

    It keeps no conversation state: reasoning travels in the request's own messages.  All it
    remembers is which model ids have returned reasoning, so a history whose turns another
    model served still carries the ``reasoning_content`` those models require."""

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 600.0, provider: str) -> None:
        self.provider = provider
        self._secrets = (api_key,)
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)
        self._reasoning_models: set[str] = set()

    async def complete(self, request: ModelRequest, *, model: str) -> ModelReply:
        try:
            params = to_openai_params(request, model=model, provider=self.provider,
                                      reasoning_model=model in self._reasoning_models)
            completion = await self._client.chat.completions.create(**params)
            reply = reply_from_completion(completion, source=f"{self.provider}:{model}")
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            # ValueError covers UnicodeEncodeError: our own request could not be encoded.
            raise map_openai_error(exc, provider=self.provider, model=model, secrets=self._secrets) from None
        if reply.reasoning:
            self._reasoning_models.add(model)
        return replace(reply, reasoning_level=reasoning_wire(request.reasoning, model=model).label)

    async def count_input_tokens(self, request: ModelRequest, *, model: str) -> int:
        """OpenAI-compatible servers have no common counting endpoint: a conservative byte estimate."""
        return estimate_tokens(request_text(request))

    async def close(self) -> None:
        await self._client.close()

