"""The roles as declared values, their last-turn policies in the tool loop, and a stage run on the
scripted client at the port (no HTTP for the model: the provider's client is replaced)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.core.usage import Usage
from bot.models.ledger import CallContext
from bot.models.model import CallInfo
from bot.models.port import Message, ModelRequest, ToolCall
from bot.prompts import EXPECTED, load_prompts
from bot.stages.loop import Answer, run_tool_loop
from bot.stages.roles import ADVISOR, IMPLEMENTER, JUDGE, PLANNER, ROLES, Role
from tests import scenario as sc
from tests.fakes.deliveries import issue_labeled
from tests.fakes.scripted_model import ScriptedClient, reply, scripted_model, tool_reply

CALL = CallInfo(CallContext(installation_id=None, repo="o/r", issue=1, stage="plan"))
LAST_TURNS = ("You have used your turns for reading the repository. Call submit_plan now with "
              "what you know; put anything you could not check in `risks`.")


def read(n: int) -> ToolCall:
    return ToolCall(id=f"r{n}", name="read_file", arguments={"path": f"f{n}.py"})


def test_every_role_names_prompts_that_exist_and_ends_on_a_tool_it_offers() -> None:
    for role in ROLES:
        assert role.system_prompt in EXPECTED and role.user_prompt in EXPECTED, role.name
        for prompt in (role.final_turns_prompt, role.turns_left_prompt):
            assert prompt is None or prompt in EXPECTED, role.name
        if role.terminal_tool is not None:
            assert role.terminal_tool in [t.name for t in role.tools], role.name
    assert [t.name for t in PLANNER.tools] == ["list_files", "read_file", "search", "submit_plan"]
    assert "write_file" in [t.name for t in IMPLEMENTER.tools] and IMPLEMENTER.terminal_tool == "finish"
    assert (JUDGE.terminal_tool, JUDGE.max_turns) == ("submit_scorecard", 2)
    assert ADVISOR.tools == () and ADVISOR.reasoning_key == "planner" and PLANNER.reasoning_key == "planner"


def test_a_role_builds_its_first_request_from_its_prompt_files() -> None:
    prompts = load_prompts()
    request = JUDGE.request(prompts, user="score this", reasoning=None, cached_context="ctx")
    assert request.system == prompts.text("judge_system")
    assert request.messages == (Message(role="user", text="score this"),)
    assert request.tools == JUDGE.tools and request.max_tokens == 4_000 and request.cached_context == "ctx"


async def test_the_final_turns_offer_only_the_terminal_tool_and_refuse_any_other_call() -> None:
    prompts = load_prompts()
    client = ScriptedClient([reply("", read(0)), reply("", read(1)), reply("", read(2)),
                             tool_reply("submit_plan", {"summary": "s"})])
    answered: list[str] = []

    def answer(call: ToolCall) -> Answer:
        answered.append(call.name)
        return Answer("plan received", done=True, value="plan") if call.name == "submit_plan" else Answer("text")

    role = replace(PLANNER, max_turns=4)
    request = role.request(prompts, user="plan issue 1", reasoning=None)
    result = await run_tool_loop(role, scripted_model(client), request=request, call=CALL, answer=answer,
                                 prompts=prompts)
    assert result.finished and result.value == "plan" and result.turns == 4
    offered = [[t.name for t in r.tools] for r in client.requests]
    assert offered[:2] == [[t.name for t in PLANNER.tools]] * 2
    assert offered[2:] == [["submit_plan"], ["submit_plan"]]
    assert all(r.tool_choice == "auto" for r in client.requests)  # offered, never forced
    assert LAST_TURNS == prompts.text("planner_last_turns").strip()
    assert [LAST_TURNS in r.messages[-1].text for r in client.requests] == [False, False, True, True]
    # The read in a final turn was refused with the note, not run.
    assert answered == ["read_file", "read_file", "submit_plan"]
    refused = client.requests[3].messages[-1].tool_results[0]
    assert refused.is_error and refused.content == f"error: {LAST_TURNS}"


async def test_a_loop_needs_a_terminal_tool_and_the_prompts_its_notes_use() -> None:
    request = ModelRequest(system="s", messages=(Message(role="user", text="go"),))
    with pytest.raises(ValueError, match="no terminal tool"):
        await run_tool_loop(ADVISOR, scripted_model(ScriptedClient()), request=request, call=CALL,
                            answer=lambda call: Answer("x"))
    with pytest.raises(ValueError, match="need the prompts"):
        await run_tool_loop(PLANNER, scripted_model(ScriptedClient()), request=request, call=CALL,
                            answer=lambda call: Answer("x"))
    plain = Role(name="judge", system_prompt="judge_system", user_prompt="judge_user", terminal_tool="done",
                 max_turns=1)
    client = ScriptedClient([reply("no tool")])
    result = await run_tool_loop(plain, scripted_model(client), request=request, call=CALL,
                                 answer=lambda call: Answer("x"))
    assert not result.finished and result.turns == 1 and client.calls == 1


async def test_the_planner_stage_runs_on_a_scripted_client_at_the_port(make_bot, github) -> None:
    """The real plan stage, its model's provider client replaced by a script: no wire format involved."""
    sc.seed(github)
    bot = await make_bot()
    explore = [reply("", ToolCall(id=f"c{n}", name="read_file", arguments={"path": "calc/ops.py"}),
                     usage=Usage(1_000, 100)) for n in range(PLANNER.max_turns - 1)]
    client = ScriptedClient([*explore, tool_reply("submit_plan", sc.PLAN, usage=Usage(1_000, 500))])
    runtime = bot.services.extras["runtime"]
    runtime.models.clients = {**runtime.models.clients, "anthropic": client}
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
    await bot.settle()

    assert client.calls == PLANNER.max_turns and set(client.models) == {"claude-opus-5-5"}  # ROUTE_ME_STRONG in tests/fakes/harness.py
    assert [[t.name for t in r.tools] for r in client.requests[-2:]] == [["submit_plan"], ["submit_plan"]]
    assert "Guard the divisor" in sc.plan_comment(github)["body"]
    rows = [r for r in bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}") if r["stage"] == "plan"]
    assert len(rows) == PLANNER.max_turns and {r["outcome"] for r in rows} == {"ok"}
    assert sum(r["usage"]["output_tokens"] for r in rows) == 100 * (PLANNER.max_turns - 1) + 500
    assert json.dumps(client.requests[-1].messages[-1].text).count("submit_plan now") == 1
