"""The planner's input budget (ROUTE_ME_PLANNER_TOKEN_BUDGET), kept on every whole request.

The tool loop re-sends the conversation each turn: the context pack, every assistant turn
(rejected submit_plan payloads included) and every tool result.  Counting only tool
results lets the requests outgrow the budget, so the whole request is estimated before it
is sent.  Near the budget the exploration tools are withdrawn and the model is told to
submit; if a request would still be over, the oldest tool results (then old submit_plan
payloads) are replaced by a short note, oldest first.  (Running out of turns is the planner
role's own policy: its final turns offer only submit_plan, see bot/stages/roles.py.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.tokens import estimate_tokens, max_bytes_for
from bot.models.model import CallInfo, Model, Served, WrapperModel
from bot.models.port import Message, ModelRequest, ToolCall, ToolResult
from bot.stages.errors import StageFailed
from bot.stages.loop import with_note

# The request body's own keys (model, max_tokens, stream, cache_control, …): a JSON body
# carries them whatever the content.
FRAMING_TOKENS = 300
# role, type and id keys around each turn, tool call and tool result.
PER_ITEM_TOKENS = 25
SUBMIT_NOW = ("The token budget for reading the repository is spent. Call submit_plan now with "
              "what you know; put anything you could not check in `risks`.")
TRIMMED = "[removed to keep the request under the token budget; read it again only if essential]"
TRIMMED_PLAN = {"omitted": "an earlier submit_plan attempt, removed to save tokens"}


def _json_tokens(value: object) -> int:
    # The wire is JSON: escapes (\n, \", \uXXXX) make a text longer than its UTF-8 bytes.
    return estimate_tokens(json.dumps(value))


def request_tokens(request: ModelRequest) -> int:
    """A conservative estimate of the input tokens ``request`` sends, as its JSON body."""
    total = FRAMING_TOKENS + _json_tokens(request.system) + _json_tokens(request.cached_context)
    for tool in request.tools:
        total += PER_ITEM_TOKENS + _json_tokens(
            {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema})
    for message in request.messages:
        total += PER_ITEM_TOKENS + _json_tokens(message.text)
        for call in message.tool_calls:
            total += PER_ITEM_TOKENS + _json_tokens([call.id, call.name, call.arguments])
        for result in message.tool_results:
            total += PER_ITEM_TOKENS + _json_tokens([result.call_id, result.content])
    return total


def reply_tokens(text: str, calls: Sequence[ToolCall]) -> int:
    """What an assistant reply adds to the next request."""
    return PER_ITEM_TOKENS + _json_tokens(text) + sum(
        PER_ITEM_TOKENS + _json_tokens([c.id, c.name, c.arguments]) for c in calls)


def clip_to_tokens(text: str, tokens: int) -> str:
    """``text`` cut to fit ``tokens`` (as JSON), with a note saying it was cut."""
    if _json_tokens(text) <= tokens:
        return text
    note = "\n[… cut to stay under the token budget]"
    room = max(0, max_bytes_for(tokens - _json_tokens(note)) // 2)  # JSON escapes can double a byte
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + note


@dataclass
class PlannerBudget:
    """The budget bookkeeping of one planner run; ``terminal`` is the submit tool's name."""

    budget: int
    terminal: str = "submit_plan"
    exploring: bool = True
    # Tokens the next request is already known to carry (last request + the reply to it).
    used: int = 0
    stop_note: str = SUBMIT_NOW

    def stop_exploring(self, note: str) -> None:
        if self.exploring:
            self.exploring, self.stop_note = False, note

    @property
    def reserve(self) -> int:
        """Room kept free for the model's reply and a last submit; below it, exploring stops."""
        return max(500, self.budget // 10)

    def result_room(self) -> int:
        """How many tokens a tool result may still take (0: none, the budget is spent)."""
        return max(0, self.budget - self.reserve - self.used - PER_ITEM_TOKENS)

    def take(self, content: str, *, clip: bool = True) -> str:
        """``content`` clipped to the room left, which it then uses up.

        An error the model must read (why its plan was refused) is not clipped; fit()
        makes room for it by trimming older turns.
        """
        taken = clip_to_tokens(content, self.result_room()) if clip else content
        self.used += PER_ITEM_TOKENS + _json_tokens(taken)
        return taken

    def fit(self, request: ModelRequest) -> ModelRequest:
        """``request`` as it may be sent: under the budget, exploring only while there is room."""
        # In the role's final turns the loop already offers only the terminal tool, with its note.
        final = all(t.name == self.terminal for t in request.tools)
        if self.exploring and not final and self.budget - request_tokens(request) < self.reserve:
            self.stop_exploring(SUBMIT_NOW)
        if not self.exploring and not final:
            # Only the terminal tool is offered, with tool_choice left "auto": forcing it is refused
            # by Anthropic with extended thinking on (and by thinking models elsewhere), and a
            # thinking planner is the default (SPEC 8); the note tells the model to submit.
            request = replace(request, tools=tuple(t for t in request.tools if t.name == self.terminal),
                              messages=with_note(request.messages, self.stop_note))
        messages = list(request.messages)
        for index in _trim_order(messages, self.terminal):
            if request_tokens(replace(request, messages=tuple(messages))) <= self.budget:
                break
            messages[index] = _trimmed(messages[index], self.terminal)
        request = replace(request, messages=tuple(messages))
        tokens = request_tokens(request)
        if tokens > self.budget:
            raise StageFailed(
                f"The planner's conversation needs about {tokens:,} input tokens, over the"
                f" {self.budget:,}-token budget (ROUTE_ME_PLANNER_TOKEN_BUDGET), even with old"
                " tool results removed.")
        self.used = tokens
        return request


def _trim_order(messages: Sequence[Message], terminal: str) -> list[int]:
    """Indexes whose bulk may go, oldest first: tool results, then earlier submit attempts.

    The first message (the issue) and the latest turn are never trimmed.
    """
    results = [i for i, m in enumerate(messages[1:-1], 1) if m.tool_results]
    submits = [i for i, m in enumerate(messages[1:-1], 1)
               if any(c.name == terminal for c in m.tool_calls)]
    return results + submits


def _trimmed(message: Message, terminal: str) -> Message:
    if message.tool_results:
        return replace(message, tool_results=tuple(
            ToolResult(call_id=r.call_id, content=TRIMMED, is_error=r.is_error)
            for r in message.tool_results))
    return replace(message, tool_calls=tuple(
        replace(c, arguments=TRIMMED_PLAN) if c.name == terminal else c for c in message.tool_calls))


class FittedToBudget(WrapperModel):
    """The planner's model with every request fitted to the planner's token budget before it is sent."""

    def __init__(self, inner: Model, budget: PlannerBudget) -> None:
        super().__init__(inner)
        self.budget = budget

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        served = await self.inner.complete(self.budget.fit(request), call=call)
        self.budget.used += reply_tokens(served.reply.text, served.reply.tool_calls) + PER_ITEM_TOKENS
        return served
