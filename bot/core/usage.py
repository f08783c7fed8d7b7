"""Token usage and per-stage cost: the plain values every stage reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """Tokens of one or more model calls, by kind (cache kinds as Anthropic reports them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    """Of ``output_tokens``, how many were thinking/reasoning: already inside the output count
    (providers bill them as output), kept apart only to show what thinking cost."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_tokens
            + self.cache_read_tokens
        )


@dataclass(frozen=True)
class StageCost:
    """What one stage (plan, implement, judge, …) consumed.

    ``usd`` is None when a model's price is unknown: an unknown cost is never shown as zero.
    ``strong_usd`` is what the same tokens would have cost at the strong model's prices,
    for the saving line; None when that is unknown too.
    """

    stage: str
    models: tuple[str, ...]
    usage: Usage
    usd: float | None
    strong_usd: float | None = None
