"""Model prices and token cost arithmetic (pure): an unknown model's cost is None, never zero."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.core.usage import Usage

_DATED_SUFFIX = re.compile(r"-\d{8}$")
_PER_MILLION = 1_000_000.0


@dataclass(frozen=True)
class Price:
    """USD per million tokens of each kind, with where and when the figures were read."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    source: str
    as_of: str


class _PriceIn(BaseModel):
    """One price as written in prices.json or an operator override (the file boundary)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    # Providers without a separate cache rate bill cached tokens as ordinary input.
    cache_write: float | None = Field(default=None, ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    source: str = "operator override"
    as_of: str = ""
    note: str = ""

    def to_price(self) -> Price:
        return Price(
            input=self.input,
            output=self.output,
            cache_write=self.input if self.cache_write is None else self.cache_write,
            cache_read=self.input if self.cache_read is None else self.cache_read,
            source=self.source,
            as_of=self.as_of,
        )


def _lookup_keys(spec: str) -> list[str]:
    """Keys to try, most specific first: ``provider:model``, the bare model id, the id after a
    router's vendor prefix (``moonshotai/kimi-k2.6``), and each without a date suffix."""
    text = spec.strip()
    provider, sep, model = text.partition(":")
    keys: list[str] = []
    if sep:
        keys.append(f"{provider.lower()}:{model}")
    else:
        model = text
    keys.append(model)
    if "/" in model:
        keys.append(model.rsplit("/", 1)[1])
    undated = [_DATED_SUFFIX.sub("", k) for k in keys]
    ordered: list[str] = []
    for key in keys + undated:
        if key and key not in ordered:
            ordered.append(key)
    return ordered


class PriceTable:
    """Prices by model key (``provider:model`` or a bare model id)."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices: dict[str, Price] = dict(prices)

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        """Parse the prices.json format: ``{"prices": {key: {input, output, cache_write, cache_read, source, as_of}}}``."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("prices"), dict):
            raise ValueError("a price file must be a JSON object with a 'prices' object")
        return cls({}).with_overrides(data["prices"])

    @classmethod
    def overrides_from_json(cls, text: str) -> dict[str, Price]:
        """An operator's price file (ROUTE_ME_PRICES), in either shape: flat ``{key: price}`` or a
        copy of the shipped prices.json (``{"_about": ..., "prices": {key: price}}``).  Keys
        starting with ``_`` are comments.  Raises ValueError with a one-line reason."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"must be a JSON object of prices, got {type(data).__name__}")
        if "prices" in data:
            data = data["prices"]
            if not isinstance(data, dict):
                raise ValueError("its 'prices' must be an object of prices by model")
        entries = {key: value for key, value in data.items() if not str(key).startswith("_")}
        return PriceTable({}).with_overrides(entries)._prices

    @classmethod
    def load_default(cls) -> PriceTable:
        """The prices shipped in bot/data/prices.json."""
        text = resources.files("bot").joinpath("data/prices.json").read_text(encoding="utf-8")
        return cls.from_json(text)

    def with_overrides(self, mapping: Mapping[str, Price | Mapping[str, Any]]) -> PriceTable:
        """A new table where ``mapping`` replaces or adds prices (an operator's own rates win)."""
        merged = dict(self._prices)
        for key, value in mapping.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"price key must be a model id or 'provider:model', got {key!r}")
            if isinstance(value, Price):
                merged[key.strip()] = value
                continue
            if not isinstance(value, Mapping):
                raise ValueError(f"price for {key!r} must be an object, got {type(value).__name__}")
            try:
                merged[key.strip()] = _PriceIn.model_validate(dict(value)).to_price()
            except ValidationError as exc:
                # One line per file problem: "input: Input should be greater than or equal to 0".
                reasons = "; ".join(
                    f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
                    for error in exc.errors()
                )
                raise ValueError(f"invalid price for {key!r}: {reasons}") from exc
        return PriceTable(merged)

    def keys(self) -> list[str]:
        return sorted(self._prices)

    def price(self, spec: object) -> Price | None:
        """The price of ``spec`` (a ``provider:model`` string or anything whose str() is), or None if unknown."""
        for key in _lookup_keys(str(spec)):
            found = self._prices.get(key)
            if found is not None:
                return found
        return None

    def cost(self, spec: object, usage: Usage) -> float | None:
        """USD for ``usage`` at ``spec``'s prices, each token kind at its own rate; None if the price is unknown."""
        price = self.price(spec)
        if price is None:
            return None
        return usage_cost(price, usage)


def usage_cost(price: Price, usage: Usage) -> float:
    """USD for ``usage`` at ``price``."""
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / _PER_MILLION


def _sum_or_none(values: list[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def estimate_split_costs(
    *,
    prices: PriceTable,
    strong: str,
    cheap: str,
    judge: str,
    plan_usage: Usage,
    implement_usage: Usage,
    judge_usage: Usage,
) -> dict[str, float | None]:
    """Estimated plan+implement+judge dollars for each split OO/OK/KO/KK (planner letter first).

    O = the strong model, K = the cheap one; the judge is always ``judge``.  A split with any
    unknown price is None.
    """
    pick = {"O": strong, "K": cheap}
    judge_cost = prices.cost(judge, judge_usage)
    result: dict[str, float | None] = {}
    for variant in ("OO", "OK", "KO", "KK"):
        planner, implementer = pick[variant[0]], pick[variant[1]]
        result[variant] = _sum_or_none(
            [prices.cost(planner, plan_usage), prices.cost(implementer, implement_usage), judge_cost]
        )
    return result
