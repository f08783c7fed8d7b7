"""Where the model layers are composed, in one visible order.

A role's model is ``Fallback`` over its chain (the role's model, then the fallbacks); each model
in the chain is, from the outside in::

    Retrying         call again after an overload, a dropped stream, a short rate limit
    CircuitBreaking  skip a model that failed repeatedly in the last minute (before any budget check)
    Budgeted         stop before a call over budget; reserve its worst case; charge what it cost
    Ledgered         one ledger row per call, answered, refused or failed
    ClientModel      the provider's wire format (``ModelClient``), the reply priced

So every retry is admitted, reserved and ledgered as the call it is, the breaker sees every
attempt, and a model whose provider has no client is ``Unconfigured`` (skipped, nothing else).
The stack owns what every call of the process shares: the breaker and the budget gate.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from bot.core.costs import PriceTable
from bot.models.breaker import CircuitBreaker, CircuitBreaking
from bot.models.budget import Budgeted, BudgetGate
from bot.models.chain import fallback_chain
from bot.models.fallback import Fallback
from bot.models.ledger import Ledgered, LedgerSink
from bot.models.model import ClientModel, Model, Unconfigured
from bot.models.port import ModelClient, ModelSpec
from bot.models.retrying import Retrying, RetryPolicy


async def _no_ledger(entry: object) -> None:
    return None


class ModelStack:
    """Builds the ``Model`` a role calls; holds the state its layers share across calls."""

    def __init__(
        self,
        *,
        clients: Mapping[str, ModelClient],
        prices: PriceTable,
        strong: ModelSpec,
        ledger: LedgerSink | None = None,
        retry: RetryPolicy = RetryPolicy(),
        breaker: CircuitBreaker | None = None,
        budget_gate: BudgetGate | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.clients = clients
        self.prices = prices
        self.strong = strong
        self.ledger = ledger or _no_ledger
        self.retry = retry
        self.breaker = breaker or CircuitBreaker(threshold=3, cooldown=60.0, clock=clock)
        self.budget_gate = budget_gate or BudgetGate()
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.rng = rng or random.Random()

    def model(self, spec: ModelSpec, fallbacks: Sequence[ModelSpec] = ()) -> Model:
        """``spec``, then each of ``fallbacks`` (in order, without repeats), every one fully wrapped."""
        chain = [spec, *fallback_chain(spec, fallbacks)]
        return Fallback([self.single(each) for each in chain], retry_after_cap=self.retry.retry_after_cap)

    def single(self, spec: ModelSpec) -> Model:
        """One model with every layer but the fallback, in the order the module docstring shows."""
        client = self.clients.get(spec.provider)
        if client is None:
            return Unconfigured(spec)
        leaf = ClientModel(client, spec, prices=self.prices, strong=self.strong)
        ledgered = Ledgered(leaf, sink=self.ledger, prices=self.prices, strong=self.strong,
                            clock=self.clock, wall_clock=self.wall_clock)
        budgeted = Budgeted(ledgered, gate=self.budget_gate, prices=self.prices)
        breaking = CircuitBreaking(budgeted, breaker=self.breaker)
        return Retrying(breaking, policy=self.retry, sleep=self.sleep, rng=self.rng)
