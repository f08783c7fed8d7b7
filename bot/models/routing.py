"""When to retry, when to fall back to another model, when to stop: the router over all model clients."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.core.costs import PriceTable, usage_cost
from bot.core.usage import Usage
from bot.models.breaker import CircuitBreaker  # also importable from here, as before
from bot.models.budget import Budget, BudgetGate, Reservation  # Budget also importable from here
from bot.models.chain import fallback_chain  # also importable from here, as before
from bot.models.errors import (
    AllModelsFailed,
    AuthFailed,
    BadRequest,
    ModelError,
    Overloaded,
    PriceUnknown,
    ProviderUnavailable,
    RateLimited,
    Refused,
    SpendLimited,
    StreamDropped,
    ToolCallRejected,
)
from bot.models.ledger import CallContext, LedgerEntry
from bot.models.port import (
    STOP_REFUSAL,
    ModelClient,
    ModelReply,
    ModelRequest,
    ModelSpec,
    estimate_tokens,
    request_text,
)

log = logging.getLogger(__name__)

# Errors that no retry or other model can fix: the key, the bill or the request is wrong.
_STOP = (AuthFailed, SpendLimited, BadRequest)
# Errors that say the model itself is unhealthy; only these count towards the breaker.
_UNHEALTHY = (Overloaded, ProviderUnavailable)


@dataclass(frozen=True)
class RoutedReply:
    """A reply plus who served it, why a fallback happened (None if the requested model served) and its cost."""

    reply: ModelReply
    served_by: ModelSpec
    requested: ModelSpec
    fallback_reason: str | None
    usage: Usage
    cost_usd: float | None
    strong_cost_usd: float | None


def _charge(budgets: Sequence[Budget], cost_usd: float | None) -> None:
    """Count one billed call against every budget it ran under; an unpriced call is counted apart."""
    for budget in budgets:
        if cost_usd is None:
            budget.unpriced_calls += 1
        else:
            budget.spent_usd += cost_usd


def _describe(error: ModelError, spec: ModelSpec, attempts: int, *, cap: float) -> str:
    times = f" {attempts} times" if attempts > 1 else ""
    if isinstance(error, Refused):
        return f"`{spec}` refused to answer"
    if isinstance(error, ToolCallRejected):
        return f"`{spec}` sent malformed tool calls{times}"
    if isinstance(error, StreamDropped):
        return f"`{spec}` dropped the connection mid-answer{times}"
    if isinstance(error, Overloaded):
        # An overload reported inside a stream rides on an HTTP 200, which would read as success.
        status = error.status if error.status and error.status >= 400 else 529
        return f"`{spec}` was overloaded ({status}){times}"
    if isinstance(error, RateLimited):
        wait = error.retry_after
        if wait is not None and wait > cap:
            return f"`{spec}` was rate-limited ({error.status or 429}) and asked to wait {wait:.0f}s"
        return f"`{spec}` was rate-limited ({error.status or 429}){times}"
    what = f"HTTP {error.status}" if error.status else "no response"
    return f"`{spec}` was unavailable ({what}){times}"


class ModelRouter:
    """Calls a model with retries, fallbacks, a circuit breaker, budgets and a ledger row per attempt."""

    def __init__(
        self,
        *,
        clients: Mapping[str, ModelClient],
        prices: PriceTable,
        strong: ModelSpec,
        ledger: Callable[[LedgerEntry], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_attempts_per_model: int = 3,
        breaker_threshold: int = 3,
        breaker_cooldown: float = 60.0,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_cap: float = 60.0,
    ) -> None:
        self._clients = clients
        self._prices = prices
        self._strong = strong
        self._ledger = ledger
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_attempts = max(1, max_attempts_per_model)
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._retry_after_cap = retry_after_cap
        self.breaker = CircuitBreaker(threshold=breaker_threshold, cooldown=breaker_cooldown, clock=clock)
        self.budget_gate = BudgetGate()

    async def call(
        self,
        request: ModelRequest,
        *,
        spec: ModelSpec,
        fallbacks: Sequence[ModelSpec] = (),
        context: CallContext,
        budgets: Sequence[Budget] = (),
    ) -> RoutedReply:
        """The first reply along [spec, *fallbacks]; raises BudgetExceeded before an over-budget call,
        AuthFailed/SpendLimited/BadRequest at once, AllModelsFailed when the chain is exhausted."""
        chain = [spec, *fallback_chain(spec, fallbacks)]
        attempts: list[tuple[str, str]] = []
        last_error: ModelError | None = None
        for index, candidate in enumerate(chain):
            client = self._clients.get(candidate.provider)
            if client is None:
                attempts.append((str(candidate), f"provider `{candidate.provider}` is not configured"))
                continue
            if not self.breaker.allows(candidate):
                attempts.append((str(candidate), f"`{candidate}` was skipped: it failed repeatedly in the last minute"))
                continue
            reservation: Reservation = []
            try:
                reservation = await self._admit(request, candidate=candidate, client=client, budgets=budgets)
                outcome = await self._try_model(
                    request,
                    candidate=candidate,
                    client=client,
                    requested=spec,
                    context=context,
                    prior=[reason for _, reason in attempts],
                    has_next=index < len(chain) - 1,
                )
            finally:
                # The ledger row is written by now, so the store's spending includes this call.
                self.budget_gate.release(reservation)
                # A half-open trial that ended without a verdict must not keep the model skipped.
                self.breaker.release(candidate)
            if isinstance(outcome, RoutedReply):
                _charge(budgets, outcome.cost_usd)
                return outcome
            reason, last_error = outcome
            if isinstance(last_error, Refused):
                # A refusal was billed all the same.
                _charge(budgets, last_error.cost_usd)
            attempts.append((str(candidate), reason))
        summary = "; ".join(reason for _, reason in attempts) or "no model to try"
        raise AllModelsFailed(
            f"no model could answer: {summary}",
            provider=spec.provider,
            model=spec.model,
            attempts=attempts,
            last_error=last_error,
        )

    async def _try_model(
        self,
        request: ModelRequest,
        *,
        candidate: ModelSpec,
        client: ModelClient,
        requested: ModelSpec,
        context: CallContext,
        prior: list[str],
        has_next: bool,
    ) -> RoutedReply | tuple[str, ModelError]:
        fallback_reason = "; ".join(prior) or None
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            try:
                reply = await client.complete(request, model=candidate.model)
            except ModelError as error:
                await self._record(
                    context=context,
                    requested=requested,
                    served=candidate,
                    usage=Usage(),
                    started=started,
                    outcome=type(error).__name__,
                    fallback_reason=fallback_reason,
                )
                if isinstance(error, _STOP):
                    raise
                if isinstance(error, _UNHEALTHY):
                    self.breaker.record_failure(candidate)
                delay = self._retry_delay(error, attempt, has_next=has_next)
                if delay is None or attempt >= self._max_attempts or self.breaker.is_open(candidate):
                    return _describe(error, candidate, attempt, cap=self._retry_after_cap), error
                log.info("retrying %s in %.1fs after %s", candidate, delay, type(error).__name__)
                await self._sleep(delay)
                continue
            if reply.stop_reason == STOP_REFUSAL:
                # The model is healthy and was paid; asking it again gets the same refusal.
                self.breaker.record_success(candidate)
                await self._record(context=context, requested=requested, served=candidate, usage=reply.usage,
                                   started=started, outcome="Refused", fallback_reason=fallback_reason,
                                   reasoning=reply.reasoning_level or None)
                refused = Refused(f"{candidate} refused to answer (stop_reason {reply.stop_reason})",
                                  provider=candidate.provider, model=candidate.model)
                refused.cost_usd = self._prices.cost(candidate, reply.usage)
                return _describe(refused, candidate, attempt, cap=self._retry_after_cap), refused
            self.breaker.record_success(candidate)
            cost = self._prices.cost(candidate, reply.usage)
            strong_cost = self._prices.cost(self._strong, reply.usage)
            await self._record(
                context=context,
                requested=requested,
                served=candidate,
                usage=reply.usage,
                started=started,
                outcome="ok",
                fallback_reason=fallback_reason,
                cost=cost,
                strong_cost=strong_cost,
                reasoning=reply.reasoning_level or None,
            )
            return RoutedReply(
                reply=reply,
                served_by=candidate,
                requested=requested,
                fallback_reason=fallback_reason if candidate != requested else None,
                usage=reply.usage,
                cost_usd=cost,
                strong_cost_usd=strong_cost,
            )

    def _retry_delay(self, error: ModelError, attempt: int, *, has_next: bool) -> float | None:
        """Seconds to wait before retrying the same model, or None to move on to the next one."""
        if isinstance(error, ToolCallRejected):
            return 0.0 if attempt < 2 else None  # another sample usually calls the tool right
        wait = error.retry_after
        if wait is not None and wait > self._retry_after_cap:
            return None  # waiting that long is worse than another model (or a clear failure)
        if isinstance(error, StreamDropped):
            # It was answering: one more try on the same model, then the next one.
            return None if has_next and attempt >= 2 else self._backoff(attempt)
        if isinstance(error, RateLimited) and wait is None and has_next:
            return None  # no hint when the limit lifts: another model can answer now
        if isinstance(error, ProviderUnavailable) and has_next:
            return None  # 5xx/timeout: the next model is a better bet than the same one
        if wait is not None:
            return wait
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        backoff = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return backoff * self._rng.uniform(0.5, 1.0)

    async def _admit(
        self, request: ModelRequest, *, candidate: ModelSpec, client: ModelClient, budgets: Sequence[Budget]
    ) -> Reservation:
        """Stop before a call whose worst case (all input at full price, max_tokens of output) is over
        budget, or whose cost cannot be known: a model without a price would escape every limit.
        Otherwise reserve that worst case until the call ends, so concurrent calls see it."""
        limited = [b for b in budgets if b.limit_usd is not None]
        if not limited:
            return []
        price = self._prices.price(candidate)
        if price is None:
            raise PriceUnknown(
                f"{candidate} has no known price, so the {limited[0].name} cannot be enforced and no call "
                f"was made. Add its price in USD per million tokens to the JSON file named by ROUTE_ME_PRICES, "
                f'e.g. {{"{candidate}": {{"input": 1.0, "output": 4.0}}}}, or choose a priced model',
                provider=candidate.provider,
                model=candidate.model,
                budget_name=limited[0].name,
            )
        try:
            tokens = await client.count_input_tokens(request, model=candidate.model)
        except ModelError:
            tokens = estimate_tokens(request_text(request))
        estimate = usage_cost(price, Usage(input_tokens=tokens, output_tokens=request.max_tokens))
        # No await from here to the reservation: the check and the reservation are one step.
        return self.budget_gate.admit(limited, candidate=candidate, estimate_usd=estimate)

    async def _record(
        self,
        *,
        context: CallContext,
        requested: ModelSpec,
        served: ModelSpec,
        usage: Usage,
        started: float,
        outcome: str,
        fallback_reason: str | None,
        cost: float | None = None,
        strong_cost: float | None = None,
        reasoning: str | None = None,
    ) -> None:
        if self._ledger is None:
            return
        if outcome != "ok":
            cost = self._prices.cost(served, usage)
            strong_cost = self._prices.cost(self._strong, usage)
        entry = LedgerEntry(
            at=self._wall_clock(),
            installation_id=context.installation_id,
            repo=context.repo,
            issue=context.issue,
            stage=context.stage,
            requested_model=str(requested),
            model=str(served),
            usage=usage,
            cost_usd=cost,
            strong_cost_usd=strong_cost,
            latency_ms=max(0, int((self._clock() - started) * 1000)),
            outcome=outcome,
            fallback_reason=fallback_reason,
            reasoning=reasoning,
        )
        try:
            await self._ledger(entry)
        except Exception:  # a broken ledger must not lose a reply we already paid for
            log.exception("could not write a ledger entry for %s", served)
