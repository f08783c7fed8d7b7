"""Spending limits for model calls: the worst-case check before a call (``Budgeted``, the model
layer), and in-process reservations so concurrent jobs cannot together overshoot a limit they share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.core.costs import PriceTable, usage_cost
from bot.core.usage import Usage
from bot.models.errors import BudgetExceeded, ModelError, PriceUnknown, Refused
from bot.models.model import CallInfo, Model, Served, WrapperModel
from bot.models.port import ModelRequest, ModelSpec, estimate_tokens, request_text


@dataclass
class Budget:
    """A spending limit (None = unlimited); ``Budgeted`` adds each call's actual cost to ``spent_usd``.

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
    """Check-and-reserve for calls in flight, in this process's memory.  ``admit`` is a
    coroutine (a store-backed gate does I/O) but this one never awaits inside, so on one event
    loop no other call can slip between a check and its reservation; ``Budgeted``
    ``release``s the reservation once the call's ledger row is written."""

    def __init__(self) -> None:
        self._reserved: dict[str, float] = {}

    @staticmethod
    def _key(budget: Budget) -> str:
        return budget.key if budget.key is not None else f"unshared:{id(budget)}"

    def reserved_usd(self, budget: Budget) -> float:
        """Worst-case dollars of calls in flight against ``budget``'s limit."""
        return self._reserved.get(self._key(budget), 0.0)

    async def admit(self, budgets: Sequence[Budget], *, candidate: ModelSpec, estimate_usd: float) -> Reservation:
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

    async def release(self, reservation: Reservation) -> None:
        for key, amount in reservation:
            left = self._reserved.get(key, 0.0) - amount
            if left > 1e-12:
                self._reserved[key] = left
            else:
                self._reserved.pop(key, None)


def charge(budgets: Sequence[Budget], cost_usd: float | None) -> None:
    """Count one billed call against every budget it ran under; an unpriced call is counted apart."""
    for budget in budgets:
        if cost_usd is None:
            budget.unpriced_calls += 1
        else:
            budget.spent_usd += cost_usd


class Budgeted(WrapperModel):
    """Stops before a call whose worst case (all input at full price, ``max_tokens`` of output) is
    over one of the call's budgets, or whose cost cannot be known while one is set: a model
    without a price would escape every limit.  Otherwise reserves that worst case in ``gate``
    until the call ends, so concurrent calls see it, then charges what the call cost (a refusal
    was billed all the same).  ``gate`` is shared by every call of the process (a
    ``StoreBudgetGate``: by every instance sharing the store)."""

    def __init__(self, inner: Model, *, gate: BudgetGate, prices: PriceTable) -> None:
        super().__init__(inner)
        self.gate = gate
        self._prices = prices

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        gate = self.gate
        reservation = await self._admit(request, gate=gate, budgets=call.budgets)
        try:
            served = await self.inner.complete(request, call=call)
        except Refused as refused:
            await gate.release(reservation)
            charge(call.budgets, refused.cost_usd)
            raise
        except BaseException:
            # Shielded: a job cancelled (again) while its reservation is being released still
            # releases it, instead of holding budget until the reservation's TTL.
            await asyncio.shield(gate.release(reservation))
            raise
        # The ledger row (written below this layer) is in the store by now, so a check that
        # refreshes from the ledger sees the call as spent once it is no longer held.
        await gate.release(reservation)
        charge(call.budgets, served.cost_usd)
        return served

    async def _admit(self, request: ModelRequest, *, gate: BudgetGate, budgets: Sequence[Budget]) -> Reservation:
        limited = [b for b in budgets if b.limit_usd is not None]
        if not limited:
            return []
        spec = self.spec
        price = self._prices.price(spec)
        if price is None:
            raise PriceUnknown(
                f"{spec} has no known price, so the {limited[0].name} cannot be enforced and no call "
                f"was made. Add its price in USD per million tokens to the JSON file named by ROUTE_ME_PRICES, "
                f'e.g. {{"{spec}": {{"input": 1.0, "output": 4.0}}}}, or choose a priced model',
                provider=spec.provider,
                model=spec.model,
                budget_name=limited[0].name,
            )
        try:
            tokens = await self.inner.count_input_tokens(request)
        except ModelError:
            tokens = estimate_tokens(request_text(request))
        estimate = usage_cost(price, Usage(input_tokens=tokens, output_tokens=request.max_tokens))
        # The check and the reservation are one step inside the gate (one transaction in the store).
        return await gate.admit(limited, candidate=spec, estimate_usd=estimate)
