"""The model port: plain request/reply values and the ModelClient protocol every adapter implements."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from bot.core.usage import Usage

_PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """Which model at which provider, written ``provider:model`` (e.g. ``moonshot:kimi-k2.6``)."""

    provider: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``provider:model``; only the first colon splits, so model ids may contain colons."""
        if not isinstance(text, str):
            raise ValueError(f"a model spec must be a 'provider:model' string like 'anthropic:claude-opus-4-5', got {text!r}")
        provider, sep, model = text.strip().partition(":")
        provider = provider.strip().lower()
        model = model.strip()
        if not sep or not provider or not model:
            raise ValueError(
                f"invalid model spec {text!r}: expected 'provider:model', e.g. 'anthropic:claude-opus-4-5'"
            )
        if not _PROVIDER_RE.match(provider):
            raise ValueError(
                f"invalid model spec {text!r}: provider {provider!r} may only use letters, digits, '_', '-' and '.'"
            )
        return cls(provider=provider, model=model)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model; ``input_schema`` is a JSON Schema object."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model made.  ``parse_error`` is set (and ``arguments`` is {}) when the
    provider sent arguments that are not a JSON object, so the caller can send the error back."""

    id: str
    name: str
    arguments: dict[str, Any]
    parse_error: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """Our answer to one tool call; ``is_error`` results tell the model its call failed."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Message:
    """One conversation turn: a user turn carries text and/or tool results, an assistant turn text and/or tool calls."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True)
class ModelRequest:
    """Everything a model call needs, provider-neutral.

    ``cached_context`` is the large stable block (repository context) sent right after the
    system prompt, so providers can cache the prefix (Anthropic: ``cache_control``; OpenAI-
    compatible: automatic prefix caching).  ``tool_choice`` is "auto", "any" (must call some
    tool) or a tool name (must call that tool).
    """

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "any"] | str = "auto"
    max_tokens: int = 8192
    cached_context: str = ""


@dataclass(frozen=True)
class ModelReply:
    """What one call returned; ``model`` is the model id the provider reported."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    model: str
    stop_reason: str


class ModelClient(Protocol):
    """One provider's wire format.  Adapters raise only ``bot.models.errors.ModelError`` subclasses."""

    async def complete(self, request: ModelRequest, *, model: str) -> ModelReply: ...

    async def count_input_tokens(self, request: ModelRequest, *, model: str) -> int: ...

    async def close(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A conservative token estimate from UTF-8 bytes (real tokenizers average ~4 bytes a token)."""
    return math.ceil(len(text.encode("utf-8")) / 3.5)


def request_text(request: ModelRequest) -> str:
    """All the text a request sends, for byte-based token estimates when a provider cannot count."""
    parts: list[str] = [request.system, request.cached_context]
    for tool in request.tools:
        parts.extend((tool.name, tool.description, json.dumps(tool.input_schema, default=str)))
    for message in request.messages:
        parts.append(message.text)
        for call in message.tool_calls:
            parts.extend((call.name, json.dumps(call.arguments, default=str)))
        for result in message.tool_results:
            parts.append(result.content)
    return "\n".join(parts)
