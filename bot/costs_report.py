"""``route-me costs``: the ledger's totals by repository, issue, stage and model, and the saving against all-strong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.models.ledger import LedgerEntry, LedgerTotal, summarize
from bot.stages.runtime import ledger_entry
from bot.store import SqliteStore

GROUPS: tuple[str, ...] = ("repo", "issue", "stage", "model")


def _usd(value: float, unknown: int) -> str:
    text = f"${value:,.4f}"
    return f"{text} (+{unknown} unpriced)" if unknown else text


def format_table(title: str, totals: Sequence[LedgerTotal]) -> list[str]:
    lines = [f"By {title}:", f"  {'key':<40} {'calls':>5} {'input':>10} {'output':>9} "
             f"{'cache w':>9} {'cache r':>10} {'cost':>12} {'all-strong':>12}"]
    for t in totals:
        u = t.usage
        lines.append(
            f"  {t.key[:40]:<40} {t.calls:>5} {u.input_tokens:>10,} {u.output_tokens:>9,} "
            f"{u.cache_write_tokens:>9,} {u.cache_read_tokens:>10,} "
            f"{_usd(t.cost_usd, t.unknown_cost_calls):>12} {_usd(t.strong_cost_usd, t.unknown_strong_cost_calls):>12}"
        )
    return lines


def report(entries: Iterable[LedgerEntry], *, by: str = "all") -> str:
    entries = list(entries)
    if not entries:
        return "The ledger is empty: no model calls were recorded yet."
    lines: list[str] = []
    for group in GROUPS if by == "all" else (by,):
        lines += format_table(group, summarize(entries, by=group)) + [""]
    actual = sum(e.cost_usd or 0.0 for e in entries)
    strong = sum(e.strong_cost_usd or 0.0 for e in entries)
    unknown = sum(1 for e in entries if e.cost_usd is None or e.strong_cost_usd is None)
    saving = strong - actual
    share = f" ({saving / strong * 100:.0f}%)" if strong > 0 else ""
    lines.append(f"Total: ${actual:,.4f} over {len(entries)} calls; all-strong would have cost "
                 f"${strong:,.4f}; saving ${saving:,.4f}{share}"
                 + (f"; {unknown} call(s) have no known price and are left out" if unknown else ""))
    return "\n".join(lines)


def print_costs(db: str, *, repo: str | None = None, by: str = "all") -> int:
    if db != ":memory:" and not Path(db).exists():
        print(f"no state file at {db} (set ROUTE_ME_DB or pass --db)")
        return 1
    store = SqliteStore(db)
    try:
        entries = [ledger_entry(row) for row in store.ledger_rows(repo=repo)]
    finally:
        store.close()
    print(report(entries, by=by))
    return 0
