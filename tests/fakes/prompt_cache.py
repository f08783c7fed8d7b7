"""Prompt-cache billing for the fake model servers, computed from the exact request body the SDK sent.

Token counts are the byte estimate ``bot.core.tokens.estimate_tokens`` (no tokenizer); what
this module adds is *which* of those tokens a real provider would bill as cache reads or
writes.  Two models of caching, both keyed on the model id and kept for the fake's lifetime
(entries expire ``ttl_seconds`` after their last use, by an injectable clock):

Anthropic (explicit breakpoints; platform.claude.com "Prompt caching"):

* The prompt is a sequence of blocks in the order tools → system → messages; each tool, each
  system block and each message content block (a string content is one block) is one block.
  A block's identity ignores its ``cache_control`` marker: moving the breakpoint to the end of
  a growing conversation must still hit what the previous turn wrote.
* A block carrying ``cache_control`` is a breakpoint; more than 4 is refused (HTTP 400).
* At each breakpoint the cache is looked up at that block boundary and at the 19 boundaries
  before it (the 20-block lookback); the longest prefix found is ``cache_read_input_tokens``.
* Each breakpoint whose prefix reaches the model's minimum cacheable length writes an entry;
  the tokens from the read prefix up to the last such breakpoint are
  ``cache_creation_input_tokens``; everything else is ``input_tokens``.
* Not modelled: the 1-hour TTL, ``tool_choice``/thinking changes invalidating message caches.

OpenAI-compatible (automatic prefix caching; OpenAI "Prompt caching", Moonshot reports the same):

* The prompt is the tools, then the messages, serialized in the order sent.  The cached part is
  the longest prefix shared with an earlier request to the same model, rounded down to
  ``increment`` tokens, and nothing when under ``minimum`` (OpenAI: 1024, then 128 steps).
  Moonshot publishes no block size; the OpenAI rule is used for it too.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.core.tokens import estimate_tokens

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
# Minimum cacheable prefix by model-id prefix, longest match first.  Opus 4.5/4.6 and Haiku 4.5
# from Anthropic's table (4096); Opus 4.7 2048; the Opus 5 family 512 (as reported for Opus 5;
# Opus 5.5 is assumed to follow it); everything else 1024.
_ANTHROPIC_MINIMUMS = (
    ("claude-opus-4-5", 4096), ("claude-opus-4-6", 4096), ("claude-haiku-4-5", 4096),
    ("claude-opus-4-7", 2048), ("claude-opus-5", 512),
)
DEFAULT_ANTHROPIC_MINIMUM = 1024


def anthropic_minimum_tokens(model: str) -> int:
    """The shortest prefix the model caches; a shorter breakpoint is billed as plain input."""
    for prefix, minimum in _ANTHROPIC_MINIMUMS:
        if model.startswith(prefix):
            return minimum
    return DEFAULT_ANTHROPIC_MINIMUM


@dataclass(frozen=True)
class AnthropicBill:
    input_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int


@dataclass(frozen=True)
class _Block:
    identity: str
    tokens: int
    breakpoint: bool


def _without_marker(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block


def _block(value: Any, *, role: str = "") -> _Block:
    identity = json.dumps({"role": role, "block": _without_marker(value)}, sort_keys=True)
    marked = isinstance(value, dict) and "cache_control" in value
    return _Block(identity=identity, tokens=estimate_tokens(json.dumps(_without_marker(value))), breakpoint=marked)


def anthropic_blocks(body: dict[str, Any]) -> list[_Block]:
    """The request's blocks in cache order: tools, system, then each message's content blocks."""
    blocks = [_block(tool, role="tool") for tool in body.get("tools") or ()]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(_block({"type": "text", "text": system}, role="system"))
    else:
        blocks.extend(_block(part, role="system") for part in system or ())
    for message in body.get("messages") or ():
        content = message.get("content")
        parts = [content] if isinstance(content, str) else list(content or ())
        blocks.extend(_block(part, role=message.get("role", "")) for part in parts)
    return blocks


class _Entries:
    """Cache entries by key with a sliding expiry (a hit refreshes it, as the providers do)."""

    def __init__(self, ttl_seconds: float | None, clock: Callable[[], float]) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._last_used: dict[str, float] = {}

    def hit(self, key: str) -> bool:
        used = self._last_used.get(key)
        if used is None:
            return False
        if self.ttl_seconds is not None and self.clock() - used > self.ttl_seconds:
            del self._last_used[key]
            return False
        self._last_used[key] = self.clock()
        return True

    def put(self, key: str) -> None:
        self._last_used[key] = self.clock()

    def keys(self) -> list[str]:
        return list(self._last_used)


class TooManyBreakpoints(ValueError):
    """The request marks more blocks with ``cache_control`` than the API accepts."""


class AnthropicPromptCache:
    """Bills one Messages request at a time; see the module docstring for the rules."""

    def __init__(self, *, ttl_seconds: float | None = 300.0, clock: Callable[[], float] = time.monotonic,
                 minimum_tokens: Callable[[str], int] = anthropic_minimum_tokens) -> None:
        self._entries = _Entries(ttl_seconds, clock)
        self._minimum_tokens = minimum_tokens

    def bill(self, body: dict[str, Any]) -> AnthropicBill:
        blocks = anthropic_blocks(body)
        breakpoints = [i for i, block in enumerate(blocks) if block.breakpoint]
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise TooManyBreakpoints(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(breakpoints)}."
            )
        model = str(body.get("model", ""))
        digest = hashlib.sha256(model.encode())
        keys: list[str] = []
        ends: list[int] = []  # tokens up to and including block i
        running = 0
        for block in blocks:
            digest.update(block.identity.encode())
            keys.append(digest.copy().hexdigest())
            running += block.tokens
            ends.append(running)
        read = 0
        for point in breakpoints:
            for i in range(point, max(-1, point - LOOKBACK_BLOCKS), -1):
                if self._entries.hit(keys[i]):
                    read = max(read, ends[i])
                    break
        minimum = self._minimum_tokens(model)
        cacheable = [point for point in breakpoints if ends[point] >= minimum]
        for point in cacheable:
            self._entries.put(keys[point])
        written = max(0, ends[cacheable[-1]] - read) if cacheable else 0
        return AnthropicBill(input_tokens=running - read - written, cache_write_tokens=written,
                             cache_read_tokens=read)


def openai_prompt_text(body: dict[str, Any]) -> str:
    """The prompt as the provider sees its order: tool definitions, then the messages as sent."""
    parts = [json.dumps(tool) for tool in body.get("tools") or ()]
    parts.extend(json.dumps(message) for message in body.get("messages") or ())
    return "\n".join(parts)


def common_prefix_length(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search over slice comparisons, done in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class OpenAIBill:
    prompt_tokens: int
    cached_tokens: int


class OpenAIPromptCache:
    """Automatic prefix caching: see the module docstring."""

    def __init__(self, *, minimum: int = 1024, increment: int = 128, ttl_seconds: float | None = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.minimum = minimum
        self.increment = increment
        self._entries = _Entries(ttl_seconds, clock)
        self._prompts: dict[str, str] = {}

    def bill(self, body: dict[str, Any]) -> OpenAIBill:
        model = str(body.get("model", ""))
        prompt = openai_prompt_text(body)
        shared = 0
        for key in self._entries.keys():
            earlier_model, earlier = key.split("\0", 1)[0], self._prompts[key]
            if earlier_model == model and earlier[:1] == prompt[:1] and self._entries.hit(key):
                shared = max(shared, common_prefix_length(earlier, prompt))
        key = f"{model}\0{hashlib.sha256(prompt.encode()).hexdigest()}"
        self._prompts[key] = prompt
        self._entries.put(key)
        total = estimate_tokens(prompt)
        cached = estimate_tokens(prompt[:shared]) // self.increment * self.increment
        cached = min(cached, total) if cached >= self.minimum else 0
        return OpenAIBill(prompt_tokens=total, cached_tokens=cached)
