"""Reasoning per role (SPEC 8): the repository's `reasoning` key over the server's ROUTE_ME_REASONING,
each role called with its level, a thinking planner's tool loop against the fake Anthropic API (which
refuses edited or missing thinking blocks and a forced tool_choice with thinking), thinking tokens in
the ledger and the cost table, and the level that served named where the model is."""

from __future__ import annotations

import json

import pytest

from bot.core.money import costs_table
from bot.core.repo_config import ConfigError, RepoConfig, parse_repo_config
from bot.core.usage import StageCost, Usage
from bot.models.port import Reasoning
from bot.settings import DEFAULT_REASONING, load_settings
from bot.stages.model_choice import reasoning_for
from bot.stages.plan import PLANNER_MAX_TURNS
from tests import scenario as sc
from tests.fakes import anthropic_server
from tests.fakes.deliveries import issue_labeled
from tests.test_settings import good_env, problems


def errors_for(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config(text)
    return caught.value.errors


def test_the_reasoning_key_takes_a_level_or_a_token_budget_per_role() -> None:
    config = parse_repo_config("reasoning:\n  planner: HIGH\n  implementer: off\n  judge: 4096\n")
    assert config.reasoning == {"planner": "high", "implementer": "off", "judge": 4096}
    assert parse_repo_config("reasoning: {judge: '2048'}").reasoning == {"judge": 2048}
    assert RepoConfig().reasoning == {}


@pytest.mark.parametrize(("text", "fragment"), [
    ("reasoning: {planer: high}", 'unknown role \'planer\' (did you mean "planner"?)'),
    ("reasoning: {advisor: high}", "roles: planner, implementer, judge"),
    ("reasoning: {planner: max}", "planner must be off, low, medium, high or a token budget, got 'max'"),
    ("reasoning: {planner: on}", "planner must be off, low, medium, high or a token budget, got True"),
    ("reasoning: {judge: -5}", "judge a token budget cannot be negative, got -5"),
    ("reasoning: {judge: 1.5}", "judge must be off, low, medium, high or a token budget, got 1.5"),
    ("reasoning: high", "dictionary"),
])
def test_a_bad_reasoning_value_is_refused_with_its_role_named(text: str, fragment: str) -> None:
    errors = errors_for(text)
    assert [key for key, _ in errors] == ["reasoning"], errors
    assert fragment in errors[0][1], errors


def test_the_server_default_thinks_in_the_planner_not_in_the_implementer() -> None:
    assert load_settings(good_env()).reasoning == DEFAULT_REASONING == {
        "planner": "high", "implementer": "off", "judge": "low"}
    settings = load_settings(good_env(ROUTE_ME_REASONING="planner=medium, judge=8000"))
    assert settings.reasoning == {"planner": "medium", "implementer": "off", "judge": 8000}


@pytest.mark.parametrize(("value", "fragment"), [
    ("planner", "'planner' is not role=level"),
    ("planner=huge", "planner must be off, low, medium, high or a token budget"),
    ("coder=high", "unknown role 'coder'"),
])
def test_a_bad_server_reasoning_names_the_variable(value: str, fragment: str) -> None:
    found = problems(good_env(ROUTE_ME_REASONING=value))
    assert any(p.startswith("ROUTE_ME_REASONING:") and fragment in p for p in found), found


def test_the_repository_overrides_the_server_per_role_and_the_advisor_thinks_like_the_planner() -> None:
    settings = load_settings(good_env(ROUTE_ME_REASONING="planner=low,judge=medium"))
    config = parse_repo_config("reasoning: {planner: 12000}")
    assert reasoning_for("planner", settings=settings, config=config) == Reasoning("budget", 12000)
    assert reasoning_for("advisor", settings=settings, config=config) == Reasoning("budget", 12000)
    assert reasoning_for("judge", settings=settings, config=config) == Reasoning("medium")
    assert reasoning_for("implementer", settings=settings, config=config) == Reasoning("off")
    assert not reasoning_for("implementer", settings=settings, config=config).on


THOUGHT = "The divisor is never checked; read calc/ops.py before planning. " * 20


def thinking_explorer():
    """A thinking planner that reads while it may, then submits; every reply opens with thinking."""
    def respond(body):
        turn = sc.turn_number(body)
        thought = (f"turn {turn}: {THOUGHT}",)
        if any(t["name"] == "read_file" for t in body["tools"]):
            return anthropic_server.tool_reply("read_file", {"path": "calc/ops.py"}, thinking=thought,
                                               usage=Usage(input_tokens=4_000, output_tokens=900))
        return anthropic_server.tool_reply("submit_plan", sc.PLAN, thinking=thought,
                                           usage=Usage(input_tokens=4_000, output_tokens=1_200))
    return respond


async def test_a_thinking_planner_runs_its_whole_tool_loop_and_its_last_turns_without_forcing(
        make_bot, github, anthropic):
    sc.seed(github, config="reasoning: {planner: high}\n")
    anthropic.responder = thinking_explorer()
    bot = await make_bot(ROUTE_ME_REASONING="planner=off,judge=off")  # the repository's `high` wins
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
    await bot.settle()

    bodies = anthropic.message_bodies
    # Reads while it may; the first submit_plan-only turn submits (a refused request would stop it).
    assert len(bodies) == PLANNER_MAX_TURNS - 1
    # The default strong model thinks adaptively (tests/test_claude_thinking.py): effort high.
    assert all(body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "high"}
               for body in bodies)
    # Every earlier assistant turn goes back opening with the very block it was sent with.
    last = bodies[-1]["messages"]
    assistant = [m for m in last if m["role"] == "assistant"]
    assert len(assistant) == len(bodies) - 1 > 5
    for turn, message in enumerate(assistant):
        text = f"turn {turn}: {THOUGHT}"
        assert message["content"][0] == {"type": "thinking", "thinking": text,
                                         "signature": anthropic_server._signature("thinking", text)}
    # The last turns offer only submit_plan, and never force it (the API refuses that with thinking).
    assert [[t["name"] for t in b["tools"]] for b in bodies[-2:]] == [
        ["list_files", "read_file", "search", "submit_plan"], ["submit_plan"]]
    assert all(b["tool_choice"] == {"type": "auto"} for b in bodies)
    assert "used your turns for reading" in json.dumps(bodies[-1]["messages"])

    rows = [r for r in bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}") if r["stage"] == "plan"]
    assert len(rows) == len(bodies) and {r["reasoning"] for r in rows} == {"high"}
    assert all(0 < r["usage"]["reasoning_tokens"] <= r["usage"]["output_tokens"] for r in rows)
    body = sc.plan_comment(github)["body"]
    assert "Guard the divisor" in body
    assert "(reasoning: high)" in body  # the plan names the level that wrote it


def test_the_cost_table_shows_the_thinking_inside_the_output_and_the_level_beside_the_model() -> None:
    usage = Usage(input_tokens=4_000, output_tokens=2_000, reasoning_tokens=1_500)
    table = costs_table([StageCost(stage="plan", models=("anthropic:claude-opus-4-1 (reasoning: high)",),
                                   usage=usage, usd=0.21)])
    assert "| plan | `anthropic:claude-opus-4-1` (reasoning: high) |" in table
    assert "| 4.0k | 2.0k (thinking 1.5k) |" in table
