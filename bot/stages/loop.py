"""The tool loop every role runs: call the model, answer its tool calls, repeat until a terminal tool.

The loop is provider-neutral (it speaks the model port) and knows nothing about plans,
files or scorecards: it runs a ``Role`` (bot/stages/roles.py: terminal tool, turn cap, last-turn
policies) and the stage supplies ``answer(call) -> Answer``.  Tool errors go back to the model as
error results; a reply without a tool call gets one short nudge.  Once the terminal tool is
accepted, the reply's remaining calls are answered as ignored, not run.

Two last-turn policies are the role's: a warning added to the user turn before each of its
last calls (``turns_left_prompt``; it goes after the tool results, so call/result pairing
holds), and final turns that offer only the terminal tool with a note saying why
(``final_turns``), where any other call is refused instead of run.

Each assistant turn keeps the reasoning its model returned (thinking blocks, reasoning_content)
in the conversation's own messages, so it goes back with that turn and with nothing else.
A reply cut off at the output limit (``max_tokens`` / ``length``) is never taken at face value:
its last tool call may be missing fields, so it is not run, the model is told its output was
truncated, and the next call may write twice as much (up to four times the role's limit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.usage import Usage
from bot.models.model import CallInfo, Model, Served
from bot.models.port import STOP_MAX_TOKENS, Message, ModelRequest, ToolCall, ToolResult
from bot.prompts import Prompts
from bot.stages.errors import StageCancelled
from bot.stages.roles import Role

NUDGE = "Please continue by calling one of the tools. When you are done, call `{tool}`."
TRUNCATED_CALL = ("error: your output was truncated at the output token limit while you were writing this "
                  "`{name}` call, so it was not run (its arguments are incomplete). Send it again, shorter: "
                  "split a large file into several smaller edits, or write less per call.")
TRUNCATED_TEXT = ("Your reply was truncated at the output token limit before you called a tool{why}. "
                  "Think less and answer with a tool call now; when you are done, call `{tool}`.")
MAX_TOKENS_GROWTH = 4  # a truncated reply may double the limit, up to this multiple of the role's own


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
    reasoning_levels: list[str] = field(default_factory=list)
    """The reasoning levels the calls ran with ("off", "high"), in order of first use."""
    truncated: int = 0
    """Replies cut off at the output limit."""
    tool_calls: int = 0
    ignored_after_done: list[str] = field(default_factory=list)
    """Tool calls the model sent after its terminal call in the same reply; never run."""

    def add(self, routed: Served) -> None:
        self.usage = self.usage + routed.usage
        self.cost_usd = _plus(self.cost_usd, routed.cost_usd)
        self.strong_cost_usd = _plus(self.strong_cost_usd, routed.strong_cost_usd)
        served = str(routed.served_by)
        if served not in self.served_by:
            self.served_by.append(served)
        if routed.fallback_reason and routed.fallback_reason not in self.fallback_notes:
            self.fallback_notes.append(routed.fallback_reason)
        level = routed.reply.reasoning_level
        if level and level not in self.reasoning_levels:
            self.reasoning_levels.append(level)

    def reasoning_label(self) -> str:
        """How a comment names the reasoning that served: "high", "high, then off"."""
        return ", then ".join(self.reasoning_levels) or "off"

    def served_label(self, default: str) -> str:
        """The model that served last, with the reasoning it ran with when any was on:
        "anthropic:claude-opus-4-1 (reasoning: high)"; the plain spec when none was."""
        served = self.served_by[-1] if self.served_by else default
        label = self.reasoning_label()
        return served if label == "off" else f"{served} (reasoning: {label})"


def _plus(total: float | None, value: float | None) -> float | None:
    return None if total is None or value is None else total + value


def with_note(messages: Sequence[Message], note: str) -> tuple[Message, ...]:
    """``messages`` with ``note`` added to the last user turn (once), after what it holds."""
    last = messages[-1]
    if last.role != "user" or note in last.text:
        return tuple(messages)
    text = f"{last.text}\n\n{note}" if last.text else note
    return (*messages[:-1], replace(last, text=text))


async def run_tool_loop(
    role: Role,
    model: Model,
    *,
    request: ModelRequest,
    call: CallInfo,
    answer: Callable[[ToolCall], Awaitable[Answer] | Answer],
    prompts: Prompts | None = None,
    on_turn: Callable[[int, LoopResult], Awaitable[None]] | None = None,
    should_stop: Callable[[], bool] | None = None,
    compact: Callable[[Sequence[Message]], Sequence[Message]] | None = None,
) -> LoopResult:
    """Run ``role`` on ``model`` from ``request`` until a tool answer says ``done`` or the role's
    ``max_turns`` model calls were made.

    ``prompts`` renders the role's last-turn notes (needed when it declares any).
    ``should_stop`` is asked before every model call (a maintainer may cancel mid-run).
    ``compact`` may rewrite the history after each turn (``bot.stages.history.trim_history``);
    what it returns is what every later turn re-sends.
    """
    terminal_tool, max_turns = role.terminal_tool, role.max_turns
    if terminal_tool is None:
        raise ValueError(f"the {role.name} role has no terminal tool to end a loop")
    if prompts is None and (role.turns_left_prompt or role.final_turns):
        raise ValueError(f"the {role.name} role's last-turn notes need the prompts")
    final_note = role.final_note(prompts) if role.final_turns and prompts is not None else ""
    messages = list(request.messages)
    result = LoopResult(value=None, finished=False, turns=0)
    max_tokens = request.max_tokens
    while result.turns < max_turns:
        if should_stop is not None and should_stop():
            raise StageCancelled()
        final = max_turns - result.turns <= role.final_turns  # this call is one of the role's final ones
        result.turns += 1
        sent = replace(request, messages=tuple(messages), max_tokens=max_tokens)
        if final:
            # Only offered, never forced: a forced tool_choice is refused with extended thinking on.
            sent = replace(sent, tools=tuple(t for t in sent.tools if t.name == terminal_tool),
                           messages=with_note(sent.messages, final_note))
        routed = await model.complete(sent, call=call)
        result.add(routed)
        reply = routed.reply
        truncated = reply.stop_reason == STOP_MAX_TOKENS
        if truncated:
            result.truncated += 1
            max_tokens = min(max_tokens * 2, request.max_tokens * MAX_TOKENS_GROWTH)
        if reply.text or reply.tool_calls:
            # An empty assistant turn is refused by the Messages API; leave it out.  Its reasoning
            # rides with it: only this conversation ever sends it back.
            messages.append(Message(role="assistant", text=reply.text, tool_calls=reply.tool_calls,
                                    reasoning=reply.reasoning))
        turns_left = max_turns - result.turns  # model calls still allowed after this one
        note = role.turns_left_note(prompts, turns_left) if turns_left > 0 else None
        if not reply.tool_calls:
            if truncated:
                why = "" if reply.text else " (all of it went to reasoning)"
                nudge = TRUNCATED_TEXT.format(why=why, tool=terminal_tool)
            else:
                nudge = NUDGE.format(tool=terminal_tool)
            messages.append(Message(role="user", text=f"{nudge}\n\n{note}" if note else nudge))
            continue
        results: list[ToolResult] = []
        cut_off = reply.tool_calls[-1].id if truncated else None
        for index, tool_call in enumerate(reply.tool_calls):
            result.tool_calls += 1
            if result.finished:
                # The accepted terminal call fixed the outcome: a later call in the same reply
                # must not change what was already validated and accepted.
                result.ignored_after_done.append(tool_call.name)
                results.append(ToolResult(call_id=tool_call.id, is_error=True,
                                          content=f"ignored: {terminal_tool} was already accepted"))
                continue
            if final and tool_call.name != terminal_tool:
                outcome = Answer(f"error: {final_note}", is_error=True)
            elif cut_off is not None and index == len(reply.tool_calls) - 1:
                # The output limit fell inside this call: whatever parsed is not what the model meant.
                outcome = Answer(TRUNCATED_CALL.format(name=tool_call.name), is_error=True)
            elif tool_call.parse_error:
                outcome = Answer(f"error: the arguments were not a JSON object ({tool_call.parse_error})",
                                 is_error=True)
            else:
                maybe = answer(tool_call)
                outcome = await maybe if isinstance(maybe, Awaitable) else maybe
            results.append(ToolResult(call_id=tool_call.id, content=outcome.content, is_error=outcome.is_error))
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
