"""Prices, cost arithmetic, split estimates and ledger totals: pure, no network."""

from __future__ import annotations

import json

import pytest

from bot.core.costs import Price, PriceTable, estimate_split_costs, usage_cost
from bot.core.usage import Usage
from bot.costs_report import report
from bot.models.ledger import LedgerEntry, summarize

MILLION = 1_000_000


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load_default()


def test_default_table_has_the_models_we_route_to_with_source_and_date(table: PriceTable) -> None:
    required = [
        "claude-opus-4-5", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5",
        "kimi-k2.6", "kimi-k2-0905-preview", "kimi-k2-thinking", "gpt-4.1", "gpt-5",
    ]
    for model in required:
        price = table.price(model)
        assert price is not None, model
        assert price.source.startswith("https://"), model
        assert len(price.as_of) >= 7, model
        assert min(price.input, price.output, price.cache_write, price.cache_read) >= 0
        assert price.output > price.input, model


def test_cache_tokens_are_priced_at_cache_rates(table: PriceTable) -> None:
    usage = Usage(input_tokens=MILLION, output_tokens=MILLION, cache_write_tokens=MILLION, cache_read_tokens=MILLION)
    assert table.cost("anthropic:claude-opus-4-5", usage) == pytest.approx(5 + 25 + 6.25 + 0.50)
    reads_only = Usage(cache_read_tokens=2 * MILLION)
    assert table.cost("anthropic:claude-opus-4-5", reads_only) == pytest.approx(1.0)
    writes_only = Usage(cache_write_tokens=MILLION)
    assert table.cost("anthropic:claude-sonnet-4-5", writes_only) == pytest.approx(3.75)
    kimi = Usage(input_tokens=MILLION, cache_read_tokens=MILLION, output_tokens=MILLION)
    assert table.cost("moonshot:kimi-k2.6", kimi) == pytest.approx(0.95 + 0.16 + 4.0)


def test_unknown_model_costs_none_never_zero(table: PriceTable) -> None:
    assert table.price("acme:mystery-model-9") is None
    assert table.cost("acme:mystery-model-9", Usage(1000, 1000)) is None
    assert table.cost("acme:mystery-model-9", Usage()) is None
    assert table.cost("anthropic:claude-opus-4-5", Usage()) == 0.0


def test_lookup_prefers_provider_specific_then_bare_then_router_and_date_forms(table: PriceTable) -> None:
    special = Price(input=1, output=2, cache_write=1, cache_read=0.5, source="contract", as_of="2026-01-01")
    custom = table.with_overrides({"openrouter:claude-opus-4-5": special})
    assert custom.price("openrouter:claude-opus-4-5") == special
    assert custom.price("anthropic:claude-opus-4-5") == table.price("claude-opus-4-5")
    assert table.price("openrouter:moonshotai/kimi-k2.6") == table.price("kimi-k2.6")
    assert table.price("anthropic:claude-opus-4-5-20251101") == table.price("claude-opus-4-5")
    assert table.price("ANTHROPIC:claude-haiku-4-5") == table.price("claude-haiku-4-5")


def test_overrides_replace_add_and_leave_the_original_alone(table: PriceTable) -> None:
    custom = table.with_overrides(
        {
            "moonshot:kimi-k2.6": {"input": 0.5, "output": 2.0, "cache_read": 0.1, "source": "our contract", "as_of": "2026-11"},
            "local:llama": {"input": 0, "output": 0},
        }
    )
    price = custom.price("moonshot:kimi-k2.6")
    assert price == Price(input=0.5, output=2.0, cache_write=0.5, cache_read=0.1, source="our contract", as_of="2026-11")
    assert custom.cost("local:llama", Usage(1000, 1000)) == 0.0
    assert table.price("moonshot:kimi-k2.6") != price
    assert table.price("local:llama") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"m": {"input": -1, "output": 1}},
        {"m": {"input": 1}},
        {"m": {"input": 1, "output": 1, "typo": 3}},
        {"m": "cheap"},
        {"": {"input": 1, "output": 1}},
        {"m": {"input": "free", "output": 1}},
    ],
)
def test_bad_overrides_are_refused_with_the_key_named(table: PriceTable, bad: dict) -> None:
    with pytest.raises(ValueError):
        table.with_overrides(bad)


@pytest.mark.parametrize("text", ["[]", "{}", '{"prices": []}', "not json"])
def test_bad_price_files_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        PriceTable.from_json(text)


def test_from_json_round_trip() -> None:
    doc = {"prices": {"x:y": {"input": 1, "output": 2, "cache_write": 3, "cache_read": 4, "source": "s", "as_of": "d"}}}
    table = PriceTable.from_json(json.dumps(doc))
    assert table.keys() == ["x:y"]
    assert usage_cost(table.price("x:y"), Usage(MILLION, MILLION, MILLION, MILLION)) == pytest.approx(10)


def test_split_estimates_pick_planner_then_implementer(table: PriceTable) -> None:
    plan, implement, judge = Usage(MILLION, 0), Usage(0, MILLION), Usage(MILLION, 0)
    result = estimate_split_costs(
        prices=table, strong="anthropic:claude-opus-4-5", cheap="moonshot:kimi-k2.6",
        judge="anthropic:claude-opus-4-5", plan_usage=plan, implement_usage=implement, judge_usage=judge,
    )
    assert set(result) == {"OO", "OK", "KO", "KK"}
    assert result["OO"] == pytest.approx(5 + 25 + 5)
    assert result["OK"] == pytest.approx(5 + 4 + 5)
    assert result["KO"] == pytest.approx(0.95 + 25 + 5)
    assert result["KK"] == pytest.approx(0.95 + 4 + 5)


