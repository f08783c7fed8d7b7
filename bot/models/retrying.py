"""When to call the same model again, and how long to wait first: ``RetryPolicy`` and ``Retrying``."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.models.errors import (
    AuthFailed,
    BadRequest,
    BudgetExceeded,
    ModelError,
    PriceUnknown,
    ProviderUnavailable,
    RateLimited,
    Refused,
    Skipped,
    SpendLimited,
    StreamDropped,
    ToolCallRejected,
)
from bot.models.model import CallInfo, Model, Served, WrapperModel
from bot.models.port import ModelRequest

log = logging.getLogger(__name__)

# Errors that no retry (nor another model) can fix: the key, the bill, the request or the budget.
STOP = (AuthFailed, SpendLimited, BadRequest, BudgetExceeded, PriceUnknown)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one model (SPEC 7: backoff honouring ``retry-after``)."""

    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    """A wait asked for beyond this is worse than another model (or a clear failure)."""

    def delay(self, error: ModelError, attempt: int, *, has_next: bool, rng: random.Random) -> float | None:
        """Seconds to wait before retrying the same model after ``attempt`` calls, or None to move on."""
        if isinstance(error, ToolCallRejected):
            return 0.0 if attempt < 2 else None  # another sample usually calls the tool right
        wait = error.retry_after
        if wait is not None and wait > self.retry_after_cap:
            return None
        if isinstance(error, StreamDropped):
            # It was answering: one more try on the same model, then the next one.
            return None if has_next and attempt >= 2 else self.backoff(attempt, rng)
        if isinstance(error, RateLimited) and wait is None and has_next:
            return None  # no hint when the limit lifts: another model can answer now
        if isinstance(error, ProviderUnavailable) and has_next:
            return None  # 5xx/timeout: the next model is a better bet than the same one
        if wait is not None:
            return wait
        return self.backoff(attempt, rng)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter: up to base·2^(attempt-1), at least half of it."""
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return backoff * rng.uniform(0.5, 1.0)


class Retrying(WrapperModel):
    """Calls the model again after an error another call may not repeat (an overload, a dropped
    stream, a short rate limit), waiting as ``policy`` says; gives up by raising the last error
    with ``attempts`` set.  Never retries a stop error, a refusal (it would be refused again), a
    skipped model, nor a model whose breaker opened."""

    def __init__(self, inner: Model, *, policy: RetryPolicy, sleep: Callable[[float], Awaitable[None]],
                 rng: random.Random) -> None:
        super().__init__(inner)
        self.policy = policy
        self._sleep = sleep
        self._rng = rng

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        attempt = 0
        previous: ModelError | None = None
        while True:
            attempt += 1
            try:
                return await self.inner.complete(request, call=call)
            except Skipped:
                # Opened by other calls while this one waited: report what this one saw.
                if previous is not None:
                    raise previous from None
                raise
            except (*STOP, Refused):
                raise
            except ModelError as error:
                error.attempts = attempt
                delay = self.policy.delay(error, attempt, has_next=call.has_fallback, rng=self._rng)
                if delay is None or attempt >= max(1, self.policy.max_attempts) or error.circuit_open:
                    raise
                log.info("retrying %s in %.1fs after %s", self.spec, delay, type(error).__name__)
                previous = error
                await self._sleep(delay)
