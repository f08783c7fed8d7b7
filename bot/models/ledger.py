"""The cost ledger: its entry type (one row per model attempt), pure totals over entries, and
``Ledgered``, the model layer that writes a row for every call."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from bot.core.costs import PriceTable
from bot.core.usage import Usage
from bot.models.errors import ModelError, Refused
from bot.models.model import CallInfo, Model, Served, WrapperModel
from bot.models.port import ModelRequest, ModelSpec

log = logging.getLogger(__name__)


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


LedgerSink = Callable[[LedgerEntry], Awaitable[None]]


class Ledgered(WrapperModel):
    """Writes one ledger row per call to the model it wraps, answered or failed, with who it was
    for (``CallInfo.context``), the model asked for and why a fallback served.  A failed call is
    a row of zero usage; a refusal is a row of what it was billed.  A ledger that cannot be
    written is logged, never raised: a reply already paid for must not be lost."""

    def __init__(self, inner: Model, *, sink: LedgerSink, prices: PriceTable, strong: ModelSpec,
                 clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        super().__init__(inner)
        self._sink = sink
        self._prices = prices
        self._strong = strong
        self._clock = clock
        self._wall_clock = wall_clock

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        started = self._clock()
        try:
            served = await self.inner.complete(request, call=call)
        except Refused as refused:
            await self._record(call, started=started, outcome="Refused", usage=refused.usage,
                               reasoning=refused.reasoning_level or None)
            raise
        except ModelError as error:
            await self._record(call, started=started, outcome=type(error).__name__, usage=Usage())
            raise
        await self._record(call, started=started, outcome="ok", usage=served.usage,
                           reasoning=served.reply.reasoning_level or None,
                           costs=(served.cost_usd, served.strong_cost_usd))
        return served

    async def _record(self, call: CallInfo, *, started: float, outcome: str, usage: Usage,
                      reasoning: str | None = None,
                      costs: tuple[float | None, float | None] | None = None) -> None:
        spec = self.spec
        cost, strong_cost = costs or (self._prices.cost(spec, usage), self._prices.cost(self._strong, usage))
        context = call.context
        entry = LedgerEntry(
            at=self._wall_clock(),
            installation_id=context.installation_id,
            repo=context.repo,
            issue=context.issue,
            stage=context.stage,
            requested_model=str(call.requested or spec),
            model=str(spec),
            usage=usage,
            cost_usd=cost,
            strong_cost_usd=strong_cost,
            latency_ms=max(0, int((self._clock() - started) * 1000)),
            outcome=outcome,
            fallback_reason=call.fallback_reason,
            reasoning=reasoning,
        )
        try:
            await self._sink(entry)
        except Exception:  # a broken ledger must not lose a reply we already paid for
            log.exception("could not write a ledger entry for %s", spec)
