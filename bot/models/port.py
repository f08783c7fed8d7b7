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
class ReasoningPart:
    """Reasoning a model returned with one assistant turn, kept in that conversation's own
    messages (never in a cache shared by jobs: ids repeat across conversations).

    ``kind`` says which wire format may send it back: ``"anthropic"`` parts hold one
    ``thinking`` / ``redacted_thinking`` block exactly as received (signature included), which
    the API requires back unchanged within a tool loop; ``"openai"`` parts hold the
    ``reasoning_content`` text (Moonshot/Kimi, DeepSeek; OpenRouter's ``reasoning``).
    ``source`` is the ``provider:model`` that produced it: reasoning goes back only to a model
    of the same wire format, and never to a different model as if it were its own.
    """

    kind: Literal["anthropic", "openai"]
    source: str
    text: str = ""
    block: tuple[tuple[str, Any], ...] = ()

    def block_dict(self) -> dict[str, Any]:
        return dict(self.block)


@dataclass(frozen=True)
class Message:
    """One conversation turn: a user turn carries text and/or tool results, an assistant turn text
    and/or tool calls, plus the reasoning its model returned with it (``ReasoningPart``)."""

    role: Literal["user", "assistant"]
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    reasoning: tuple[ReasoningPart, ...] = ()


REASONING_LEVELS = ("off", "low", "medium", "high")


@dataclass(frozen=True)
class Reasoning:
    """A role's reasoning setting: a level, or an explicit token budget (``level == "budget"``)."""

    level: Literal["off", "low", "medium", "high", "budget"] = "off"
    budget_tokens: int = 0

    @property
    def on(self) -> bool:
        return self.level != "off" and (self.level != "budget" or self.budget_tokens > 0)

    def thinking_budget(self) -> int:
        """Anthropic ``budget_tokens`` for this setting (the API's minimum is 1024)."""
        if self.level == "budget":
            return max(1024, self.budget_tokens)
        return {"low": 2048, "medium": 8192, "high": 16384}.get(self.level, 0)

    def effort(self) -> str:
        """OpenAI-compatible ``reasoning_effort`` for this setting (a budget maps to the nearest level)."""
        if self.level != "budget":
            return self.level
        return "low" if self.budget_tokens <= 4096 else "medium" if self.budget_tokens <= 12288 else "high"

    def label(self) -> str:
        """How comments name it: "off", "high", "8000 tokens"."""
        return f"{self.budget_tokens} tokens" if self.level == "budget" else self.level

    @classmethod
    def parse(cls, value: object) -> Reasoning:
        """``off``/``low``/``medium``/``high`` or a whole number of tokens (0 = off); ValueError otherwise."""
        if isinstance(value, bool):
            raise ValueError(f"reasoning must be off, low, medium, high or a token budget, got {value!r}")
        if isinstance(value, int):
            if value < 0:
                raise ValueError(f"a reasoning token budget cannot be negative, got {value}")
            return cls("budget", value) if value else cls()
        text = str(value).strip().lower()
        if text in REASONING_LEVELS:
            return cls(text)  # type: ignore[arg-type]
        if text.isdigit():
            return cls.parse(int(text))
        raise ValueError(f"reasoning must be off, low, medium, high or a token budget, got {value!r}")


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
    reasoning: Reasoning | None = None
    """How much the model may think before answering (SPEC 8); None or level "off": no thinking.
    ``max_tokens`` is what the answer itself may use: adapters add the thinking budget on top."""


# Stop reasons every adapter maps its provider's words onto, so roles act on one vocabulary.
STOP_END = "end_turn"
STOP_TOOL_USE = "tool_use"
STOP_MAX_TOKENS = "max_tokens"  # Anthropic max_tokens, OpenAI-compatible "length": output was cut off
STOP_REFUSAL = "refusal"  # Anthropic refusal, OpenAI-compatible content_filter or a message.refusal


@dataclass(frozen=True)
class ModelReply:
    """What one call returned; ``model`` is the model id the provider reported, ``stop_reason``
    one of the STOP_* values (or the provider's own word when it has no equivalent)."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    model: str
    stop_reason: str
    reasoning: tuple[ReasoningPart, ...] = ()
    reasoning_level: str = ""
    """The reasoning level this call ran with ("off", "high", "8000 tokens"), for comments."""


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
        for part in message.reasoning:
            parts.append(part.text or json.dumps(part.block_dict(), default=str))
        for call in message.tool_calls:
            parts.extend((call.name, json.dumps(call.arguments, default=str)))
        for result in message.tool_results:
            parts.append(result.content)
    return "\n".join(parts)
