"""The implementer is told its turn limit and warned before its last two turns, never forced to finish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.usage import Usage
from bot.models.anthropic_adapter import to_anthropic_params
from bot.models.ledger import CallContext
from bot.models.model import CallInfo
from bot.models.openai_adapter import to_openai_params
from bot.models.port import Message, ModelReply, ModelRequest, ModelSpec, ToolCall
from bot.prompts import Prompts, load_prompts
from bot.stages.loop import Answer, run_tool_loop
from bot.stages.roles import IMPLEMENTER, Role
from tests import scenario as sc
from tests.fakes.scripted_model import ScriptedClient, scripted_model
from tests.test_plan_stage import comment, label

SPEC = ModelSpec.parse("moonshot:kimi-k2.6")
TWO_LEFT = "2 turns left: complete the remaining steps of the plan and call finish; do not start new exploration."
ONE_LEFT = "1 turn left: complete the remaining steps of the plan and call finish; do not start new exploration."


def reply(*calls: ToolCall, text: str = "") -> ModelReply:
    return ModelReply(text=text, tool_calls=calls, usage=Usage(), model=SPEC.model, stop_reason="tool_use")


@dataclass(frozen=True)
class NotingRole(Role):
    """An implementer-like role whose last-turn note comes from the test's ``note``."""

    note: Callable[[int], str | None] | None = None

    def turns_left_note(self, prompts: Prompts | None, turns_left: int) -> str | None:
        return self.note(turns_left) if self.note is not None else None


async def run(script: Sequence[ModelReply], turn_note: Callable[[int], str | None] | None,
              max_turns: int) -> ScriptedClient:
    client = ScriptedClient(script)
    role = NotingRole(name="implementer", system_prompt="implementer_system", user_prompt="implementer_user",
                      terminal_tool="finish", max_turns=max_turns, note=turn_note)
    await run_tool_loop(
        role, scripted_model(client, SPEC), request=ModelRequest(system="s", messages=(Message(role="user", text="go"),)),
        call=CallInfo(CallContext(installation_id=None, repo="o/r", issue=1, stage="implement")),
        answer=lambda call: Answer(f"ran {call.id}"))
    return client


def test_the_implementer_note_comes_on_its_last_two_turns_only() -> None:
    prompts = load_prompts()
    assert [IMPLEMENTER.turns_left_note(prompts, n) for n in (5, 3)] == [None, None]
    assert IMPLEMENTER.turns_left_note(prompts, 2) == TWO_LEFT
    assert IMPLEMENTER.turns_left_note(prompts, 1) == ONE_LEFT


async def test_the_loop_asks_the_hook_with_the_calls_left_and_puts_its_note_after_the_tool_results() -> None:
    asked: list[int] = []

    def note(turns_left: int) -> str | None:
        asked.append(turns_left)
        return f"{turns_left} left" if turns_left <= 2 else None

    calls = [ToolCall(id=f"c{n}", name="read_file", arguments={"path": "a.py"}) for n in range(4)]
    client = await run([reply(calls[0]), reply(calls[1]), reply(text="thinking"), reply(calls[3])],
                       note, max_turns=4)
    assert asked == [3, 2, 1]  # never asked after the last call: no request follows it
    last = client.requests[-1].messages
    assert last[2] == Message(role="user", tool_results=last[2].tool_results)  # turn 1: no note
    assert last[4].tool_results and last[4].text == "2 left"  # with the results of turn 2
    assert last[6].text.endswith("\n\n1 left") and "call `finish`" in last[6].text  # after a nudge

    # Both wire formats keep each tool call answered right after it, the note following the results.
    openai_messages = to_openai_params(client.requests[-1], model=SPEC.model, provider="moonshot")["messages"]
    roles = [(m["role"], m.get("tool_call_id"), m.get("content")) for m in openai_messages[2:]]
    assert roles[:5] == [("assistant", None, ""), ("tool", "c0", "ran c0"), ("assistant", None, ""),
                         ("tool", "c1", "ran c1"), ("user", None, "2 left")]
    anthropic_turn = to_anthropic_params(client.requests[-1], model="claude-opus-5-5")["messages"][4]["content"]
    assert [block["type"] for block in anthropic_turn] == ["tool_result", "text"]
    assert anthropic_turn[1]["text"] == "2 left"


async def test_without_a_hook_the_loop_sends_no_note() -> None:
    calls = [ToolCall(id=f"c{n}", name="read_file", arguments={"path": "a.py"}) for n in range(3)]
    client = await run([reply(c) for c in calls], None, max_turns=3)
    assert all(m.text == "" for m in client.requests[-1].messages[1:])


async def test_the_implementer_is_told_its_limit_and_warned_through_the_real_sdk(make_bot, github, anthropic,
                                                                               openai):
    sc.seed(github, config="max_turns: 4\n")
    anthropic.responder = sc.anthropic_roles()
    openai.responder = sc.implementer_replies([("list_files", {})])  # never finishes
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    bodies = openai.completion_bodies
    assert len(bodies) == 4  # warned, not forced: the fourth reply is still the model's own choice
    assert all("tool_choice" not in body or body["tool_choice"] == "auto" for body in bodies)
    first_user = bodies[0]["messages"][1]["content"]
    assert "at most\n4 turns" in first_user

    def notes(body: dict[str, Any]) -> list[str]:
        return [m["content"] for m in body["messages"][2:] if m["role"] == "user"]

    assert notes(bodies[0]) == notes(bodies[1]) == []
    assert notes(bodies[2]) == [TWO_LEFT]
    assert notes(bodies[3]) == [TWO_LEFT, ONE_LEFT]
    # The note follows the tool result it shares a turn with: the call stays answered first.
    tail = bodies[3]["messages"][-3:]
    assert [m["role"] for m in tail] == ["assistant", "tool", "user"]
    assert tail[1]["tool_call_id"] == tail[0]["tool_calls"][0]["id"]
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "did not finish within 4 turns" in failure
