"""Tokens, dollars and the saving against all-strong, formatted one way for every comment and review."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bot.core.plan import model_span, table_cell
from bot.core.usage import StageCost, Usage


def format_usd(x: float | None, *, digits: int | None = None) -> str:
    """Dollars for humans; an unknown price is "unknown", never $0.

    Alone, cents, or four decimals under a cent.  ``digits`` fixes the decimals so figures read
    together (a table's column, a cost line) share one precision (``usd_digits``).
    """
    if x is None or not math.isfinite(x):
        return "unknown"
    if x < 0:
        return "-" + format_usd(-x, digits=digits)
    if x == 0:
        return f"${0:.{digits or 2}f}"
    if x < 0.0001:
        return "<$0.0001"
    if digits is None:
        digits = 4 if x < 0.01 else 2
    return f"${x:,.{digits}f}"


def usd_digits(values: Sequence[float | None]) -> int:
    """The decimals a set of figures shown together needs: four when any is under a cent (so
    $0.0051 never sits beside $0.12, which reads as a different unit), else two."""
    return 4 if any(v is not None and math.isfinite(v) and 0 < abs(v) < 0.01 for v in values) else 2


def format_tokens(n: int) -> str:
    """950, 12.3k, 1.23M."""
    if n < 1000:
        return str(n)
    if n < 999_950:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def saving(costs: Sequence[StageCost]) -> tuple[float, float | None] | None:
    """(dollars saved, percent of the all-strong cost) or None when any figure is unknown."""
    if not costs or any(c.usd is None or c.strong_usd is None for c in costs):
        return None
    actual = sum(c.usd for c in costs if c.usd is not None)
    strong = sum(c.strong_usd for c in costs if c.strong_usd is not None)
    percent = (strong - actual) / strong * 100 if strong > 0 else None
    return strong - actual, percent


def saving_sentence(costs: Sequence[StageCost]) -> str:
    """The one line comparing what was spent with the same tokens at the strong model's prices."""
    saved = saving(costs)
    if saved is None:
        return "Saving vs all-strong: unknown (a price is missing for at least one stage)."
    dollars, percent = saved
    strong = sum(c.strong_usd for c in costs if c.strong_usd is not None)
    if dollars >= 0:
        share = f" ({percent:.0f}%)" if percent is not None else ""
        return (f"Saving vs all-strong: **{format_usd(dollars)}{share}**; the same tokens at the strong "
                f"model's prices would cost {format_usd(strong)}.")
    return (f"Saving vs all-strong: none; this run cost {format_usd(-dollars)} more than the same "
            f"tokens at the strong model's prices ({format_usd(strong)}).")


def total_usd(costs: Sequence[StageCost], *, digits: int | None = None) -> str:
    """The sum of the stages' costs, never passing an unknown price off as $0."""
    known = [cost.usd for cost in costs if cost.usd is not None]
    if len(known) == len(costs):
        return format_usd(sum(known), digits=digits)
    if not known:
        return "unknown"
    return f"at least {format_usd(sum(known), digits=digits)} (some prices unknown)"


def _digits(costs: Sequence[StageCost]) -> int:
    known = [cost.usd for cost in costs if cost.usd is not None]
    return usd_digits([*known, sum(known)])


def _usage_cells(usage: Usage) -> str:
    # Thinking is billed as output and already inside it; the part it took is shown beside it.
    thinking = f" (thinking {format_tokens(usage.reasoning_tokens)})" if usage.reasoning_tokens else ""
    return (f"{format_tokens(usage.input_tokens)} | {format_tokens(usage.output_tokens)}{thinking} | "
            f"{format_tokens(usage.cache_write_tokens)} | {format_tokens(usage.cache_read_tokens)}")


def costs_table(costs: Sequence[StageCost], *, configured: Mapping[str, str] | None = None,
                always_compare: bool = False) -> str:
    """The one tokens-and-cost table of the plan comment, the PR body, `/status` and the review.

    ``configured`` names a stage's model when the ledger has none; ``always_compare`` adds the
    all-strong comparison even when there is no saving to claim (the scorecard always shows it).
    """
    if not costs:
        return "_No model calls yet._"
    rows = ["| Stage | Model | Input | Output | Cache write | Cache read | Cost |",
            "|---|---|--:|--:|--:|--:|--:|"]
    total = Usage()
    digits = _digits(costs)
    for cost in costs:
        total += cost.usage
        # The ledger names every model that served the stage (a fallback or a /rescore may
        # have used several); the configured one only stands in when it names none.
        names = cost.models or tuple(filter(None, [(configured or {}).get(cost.stage)]))
        models = ", ".join(model_span(model) for model in names) or "unknown"
        rows.append(f"| {table_cell(cost.stage)} | {table_cell(models)} | {_usage_cells(cost.usage)}"
                    f" | {format_usd(cost.usd, digits=digits)} |")
    rows.append(f"| **Total** | | {_usage_cells(total)} | **{total_usd(costs, digits=digits)}** |")
    saved = saving(costs)
    if always_compare or (saved is not None and saved[0] > 0):
        rows.append(f"\n{saving_sentence(costs)}")
    return "\n".join(rows)


def cost_line(costs: Sequence[StageCost]) -> str:
    """The one-line form of the cost table, for everywhere but the review (which has the table)."""
    if not costs:
        return "no model calls yet"
    digits = _digits(costs)
    parts = " · ".join(f"{table_cell(cost.stage)} {format_usd(cost.usd, digits=digits)}" for cost in costs)
    saved = saving(costs)
    less = (f"; {saved[1]:.0f}% less than the same tokens at the strong model's prices"
            if saved is not None and saved[0] > 0 and saved[1] is not None else "")
    return f"{total_usd(costs, digits=digits)} — {parts}{less}"
