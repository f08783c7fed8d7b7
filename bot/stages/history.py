"""Bounding a tool loop's re-sent history: stale read results become one-line stubs (pure).

Every turn re-sends the whole conversation, so a file read in turn 3 is paid for again on
every later turn (as a cache read at best).  A ``read_file``, ``search`` or ``list_files``
result is *stale* once it is older than the last ``keep_recent_turns`` turns, or once the same
file was read or changed again later (the old text is redundant or outdated).  A stale result
is replaced by a stub such as ``[read_file a.py: 120 lines, elided; read it again if needed]``:
the tool call and its result stay paired (same call id), so both wire formats stay valid.

Trimming changes the prompt prefix, and with it the provider's cache, so it happens in whole
chunks and rarely: only once the history passes ``trigger_tokens`` *and* at least
``min_savings_tokens`` can go.  Between trims the history only grows and every turn reads the
previous one from the cache.  Whether to trim at all depends on the model's prices
(``trim_pays``): after a trim the kept history is billed once more at the cache-write (or
uncached input) rate, and the trim saves cache reads of what went on every later turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.tokens import estimate_tokens
from bot.models.port import Message, ModelRequest, ToolCall, ToolResult, request_text

ELIDABLE_TOOLS = frozenset({"read_file", "search", "list_files"})
TOUCHING_TOOLS = frozenset({"read_file", "write_file", "replace_in_file", "delete_file"})
ELIDED_MARK = ", elided; "


@dataclass(frozen=True)
class TrimPolicy:
    keep_recent_turns: int = 4
    trigger_tokens: int = 24_000
    min_savings_tokens: int = 8_000


# Above this ratio of (rewrite − read) to read price, a trim costs more than the cache reads it
# saves over a typical run's remaining turns.  Anthropic: (1.25 − 0.1) / 0.1 ≈ 24 (Opus 5.5:
# (5 − 0.2) / 0.2 = 24), so its history is left whole; Moonshot Kimi K2.6: (0.95 − 0.16) / 0.16
# ≈ 4.9, OpenAI: ≈ 9, so theirs is trimmed.  Measured with bench/bench_splits.py --pad-lines.
MAX_REWRITE_TO_READ_RATIO = 10.0


def trim_pays(*, cache_write: float, cache_read: float) -> bool:
    """Whether stubbing old results saves money at these per-token prices (see above)."""
    if cache_read <= 0:
        return cache_write > 0
    return (cache_write - cache_read) / cache_read <= MAX_REWRITE_TO_READ_RATIO


def history_tokens(messages: Sequence[Message]) -> int:
    """The byte estimate of what the messages send (text, call arguments, results)."""
    return estimate_tokens(request_text(ModelRequest(system="", messages=tuple(messages))))


def stub_for(call: ToolCall, content: str) -> str:
    """One line saying what the elided result was and how to get it back."""
    lines = content.count("\n") + 1 if content else 0
    arguments = call.arguments
    if call.name == "read_file":
        where = str(arguments.get("path", "?"))
        if "start_line" in arguments or "end_line" in arguments:
            where += f" lines {arguments.get('start_line', 1)}-{arguments.get('end_line', 'end')}"
        return f"[read_file {where}: {lines} lines{ELIDED_MARK}read it again if needed]"
    if call.name == "search":
        where = f" in {arguments['path']}" if arguments.get("path") else ""
        return f"[search {str(arguments.get('pattern', ''))!r}{where}: {lines} lines{ELIDED_MARK}search again if needed]"
    return f"[{call.name} {arguments.get('path') or '.'}: {lines} lines{ELIDED_MARK}list again if needed]"


def _stale_results(messages: Sequence[Message], keep_recent_turns: int) -> dict[str, ToolCall]:
    """Call ids of the results that may be elided, with their calls."""
    turns = sum(1 for m in messages if m.role == "assistant")
    calls: dict[str, tuple[int, int, ToolCall]] = {}  # id -> (turn, order, call)
    last_touch: dict[str, int] = {}  # path -> order of the last call that read or changed it
    turn = order = 0
    for message in messages:
        if message.role != "assistant":
            continue
        turn += 1
        for call in message.tool_calls:
            order += 1
            calls[call.id] = (turn, order, call)
            path = call.arguments.get("path")
            if call.name in TOUCHING_TOOLS and isinstance(path, str):
                last_touch[path] = order
    stale: dict[str, ToolCall] = {}
    for call_id, (call_turn, call_order, call) in calls.items():
        if call.name not in ELIDABLE_TOOLS:
            continue
        superseded = call.name == "read_file" and last_touch.get(str(call.arguments.get("path")), 0) > call_order
        if superseded or call_turn <= turns - keep_recent_turns:
            stale[call_id] = call
    return stale


def trim_history(messages: Sequence[Message], policy: TrimPolicy = TrimPolicy()) -> Sequence[Message]:
    """The messages with stale read results stubbed, or ``messages`` itself when a trim is not due."""
    if history_tokens(messages) < policy.trigger_tokens:
        return messages
    stale = _stale_results(messages, policy.keep_recent_turns)
    savings = 0
    trimmed: list[Message] = []
    for message in messages:
        results: list[ToolResult] = []
        for result in message.tool_results:
            call = stale.get(result.call_id)
            if call is None or result.is_error or ELIDED_MARK in result.content[:300]:
                results.append(result)
                continue
            stub = stub_for(call, result.content)
            saved = estimate_tokens(result.content) - estimate_tokens(stub)
            if saved <= 0:  # a short result says more than its stub would
                results.append(result)
                continue
            savings += saved
            results.append(replace(result, content=stub))
        trimmed.append(replace(message, tool_results=tuple(results)) if message.tool_results else message)
    return trimmed if savings >= policy.min_savings_tokens else messages
