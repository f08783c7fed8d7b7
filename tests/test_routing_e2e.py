"""Routing and economics through the whole bot: fallbacks named in comments, ledger, budgets, `route-me costs`."""

from __future__ import annotations

import pytest

from bot.cli import main as cli_main
from bot.core.markers import find_marker
from bot.core.usage import Usage
from tests import scenario as sc
from tests.fakes import anthropic_server, openai_server
from tests.test_plan_stage import comment, label

SONNET = "anthropic:claude-sonnet-5-5"


def overloaded_opus_then(roles):
    """Opus answers 529 every time; any other Anthropic model plays the roles."""
    def respond(body):
        if body["model"] == "claude-opus-5-5":
            return anthropic_server.failure(529, "overloaded_error", message="Overloaded")
        return roles(body)
    return respond


async def test_overloaded_strong_model_falls_back_and_the_comment_names_it(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = overloaded_opus_then(sc.anthropic_roles())
    bot = await make_bot(ROUTE_ME_FALLBACKS=SONNET)
    await label(bot)
    body = sc.plan_comment(github)["body"]
    assert find_marker(body, "plan")["state"] == "planned"
    assert "Fallback" in body and "claude-sonnet-5-5" in body and "overloaded" in body.lower()
    # 529 is retried on the same model first, with waits that were recorded, not slept
    opus_calls = [b for b in anthropic.message_bodies if b["model"] == "claude-opus-5-5"]
    assert len(opus_calls) >= 2
    assert bot.sleep.waits


async def test_planner_never_falls_back_to_the_cheap_model_unless_allowed(make_bot, github, anthropic, openai):
    sc.seed(github)
    anthropic.responder = overloaded_opus_then(sc.anthropic_roles())
    openai.responder = lambda body: openai_server.tool_reply("submit_plan", sc.PLAN)
    bot = await make_bot(ROUTE_ME_FALLBACKS="openai:kimi-k2.6")
    await label(bot)
    assert openai.calls == 0
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "plan stage failed" in failure and "/retry" in failure


async def test_allowed_cheap_planner_fallback(make_bot, github, anthropic, openai):
    sc.seed(github, config="allow_cheap_planner_fallback: true\n")
    anthropic.responder = overloaded_opus_then(sc.anthropic_roles())
    openai.responder = lambda body: openai_server.tool_reply("submit_plan", sc.PLAN)
    bot = await make_bot(ROUTE_ME_FALLBACKS="openai:kimi-k2.6")
    await label(bot)
    body = sc.plan_comment(github)["body"]
    assert openai.calls == 1 and "kimi-k2.6" in body and "Fallback" in body


async def test_rate_limit_retry_after_is_honoured(make_bot, github, anthropic):
    sc.seed(github)
    roles = sc.anthropic_roles()
    anthropic.fail(429, "rate_limit_error", retry_after=7)
    anthropic.responder = None
    bot = await make_bot()
    anthropic.responder = lambda body: None if anthropic.queue else roles(body)
    await label(bot)
    assert 7.0 in bot.sleep.waits
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "planned"


async def test_budget_stop_comments_and_makes_no_model_call(make_bot, github, anthropic):
    sc.seed(github, config="budget_usd: 0.0001\n")
    anthropic.responder = sc.anthropic_roles()
    bot = await make_bot()
    await label(bot)
    assert anthropic.calls == 0
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "budget_usd" in failure and "No call was made" in failure


async def test_authentication_error_stops_at_once(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = lambda body: anthropic_server.failure(401, "authentication_error")
    bot = await make_bot(ROUTE_ME_FALLBACKS=SONNET)
    await label(bot)
    assert anthropic.calls == 1  # neither retried nor sent to a fallback
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "refused our credentials" in failure


async def test_ledger_totals_equal_the_providers_usage_and_costs_prints_them(start_planned, capsys):
    bot = await start_planned()
    await comment(bot, "/approve")
    rows = bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}")
    total = Usage()
    for row in rows:
        total = total + Usage(**row["usage"])
    expected = (sc.PLANNER_USAGE + sc.JUDGE_USAGE)
    for _ in sc.IMPLEMENTER_TURNS:
        expected = expected + sc.IMPLEMENTER_USAGE
    assert total == expected
    assert {row["stage"] for row in rows} == {"plan", "implement", "judge"}
    assert all(row["cost_usd"] is not None and row["cost_usd"] > 0 for row in rows)

    assert cli_main(["costs", "--db", bot.env["ROUTE_ME_DB"], "--by", "stage"]) == 0
    out = capsys.readouterr().out
    spent = sum(row["cost_usd"] for row in rows)
    strong = sum(row["strong_cost_usd"] for row in rows)
    assert f"${spent:,.4f}" in out and f"${strong:,.4f}" in out
    assert "implement" in out and f"{sc.IMPLEMENTER_USAGE.input_tokens * len(sc.IMPLEMENTER_TURNS):,}" in out
    # the cheap implementer makes the run cheaper than all-strong
    assert spent < strong


async def test_daily_budget_per_installation_stops_the_call(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    bot = await make_bot(ROUTE_ME_DAILY_BUDGET_USD="0.0001")
    await label(bot)
    assert anthropic.calls == 0
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "daily budget" in failure


async def test_operator_price_overrides_reach_the_ledger(make_bot, github, anthropic, tmp_path):
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    prices = tmp_path / "prices.json"
    prices.write_text('{"claude-opus-5-5": {"input": 100, "output": 0, "cache_write": 0, "cache_read": 0,'
                      ' "source": "negotiated", "as_of": "2026-11-01"}}')
    bot = await make_bot(ROUTE_ME_PRICES=str(prices))
    await label(bot)
    row = bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}")[0]
    assert row["cost_usd"] == pytest.approx(sc.PLANNER_USAGE.input_tokens * 100 / 1_000_000)


async def test_an_empty_or_chatty_reply_gets_a_nudge_and_the_plan_still_arrives(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.reply(anthropic_server.text_reply(""))
    anthropic.reply(anthropic_server.text_reply("Let me think about this issue first."))
    bot = await make_bot()
    roles = sc.anthropic_roles()
    anthropic.responder = lambda body: None if anthropic.queue else roles(body)
    await label(bot)
    third = anthropic.message_bodies[2]["messages"]
    assert [m["role"] for m in third] == ["user", "user", "assistant", "user"]
    assert all(m["content"] for m in third)  # no empty turn was sent back
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "planned"


async def test_a_repo_choosing_an_unpriced_model_cannot_escape_the_daily_cap(make_bot, github, anthropic):
    sc.seed(github, config="strong: anthropic:claude-unpriced-9\n")
    anthropic.responder = sc.anthropic_roles()
    bot = await make_bot(ROUTE_ME_DAILY_BUDGET_USD="50")
    await label(bot)
    assert anthropic.calls == 0
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "anthropic:claude-unpriced-9" in failure and "ROUTE_ME_PRICES" in failure
    assert "has no known price" in failure and "An operator must add its price" in failure
    assert bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}") == []


async def test_repo_fallbacks_are_tried_after_the_server_chain_not_instead(make_bot, github, anthropic):
    sc.seed(github, config="fallbacks: [anthropic:claude-haiku-4-5]\n")
    roles = sc.anthropic_roles()

    def respond(body):
        if body["model"] in ("claude-opus-5-5", "claude-sonnet-5-5"):
            return anthropic_server.failure(529, "overloaded_error", message="Overloaded")
        return roles(body)

    anthropic.responder = respond
    bot = await make_bot(ROUTE_ME_FALLBACKS=SONNET)
    await label(bot)
    tried = list(dict.fromkeys(b["model"] for b in anthropic.message_bodies))
    assert tried == ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-4-5"]
    body = sc.plan_comment(github)["body"]
    assert find_marker(body, "plan")["state"] == "planned" and "claude-haiku-4-5" in body


async def test_a_strong_planner_skips_the_cheap_model_under_another_provider_and_cheaper_ones(
        make_bot, github, anthropic, openai):
    sc.seed(github)
    anthropic.responder = overloaded_opus_then(sc.anthropic_roles())
    openai.responder = lambda body: openai_server.tool_reply("submit_plan", sc.PLAN)
    bot = await make_bot(ROUTE_ME_FALLBACKS="moonshot:kimi-k2.6,openai:gpt-4.1-mini",
                         ROUTE_ME_PROVIDER_MOONSHOT_BASE_URL=openai.base_url,
                         ROUTE_ME_PROVIDER_MOONSHOT_API_KEY=openai.api_key)
    await label(bot)
    assert openai.calls == 0  # kimi-k2.6 is the cheap model at moonshot; gpt-4.1-mini costs less than it
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "plan stage failed" in failure
