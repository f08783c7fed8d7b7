"""The tool loop every role runs: call the model, answer its tool calls, repeat until a terminal tool.

The loop is provider-neutral (it speaks the model port) and knows nothing about plans,
files or scorecards: a role supplies ``answer(call) -> Answer``.  Tool errors go back to
the model as error results; a reply without a tool call gets one short nudge.  Once the
terminal tool is accepted, the reply's remaining calls are answered as ignored, not run.
A role may add a note to the user turn before a model call (``turn_note``), e.g. to warn
that few turns are left; it goes after the tool results, so call/result pairing holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.usage import Usage
from bot.models.ledger import CallContext
from bot.models.port import Message, ModelRequest, ModelSpec, ToolCall, ToolResult
from bot.models.routing import Budget, ModelRouter, RoutedReply
from bot.stages.errors import StageCancelled

NUDGE = "Please continue by calling one of the tools. When you are done, call `{tool}`."


@dataclass(frozen=True)
class Answer:
    """A role's answer to one tool call; ``done`` ends the loop with ``value``."""

    content: str
    is_error: bool = False
    done: bool = False
    value: Any = None


@dataclass
class LoopResult:
    value: Any
    finished: bool
    turns: int
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    strong_cost_usd: float | None = 0.0
    served_by: list[str] = field(default_factory=list)
    fallback_notes: list[str] = field(default_factory=list)
    tool_calls: int = 0
    ignored_after_done: list[str] = field(default_factory=list)
    """Tool calls the model sent after its terminal call in the same reply; never run."""

    def add(self, routed: RoutedReply) -> None:
        self.usage = self.usage + routed.usage
        self.cost_usd = _plus(self.cost_usd, routed.cost_usd)
        self.strong_cost_usd = _plus(self.strong_cost_usd, routed.strong_cost_usd)
        served = str(routed.served_by)
        if served not in self.served_by:
            self.served_by.append(served)
        if routed.fallback_reason and routed.fallback_reason not in self.fallback_notes:
            self.fallback_notes.append(routed.fallback_reason)


def _plus(total: float | None, value: float | None) -> float | None:
    return None if total is None or value is None else total + value


async def run_tool_loop(
    *,
    router: ModelRouter,
    request: ModelRequest,
    spec: ModelSpec,
    fallbacks: Sequence[ModelSpec],
    context: CallContext,
    budgets: Sequence[Budget],
    answer: Callable[[ToolCall], Awaitable[Answer] | Answer],
    terminal_tool: str,
    max_turns: int,
    on_turn: Callable[[int, LoopResult], Awaitable[None]] | None = None,
    should_stop: Callable[[], bool] | None = None,
    compact: Callable[[Sequence[Message]], Sequence[Message]] | None = None,
    turn_note: Callable[[int], str | None] | None = None,
) -> LoopResult:
    """Run until a tool answer says ``done`` or ``max_turns`` model calls were made.

    ``should_stop`` is asked before every model call (a maintainer may cancel mid-run).
    ``compact`` may rewrite the history after each turn (``bot.stages.history.trim_history``);
    what it returns is what every later turn re-sends.
    ``turn_note(turns_left)`` is asked after each turn that leads to another model call, with
    the number of calls still allowed (the next one included); a text it returns is added to
    that user turn, after the tool results (both wire formats accept text there).
    """
    messages = list(request.messages)
    result = LoopResult(value=None, finished=False, turns=0)
    while result.turns < max_turns:
        if should_stop is not None and should_stop():
            raise StageCancelled()
        result.turns += 1
        routed = await router.call(
            replace(request, messages=tuple(messages)), spec=spec, fallbacks=fallbacks,
            context=context, budgets=budgets,
        )
        result.add(routed)
        reply = routed.reply
        if reply.text or reply.tool_calls:
            # An empty assistant turn is refused by the Messages API; leave it out.
            messages.append(Message(role="assistant", text=reply.text, tool_calls=reply.tool_calls))
        turns_left = max_turns - result.turns  # model calls still allowed after this one
        note = turn_note(turns_left) if turn_note is not None and turns_left > 0 else None
        if not reply.tool_calls:
            nudge = NUDGE.format(tool=terminal_tool)
            messages.append(Message(role="user", text=f"{nudge}\n\n{note}" if note else nudge))
            continue
        results: list[ToolResult] = []
        for call in reply.tool_calls:
            result.tool_calls += 1
            if result.finished:
                # The accepted terminal call fixed the outcome: a later call in the same reply
                # must not change what was already validated and accepted.
                result.ignored_after_done.append(call.name)
                results.append(ToolResult(call_id=call.id, is_error=True,
                                          content=f"ignored: {terminal_tool} was already accepted"))
                continue
            if call.parse_error:
                outcome = Answer(f"error: the arguments were not a JSON object ({call.parse_error})", is_error=True)
            else:
                maybe = answer(call)
                outcome = await maybe if isinstance(maybe, Awaitable) else maybe
            results.append(ToolResult(call_id=call.id, content=outcome.content, is_error=outcome.is_error))
            if outcome.done:
                result.value = outcome.value
                result.finished = True
        if result.finished:
            return result
        messages.append(Message(role="user", tool_results=tuple(results), text=note or ""))
        if compact is not None:
            messages = list(compact(messages))
        if on_turn is not None:
            await on_turn(result.turns, result)
    return result
