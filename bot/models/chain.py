"""Which fallbacks a call may use (pure): order, de-duplication, and keeping strong roles strong."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.core.costs import PriceTable
from bot.models.port import ModelSpec


def fallback_chain(
    primary: ModelSpec, candidates: Sequence[ModelSpec], *, exclude: Collection[ModelSpec] = ()
) -> list[ModelSpec]:
    """The fallbacks to try after ``primary``, in order, without duplicates, the primary or excluded specs."""
    chain: list[ModelSpec] = []
    for spec in candidates:
        if spec != primary and spec not in exclude and spec not in chain:
            chain.append(spec)
    return chain


def merged_fallbacks(server: Sequence[str], repo: Sequence[str]) -> tuple[str, ...]:
    """The server's ROUTE_ME_FALLBACKS first, then the repo's own ``fallbacks`` (extra, never a
    replacement: the operator's chain is the one known to be paid for and healthy)."""
    return tuple(dict.fromkeys((*server, *repo)))


def no_cheaper_than(cheap: ModelSpec, candidates: Sequence[ModelSpec], prices: PriceTable) -> list[ModelSpec]:
    """The candidates a strong role may fall back to: not the cheap model under any provider
    (``moonshot:kimi-k2.6`` is ``openai:kimi-k2.6`` served elsewhere), and not a model whose known
    input and output prices are both at or below the cheap model's (a cheap model by another name)."""
    cheap_price = prices.price(cheap)
    allowed: list[ModelSpec] = []
    for spec in candidates:
        if spec.model == cheap.model:
            continue
        price = prices.price(spec)
        if (
            cheap_price is not None
            and price is not None
            and price.input <= cheap_price.input
            and price.output <= cheap_price.output
        ):
            continue
        allowed.append(spec)
    return allowed
