"""Budget reservations in the store: two instances (two stores on one database, each with its
own gate) cannot overshoot a shared cap together, on both backends."""

from __future__ import annotations

import time

import pytest

from bot.models.budget import Budget
from bot.models.errors import BudgetExceeded
from bot.models.port import ModelSpec
from bot.models.shared_budget import StoreBudgetGate
from bot.store import open_store

MODEL = ModelSpec.parse("anthropic:claude-opus-5-5")


def daily(store) -> Budget:
    return Budget(name="daily budget for this installation", limit_usd=1.0, key="daily:1",
                  spent_usd=store.spent_usd(installation_id=1),
                  refresh=lambda: store.spent_usd(installation_id=1))


async def test_two_instances_share_one_cap(store_url):
    a, b = open_store(store_url), open_store(store_url)
    try:
        gate_a = StoreBudgetGate(a, owner="a:1", ttl_seconds=60)
        gate_b = StoreBudgetGate(b, owner="b:1", ttl_seconds=60)
        held = await gate_a.admit([daily(a)], candidate=MODEL, estimate_usd=0.6)
        with pytest.raises(BudgetExceeded) as refused:  # alone, b would see $1.00 left
            await gate_b.admit([daily(b)], candidate=MODEL, estimate_usd=0.6)
        assert "$0.6000 is held by calls in progress" in str(refused.value)
        # a's call cost less than its worst case: the ledger row, then the release
        a.add_ledger_row({"at": time.time(), "installation_id": 1, "repo": "o/r", "issue": 7, "stage": "plan",
                          "cost_usd": 0.3})
        await gate_a.release(held)
        assert await gate_b.admit([daily(b)], candidate=MODEL, estimate_usd=0.6)
        with pytest.raises(BudgetExceeded):
            await gate_a.admit([daily(a)], candidate=MODEL, estimate_usd=0.2)
    finally:
        a.close()
        b.close()


async def test_an_unlimited_budget_reserves_nothing(store_url):
    store = open_store(store_url)
    try:
        gate = StoreBudgetGate(store, owner="a:1", ttl_seconds=60)
        assert await gate.admit([Budget(name="none", limit_usd=None)], candidate=MODEL, estimate_usd=5.0) == []
    finally:
        store.close()