def test_split_estimate_with_an_unknown_price_is_none_only_where_used(table: PriceTable) -> None:
    result = estimate_split_costs(
        prices=table, strong="anthropic:claude-opus-4-5", cheap="acme:unknown", judge="anthropic:claude-opus-4-5",
        plan_usage=Usage(10, 10), implement_usage=Usage(10, 10), judge_usage=Usage(10, 10),
    )
    assert result["OO"] is not None and result["OO"] > 0
    assert result["OK"] is None and result["KO"] is None and result["KK"] is None


def _entry(**overrides: object) -> LedgerEntry:
    values: dict = dict(
        at=0.0, installation_id=1, repo="o/r", issue=7, stage="plan", requested_model="anthropic:claude-opus-4-5",
        model="anthropic:claude-opus-4-5", usage=Usage(10, 5, 1, 2), cost_usd=0.5, strong_cost_usd=0.5,
        latency_ms=3, outcome="ok", fallback_reason=None,
    )
    values.update(overrides)
    return LedgerEntry(**values)


def test_summarize_totals_per_key_and_counts_unknown_costs() -> None:
    entries = [
        _entry(),
        _entry(stage="implement", model="moonshot:kimi-k2.6", usage=Usage(100, 50), cost_usd=0.1, strong_cost_usd=1.0),
        _entry(stage="implement", model="acme:x", usage=Usage(1, 1), cost_usd=None, strong_cost_usd=0.2),
        _entry(repo="o/other", issue=None, stage="score"),
    ]
    by_stage = {t.key: t for t in summarize(entries, by="stage")}
    assert by_stage["implement"].calls == 2
    assert by_stage["implement"].usage == Usage(101, 51)
    # The unpriced call is left out of both sums, so they compare the same calls.
    assert by_stage["implement"].cost_usd == pytest.approx(0.1)
    assert by_stage["implement"].strong_cost_usd == pytest.approx(1.0)
    assert by_stage["implement"].unpriced_calls == 1
    by_issue = [t.key for t in summarize(entries, by="issue")]
    assert by_issue == ["o/other", "o/r#7"]
    by_model = {t.key: t for t in summarize(entries, by="model")}
    assert by_model["anthropic:claude-opus-4-5"].usage == Usage(20, 10, 2, 4)
    assert summarize([], by="repo") == []
    with pytest.raises(ValueError):
        summarize(entries, by="colour")  # type: ignore[arg-type]


def _row(report_text: str, title: str, key: str) -> list[str]:
    """The cells of ``key``'s row in the "By <title>:" table."""
    section = report_text.split(f"By {title}:\n", 1)[1].split("\n\n", 1)[0]
    for line in section.splitlines()[1:]:
        if line.split()[0] == key:
            return line.split()
    raise AssertionError(f"no row {key!r} in the {title} table:\n{section}")


def test_costs_report_leaves_an_unpriced_call_out_of_both_sums_and_says_so() -> None:
    entries = [
        _entry(cost_usd=1.0, strong_cost_usd=1.0),  # plan on the strong model
        _entry(stage="implement", model="moonshot:kimi-k2.6", cost_usd=0.2, strong_cost_usd=2.0),
        # An unpriced cheap model: its all-strong cost is known, its actual cost is not.
        _entry(stage="implement", model="acme:x", issue=8, cost_usd=None, strong_cost_usd=5.0),
        _entry(repo="o/other", issue=1, stage="judge", cost_usd=0.3, strong_cost_usd=0.3),
    ]
    text = report(entries)
    total = text.splitlines()[-1]
    # Before: all-strong $8.30 against actual $1.50 claimed a $6.80 saving that the unpriced call made up.
    assert total == ("Total: $1.5000 over 3 priced calls; all-strong would have cost $3.3000; "
                     "saving $1.8000 (55%); 1 call(s) have no known price and are left out of both sums")
    repo_row = _row(text, "repo", "o/r")
    assert repo_row[1] == "3" and repo_row[-3:] == ["$1.2000", "$3.0000", "1"]
    assert _row(text, "repo", "o/other")[-3:] == ["$0.3000", "$0.3000", "0"]
    assert _row(text, "issue", "o/r#7")[-3:] == ["$1.2000", "$3.0000", "0"]
    assert _row(text, "issue", "o/r#8")[-3:] == ["$0.0000", "$0.0000", "1"]
    assert _row(text, "model", "acme:x")[-3:] == ["$0.0000", "$0.0000", "1"]
    assert _row(text, "model", "moonshot:kimi-k2.6")[-3:] == ["$0.2000", "$2.0000", "0"]
    assert _row(text, "model", "anthropic:claude-opus-4-5")[1] == "2"
    assert _row(text, "stage", "implement")[-3:] == ["$0.2000", "$2.0000", "1"]


def test_costs_report_by_one_group_and_without_unpriced_calls() -> None:
    text = report([_entry(cost_usd=0.25, strong_cost_usd=1.0)], by="model")
    assert "By repo:" not in text and "By model:" in text
    assert text.splitlines()[-1] == ("Total: $0.2500 over 1 priced calls; all-strong would have cost $1.0000; "
                                     "saving $0.7500 (75%)")
    assert report([]) == "The ledger is empty: no model calls were recorded yet."
