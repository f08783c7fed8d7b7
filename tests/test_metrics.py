"""GET /metrics: counters move with deliveries and a whole flow; the token guards scraping; apps stay apart."""

from __future__ import annotations

import logging

from prometheus_client.parser import text_string_to_metric_families

from tests import scenario as sc
from tests.fakes.deliveries import issue_labeled
from tests.fakes.harness import WEBHOOK_SECRET
from tests.test_plan_stage import label
from tests.test_routing_e2e import SONNET, overloaded_opus_then
from tests.test_score_stage import run_to_review


async def scrape(bot, *, token: str | None = None) -> dict[tuple[str, frozenset], float]:
    """Every sample as {(name, labels): value}, parsed by prometheus-client's own parser."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await bot.client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_delivery_counters_move_by_event_and_outcome(make_bot, github, caplog):
    sc.seed(github)
    bot = await make_bot()
    before = await scrape(bot)
    assert total(before, "route_me_deliveries_total") == 0
    await bot.send("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="bug"),
                   delivery_id="same-one")
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="bug"),
                   delivery_id="same-one")
    caplog.set_level(logging.WARNING, logger="bot.webhook")
    refused = await bot.send("issues", {"action": "opened"}, delivery_id="wrong-secret-7", secret="not the secret")
    assert refused.status == 401
    await bot.settle()
    after = await scrape(bot)
    assert value(after, "route_me_deliveries_total", event="ping", outcome="pong") == 1
    assert value(after, "route_me_deliveries_total", event="issues", outcome="duplicate") == 1
    assert value(after, "route_me_deliveries_total", event="-", outcome="unauthorized") == 1
    # the first label delivery became a job (or was skipped as another label: either way counted once)
    assert total(after, "route_me_deliveries_total", event="issues") == 2
    assert value(after, "route_me_queue_depth") == 0
    # the 401 is in the log with the delivery id and the signature's shape, never its value
    refusal = [r.getMessage() for r in caplog.records if "401" in r.getMessage()]
    assert len(refusal) == 1, refusal
    assert "wrong-secret-7" in refusal[0] and "sha256=<64 hex chars>" in refusal[0]
    assert WEBHOOK_SECRET not in refusal[0]


async def test_a_whole_flow_moves_jobs_models_tokens_dollars_github_and_snapshots(make_bot, github, anthropic,
                                                                                  openai):
    bot, pull, reviews = await run_to_review(make_bot, github, anthropic, openai)
    assert reviews
    samples = await scrape(bot)
    assert value(samples, "route_me_deliveries_total", event="issues", outcome="queued") == 1
    assert value(samples, "route_me_deliveries_total", event="issue_comment", outcome="queued") == 1
    # the label job planned; the /approve job implemented and judged (its last stage)
    assert value(samples, "route_me_jobs_total", event="issues", stage="plan", state="completed") == 1
    assert value(samples, "route_me_jobs_total", event="issue_comment", stage="judge", state="completed") == 1
    opus, kimi = "anthropic:claude-opus-5-5", "openai:kimi-k2.6"
    assert value(samples, "route_me_model_calls_total", model=opus, role="plan", outcome="ok") >= 1
    assert value(samples, "route_me_model_calls_total", model=opus, role="judge", outcome="ok") == 1
    implement_calls = value(samples, "route_me_model_calls_total", model=kimi, role="implement", outcome="ok")
    assert implement_calls == len(sc.IMPLEMENTER_TURNS)
    # tokens and dollars equal what the ledger holds
    rows = bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}")
    assert total(samples, "route_me_model_tokens_total", kind="input") == sum(r["usage"]["input_tokens"] for r in rows)
    assert total(samples, "route_me_model_tokens_total", kind="output") == sum(
        r["usage"]["output_tokens"] for r in rows)
    dollars = total(samples, "route_me_model_cost_dollars_total")
    assert dollars > 0 and abs(dollars - sum(r["cost_usd"] or 0 for r in rows)) < 1e-9
    assert value(samples, "route_me_model_breaker_open", model=opus) == 0
    # GitHub calls counted as the services counted them; the rate limit is the fake's last answer
    assert total(samples, "route_me_github_requests_total") == bot.services.rest_call_count
    remaining = value(samples, "route_me_github_rate_limit_remaining", resource="core")
    assert 0 < remaining < 5000
    assert value(samples, "route_me_snapshot_cache_entries") >= 1
    assert total(samples, "route_me_model_fallbacks_total") == 0


async def test_a_fallback_is_counted_from_the_requested_to_the_served_model(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = overloaded_opus_then(sc.anthropic_roles())
    bot = await make_bot(ROUTE_ME_FALLBACKS=SONNET)
    await label(bot)
    samples = await scrape(bot)
    opus = "anthropic:claude-opus-5-5"
    assert value(samples, "route_me_model_fallbacks_total", requested=opus, served=SONNET, role="plan") >= 1
    assert value(samples, "route_me_model_calls_total", model=opus, role="plan", outcome="Overloaded") >= 2
    assert value(samples, "route_me_model_calls_total", model=opus, role="plan", outcome="ok") == 0


async def test_the_metrics_token_guards_scraping(make_bot):
    bot = await make_bot(ROUTE_ME_METRICS_TOKEN="scrape-me-please")
    assert (await bot.client.get("/metrics")).status == 401
    wrong = await bot.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-not"})
    assert wrong.status == 401
    assert "route_me_deliveries_total" not in await wrong.text()
    samples = await scrape(bot, token="scrape-me-please")
    assert ("route_me_queue_depth", frozenset()) in samples


async def test_two_apps_in_one_process_count_apart(make_bot):
    first, second = await make_bot(), await make_bot()
    await first.send("ping", {"zen": "Design for failure.", "hook_id": 1})
    assert value(await scrape(first), "route_me_deliveries_total", event="ping", outcome="pong") == 1
    assert value(await scrape(second), "route_me_deliveries_total", event="ping", outcome="pong") == 0
