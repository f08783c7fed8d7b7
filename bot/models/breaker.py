"""A per-model circuit breaker: stop calling a model that keeps failing, then try it again later;
``CircuitBreaking`` is the model layer that applies it to every call."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from bot.models.errors import CircuitOpen, ModelError, Overloaded, ProviderUnavailable, Refused
from bot.models.model import CallInfo, Model, Served, WrapperModel
from bot.models.port import ModelRequest


class CircuitBreaker:
    """Skips a key after ``threshold`` consecutive failures for ``cooldown`` seconds; then lets
    exactly one trial call through (half-open) while every other caller skips it as if open:
    success closes it, one more failure opens it again.  The caller ``release``s its slot when
    the trial ends without a verdict (a budget stop, a bad request, a cancellation)."""

    def __init__(self, *, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self._threshold = max(1, threshold)
        self._cooldown = cooldown
        self._clock = clock
        self._failures: dict[Hashable, int] = {}
        self._open_until: dict[Hashable, float] = {}
        self._trial: set[Hashable] = set()  # keys whose one half-open trial call is in flight

    def is_open(self, key: Hashable) -> bool:
        until = self._open_until.get(key)
        return until is not None and self._clock() < until

    def allows(self, key: Hashable) -> bool:
        """Whether a call may go through now; the first caller after the cooldown takes the trial slot."""
        if self.is_open(key) or key in self._trial:
            return False
        if key in self._open_until:
            del self._open_until[key]
            self._failures[key] = self._threshold - 1
            self._trial.add(key)
        return True

    def release(self, key: Hashable) -> None:
        """End a call that ``allows`` let through; frees the trial slot if it held it."""
        self._trial.discard(key)

    def record_success(self, key: Hashable) -> None:
        self._failures.pop(key, None)
        self._open_until.pop(key, None)
        self._trial.discard(key)

    def record_failure(self, key: Hashable) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        self._trial.discard(key)
        if count >= self._threshold:
            self._open_until[key] = self._clock() + self._cooldown


# Errors that say the model itself is unhealthy; only these count towards the breaker.  An error
# our own request caused (BadRequest, RequestNotSent, ToolCallRejected) says nothing about it.
UNHEALTHY = (Overloaded, ProviderUnavailable)


class CircuitBreaking(WrapperModel):
    """Skips the model (``CircuitOpen``) while ``breaker`` is open for it; counts its unhealthy
    errors and its answers (a refusal is an answer: the model is up).  An error after which the
    breaker is open is marked ``circuit_open``, so ``Retrying`` does not wait for it again."""

    def __init__(self, inner: Model, *, breaker: CircuitBreaker) -> None:
        super().__init__(inner)
        self.breaker = breaker

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        spec = self.spec
        if not self.breaker.allows(spec):
            raise CircuitOpen(f"`{spec}` was skipped: it failed repeatedly in the last minute",
                              provider=spec.provider, model=spec.model)
        try:
            served = await self.inner.complete(request, call=call)
        except Refused:
            self.breaker.record_success(spec)
            raise
        except ModelError as error:
            if isinstance(error, UNHEALTHY):
                self.breaker.record_failure(spec)
            error.circuit_open = self.breaker.is_open(spec)
            raise
        finally:
            # A half-open trial that ended without a verdict must not keep the model skipped.
            self.breaker.release(spec)
        self.breaker.record_success(spec)
        return served
