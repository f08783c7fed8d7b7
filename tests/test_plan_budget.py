"""The planner's token budget holds for every whole request, however much the model explores."""

from __future__ import annotations

import json

from bot.core.tokens import estimate_tokens
from bot.models.port import Message, ModelRequest, ToolCall, ToolResult, ToolSpec
from bot.stages.plan_budget import TRIMMED, PlannerBudget, request_tokens
from tests import scenario as sc
from tests.fakes import anthropic_server
from tests.fakes.deliveries import issue_labeled

BUDGET = 8_000


def big_repo() -> dict[str, str]:
    files = dict(sc.FILES)
    for n in range(12):
        files[f"calc/extra_{n}.py"] = "".join(
            f'def helper_{n}_{i}(value: float) -> float:\n    """Helper {i} says "hi".\\n"""\n'
            f"    return value * {i} + {n}\n\n" for i in range(120))
    return files


def explorer(turns_before_submit: int):
    """A planner that reads a big file every turn, then submits (once invalid, then valid)."""
    def respond(body):
        turn = sc.turn_number(body)
        if turn < turns_before_submit and any(t["name"] == "read_file" for t in body["tools"]):
            return anthropic_server.tool_reply("read_file", {"path": f"calc/extra_{turn % 12}.py"},
                                               usage=sc.PLANNER_USAGE)
        if not any("plan is invalid" in str(m.get("content")) for m in body["messages"]):
            bad = {**sc.PLAN, "steps": [{"title": "x" * 20_000}]}  # big and rejected
            return anthropic_server.tool_reply("submit_plan", bad, usage=sc.PLANNER_USAGE)
        return anthropic_server.tool_reply("submit_plan", sc.PLAN, usage=sc.PLANNER_USAGE)
    return respond


async def test_every_planner_request_stays_under_the_budget(make_bot, github, anthropic):
    sc.seed(github, files=big_repo())
    anthropic.responder = explorer(turns_before_submit=9)
    bot = await make_bot(ROUTE_ME_PLANNER_TOKEN_BUDGET=str(BUDGET))
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
    await bot.settle()

    sizes = [estimate_tokens(json.dumps(body)) for body in anthropic.message_bodies]
    assert len(sizes) >= 5, sizes
    assert max(sizes) <= BUDGET, sizes
    # the model was told to stop exploring and submit, and then it could only submit
    last = anthropic.message_bodies[-1]
    assert [t["name"] for t in last["tools"]] == ["submit_plan"]
    assert "call submit_plan now" in json.dumps(last["messages"]).lower()
    assert sc.plan_comment(github)["body"].count("Guard the divisor") == 1


def test_an_oversized_conversation_loses_its_oldest_tool_results_first():
    tool = ToolSpec(name="read_file", description="read", input_schema={"type": "object"})
    submit = ToolSpec(name="submit_plan", description="submit", input_schema={"type": "object"})
    turns: list[Message] = [Message(role="user", text="plan issue 7")]
    for n in range(6):
        turns.append(Message(role="assistant", tool_calls=(ToolCall(id=f"c{n}", name="read_file",
                                                                     arguments={"path": f"f{n}"}),)))
        turns.append(Message(role="user", tool_results=(ToolResult(call_id=f"c{n}", content="x" * 7000),)))
    request = ModelRequest(system="You plan.", messages=tuple(turns), tools=(tool, submit))
    assert request_tokens(request) > 10_000

    fitted = PlannerBudget(budget=10_000).fit(request)

    assert request_tokens(fitted) <= 10_000
    contents = [m.tool_results[0].content for m in fitted.messages if m.tool_results]
    assert contents[0] == TRIMMED and contents[-1] == "x" * 7000  # oldest went first
    assert [t.name for t in fitted.tools] == ["submit_plan"]  # no room left to explore


async def test_a_planner_that_would_explore_forever_is_told_to_submit_before_its_turns_run_out(
        make_bot, github, anthropic):
    from bot.stages.plan import PLANNER_MAX_TURNS

    sc.seed(github, files=big_repo())
    anthropic.responder = explorer(turns_before_submit=10 * PLANNER_MAX_TURNS)  # reads while it may
    bot = await make_bot(ROUTE_ME_PLANNER_TOKEN_BUDGET="1000000")  # the turns run out, not the tokens
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
    await bot.settle()
    bodies = anthropic.message_bodies
    assert len(bodies) == PLANNER_MAX_TURNS
    offered = [[t["name"] for t in body["tools"]] for body in bodies]
    assert all("read_file" in names for names in offered[:-2])
    assert offered[-2:] == [["submit_plan"], ["submit_plan"]]  # one to submit, one to fix a refused plan
    assert "used your turns for reading" in json.dumps(bodies[-2]["messages"])
    assert "Guard the divisor" in sc.plan_comment(github)["body"]  # a plan, not a failure
