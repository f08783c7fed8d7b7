"""Spending limits for model calls: the worst-case check before a call, and in-process
reservations so concurrent jobs cannot together overshoot a limit they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.models.errors import BudgetExceeded
from bot.models.port import ModelSpec


@dataclass
class Budget:
    """A spending limit (None = unlimited); the router adds each call's actual cost to ``spent_usd``.

    ``unpriced_calls`` counts calls in the budget's window whose cost is unknown: they are not in
    ``spent_usd``, and never silently counted as $0 (no new ones happen while a limit is set).
    ``key`` names the limit shared by every job that builds this budget (the daily cap of one
    installation, one issue's budget_usd); ``refresh`` reads the current spending from the
    ledger, so calls other jobs finished since this budget was built are counted.
    """

    name: str
    limit_usd: float | None
    spent_usd: float = 0.0
    unpriced_calls: int = 0
    key: str | None = None
    refresh: Callable[[], float] | None = field(default=None, repr=False, compare=False)


Reservation = list[tuple[str, float]]


class BudgetGate:
    """Check-and-reserve for calls in flight.  ``admit`` does no I/O and never awaits, so on one
    event loop no other call can slip between a check and its reservation; the router
    ``release``s the reservation once the call's ledger row is written."""

    def __init__(self) -> None:
        self._reserved: dict[str, float] = {}

    @staticmethod
    def _key(budget: Budget) -> str:
        return budget.key if budget.key is not None else f"unshared:{id(budget)}"

    def reserved_usd(self, budget: Budget) -> float:
        """Worst-case dollars of calls in flight against ``budget``'s limit."""
        return self._reserved.get(self._key(budget), 0.0)

    def admit(self, budgets: Sequence[Budget], *, candidate: ModelSpec, estimate_usd: float) -> Reservation:
        """Reserve ``estimate_usd`` on every limited budget, or raise BudgetExceeded reserving nothing."""
        limited = [b for b in budgets if b.limit_usd is not None]
        self.check(limited, candidate=candidate, estimate_usd=estimate_usd, in_flight=self.reserved_usd)
        reservation = [(self._key(budget), estimate_usd) for budget in limited]
        for key, amount in reservation:
            self._reserved[key] = self._reserved.get(key, 0.0) + amount
        return reservation

    def check(self, limited: Sequence[Budget], *, candidate: ModelSpec, estimate_usd: float,
              in_flight: Callable[[Budget], float]) -> None:
        """Raise BudgetExceeded unless ``estimate_usd`` fits every budget beside what it has spent
        (refreshed from the ledger) and what calls in flight hold (``in_flight``)."""
        for budget in limited:
            if budget.refresh is not None:
                budget.spent_usd = budget.refresh()
            held = in_flight(budget)
            remaining = (budget.limit_usd or 0.0) - budget.spent_usd - held
            if estimate_usd > remaining:
                notes = []
                if held:
                    notes.append(f"${held:.4f} is held by calls in progress")
                if budget.unpriced_calls:
                    notes.append(f"{budget.unpriced_calls} earlier call(s) of unknown cost are not counted")
                detail = f" ({'; '.join(notes)})" if notes else ""
                raise BudgetExceeded(
                    f"the {budget.name} budget has ${max(remaining, 0.0):.4f} left{detail}, and the next call "
                    f"to {candidate} could cost up to ${estimate_usd:.4f}",
                    provider=candidate.provider,
                    model=candidate.model,
                    estimated_usd=estimate_usd,
                    remaining_usd=remaining,
                    budget_name=budget.name,
                )

    def release(self, reservation: Reservation) -> None:
        for key, amount in reservation:
            left = self._reserved.get(key, 0.0) - amount
            if left > 1e-12:
                self._reserved[key] = left
            else:
                self._reserved.pop(key, None)
