"""A per-model circuit breaker: stop calling a model that keeps failing, then try it again later."""

from __future__ import annotations

from collections.abc import Callable, Hashable


class CircuitBreaker:
    """Skips a key after ``threshold`` consecutive failures for ``cooldown`` seconds; then lets one
    trial call through (half-open): success closes it, one more failure opens it again."""

    def __init__(self, *, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self._threshold = max(1, threshold)
        self._cooldown = cooldown
        self._clock = clock
        self._failures: dict[Hashable, int] = {}
        self._open_until: dict[Hashable, float] = {}

    def is_open(self, key: Hashable) -> bool:
        until = self._open_until.get(key)
        return until is not None and self._clock() < until

    def allows(self, key: Hashable) -> bool:
        """Whether a call may go through now (moves an expired open breaker to half-open)."""
        if self.is_open(key):
            return False
        if key in self._open_until:
            del self._open_until[key]
            self._failures[key] = self._threshold - 1
        return True

    def record_success(self, key: Hashable) -> None:
        self._failures.pop(key, None)
        self._open_until.pop(key, None)

    def record_failure(self, key: Hashable) -> None:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if count >= self._threshold:
            self._open_until[key] = self._clock() + self._cooldown
