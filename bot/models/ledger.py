"""The cost ledger's entry type (one row per model attempt) and pure totals over entries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.core.usage import Usage


@dataclass(frozen=True)
class CallContext:
    """Who a model call is for, so the ledger can total by installation, repo, issue and stage."""

    installation_id: int | None
    repo: str
    issue: int | None
    stage: str


@dataclass(frozen=True)
class LedgerEntry:
    """One model attempt, ok or failed.  ``model`` is the spec that served or was attempted;
    ``outcome`` is "ok" or the error class name; costs are None when the price is unknown."""

    at: float
    installation_id: int | None
    repo: str
    issue: int | None
    stage: str
    requested_model: str
    model: str
    usage: Usage
    cost_usd: float | None
    strong_cost_usd: float | None
    latency_ms: int
    outcome: str
    fallback_reason: str | None
    reasoning: str | None = None
    """The reasoning level the call ran with ("off", "high", "8000 tokens"); None on older rows."""


@dataclass(frozen=True)
class LedgerTotal:
    """Totals for one key.  ``cost_usd`` and ``strong_cost_usd`` sum the same calls, those whose
    actual and all-strong costs are both known, so the two compare fairly; ``unpriced_calls``
    counts the calls left out of both, so an unknown price shows as such instead of as zero."""

    key: str
    calls: int
    usage: Usage
    cost_usd: float
    strong_cost_usd: float
    unpriced_calls: int


def is_priced(entry: LedgerEntry) -> bool:
    """Whether both the entry's actual and all-strong costs are known (it can enter a comparison)."""
    return entry.cost_usd is not None and entry.strong_cost_usd is not None


def _key(entry: LedgerEntry, by: str) -> str:
    if by == "repo":
        return entry.repo
    if by == "issue":
        return f"{entry.repo}#{entry.issue}" if entry.issue is not None else entry.repo
    if by == "stage":
        return entry.stage
    if by == "model":
        return entry.model
    raise ValueError(f"cannot summarize by {by!r}: use repo, issue, stage or model")


def summarize(
    entries: Iterable[LedgerEntry], *, by: Literal["repo", "issue", "stage", "model"]
) -> list[LedgerTotal]:
    """Totals per key, sorted by key."""
    if by not in ("repo", "issue", "stage", "model"):
        raise ValueError(f"cannot summarize by {by!r}: use repo, issue, stage or model")
    groups: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        groups.setdefault(_key(entry, by), []).append(entry)
    totals: list[LedgerTotal] = []
    for key in sorted(groups):
        rows = groups[key]
        usage = Usage()
        for row in rows:
            usage = usage + row.usage
        priced = [r for r in rows if is_priced(r)]
        totals.append(
            LedgerTotal(
                key=key,
                calls=len(rows),
                usage=usage,
                cost_usd=sum(r.cost_usd or 0.0 for r in priced),
                strong_cost_usd=sum(r.strong_cost_usd or 0.0 for r in priced),
                unpriced_calls=len(rows) - len(priced),
            )
        )
    return totals
