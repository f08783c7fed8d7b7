"""Budget reservations kept in the store, so instances sharing one database share each limit.

``BudgetGate`` holds in-flight reservations in one process's memory: two instances would each
see only their own calls and could overshoot a daily cap together.  ``StoreBudgetGate`` makes
the check and the reservation one store transaction that excludes every other reservation and
release (in any process), reading the ledger inside it; a release happens after the call's
ledger row is written, so a check always sees a call either as held or as spent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from bot.models.budget import Budget, BudgetGate, Reservation
from bot.models.port import ModelSpec

T = TypeVar("T")


class ReservationStore(Protocol):
    """The part of ``bot.store.Store`` this gate uses."""

    async def off_loop(self, call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    def reserve_budget(self, amounts: Sequence[tuple[str, float]], *, owner: str, ttl_seconds: float,
                       check: Callable[[dict[str, float]], None]) -> list[int]: ...
    def release_budget(self, reservation_ids: Sequence[int]) -> None: ...


class StoreBudgetGate(BudgetGate):
    """A ``BudgetGate`` whose reservations live in the store (entries are ``(str(row id), amount)``)."""

    def __init__(self, store: ReservationStore, *, owner: str, ttl_seconds: float) -> None:
        super().__init__()
        self._store = store
        self._owner = owner
        # A process that dies mid-call never releases: its reservation stops counting after this.
        self._ttl = ttl_seconds

    async def admit(self, budgets: Sequence[Budget], *, candidate: ModelSpec, estimate_usd: float) -> Reservation:
        limited = [b for b in budgets if b.limit_usd is not None]
        if not limited:
            return []
        keys = [self._key(budget) for budget in limited]

        def check(held: dict[str, float]) -> None:
            self.check(limited, candidate=candidate, estimate_usd=estimate_usd,
                       in_flight=lambda budget: held.get(self._key(budget), 0.0))

        # On a store thread: the transaction (which reads the ledger and may wait for another
        # instance's reservation) must not hold the event loop; ``check`` is pure.
        ids = await self._store.off_loop(self._store.reserve_budget, [(key, estimate_usd) for key in keys],
                                         owner=self._owner, ttl_seconds=self._ttl, check=check)
        return [(str(row), estimate_usd) for row in ids]

    def reserved_usd(self, budget: Budget) -> float:
        raise NotImplementedError("reservations are in the store; StoreBudgetGate.admit reads them")

    async def release(self, reservation: Reservation) -> None:
        if reservation:
            await self._store.off_loop(self._store.release_budget, [int(row) for row, _ in reservation])
