"""A fallback to a cheaper model is not a saving: only the split's deliberate cheap roles count."""

from __future__ import annotations

from pathlib import Path

from bot.core.money import saving
from bot.core.usage import Usage
from bot.models.ledger import LedgerEntry
from bot.stages.runtime import ledger_row, stage_costs
from bot.store import open_store


def entry(stage: str, *, requested: str, served: str, cost: float, strong: float) -> LedgerEntry:
    return LedgerEntry(at=1.0, installation_id=1, repo="o/r", issue=7, stage=stage, requested_model=requested,
                       model=served, usage=Usage(input_tokens=1000, output_tokens=100), cost_usd=cost,
                       strong_cost_usd=strong, latency_ms=5, outcome="ok", fallback_reason=None)


def test_a_strong_role_served_by_a_cheaper_fallback_claims_no_saving(tmp_path: Path):
    store = open_store(str(tmp_path / "s.db"))
    # The planner asked for Opus and got Sonnet (overloaded): cheaper, but not by choice.
    store.add_ledger_row(ledger_row(entry("plan", requested="anthropic:opus", served="anthropic:sonnet",
                                          cost=0.30, strong=0.90)))
    # The implementer is cheap by the split's choice: that difference is the saving.
    store.add_ledger_row(ledger_row(entry("implement", requested="openai:kimi", served="openai:kimi",
                                          cost=0.05, strong=0.60)))
    costs = {c.stage: c for c in stage_costs(store, "o/r", 7)}
    assert costs["plan"].strong_usd == costs["plan"].usd == 0.30
    dollars, _ = saving(list(costs.values()))
    assert round(dollars, 2) == 0.55  # the implementer's 0.60 - 0.05 only, not the fallback's 0.60
