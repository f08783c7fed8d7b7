"""``route-me costs``: the ledger's totals by repository, issue, stage and model, and the saving against all-strong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.models.ledger import LedgerEntry, LedgerTotal, is_priced, summarize
from bot.stages.runtime import ledger_entry
from bot.store import open_store

GROUPS: tuple[str, ...] = ("repo", "issue", "stage", "model")


def format_table(title: str, totals: Sequence[LedgerTotal]) -> list[str]:
    """One row per key; cost and all-strong sum the same priced calls, ``unpriced`` counts the rest."""
    lines = [f"By {title}:", f"  {'key':<40} {'calls':>5} {'input':>10} {'output':>9} "
             f"{'cache w':>9} {'cache r':>10} {'cost':>12} {'all-strong':>12} {'unpriced':>8}"]
    for t in totals:
        u = t.usage
        lines.append(
            f"  {t.key[:40]:<40} {t.calls:>5} {u.input_tokens:>10,} {u.output_tokens:>9,} "
            f"{u.cache_write_tokens:>9,} {u.cache_read_tokens:>10,} "
            f"{f'${t.cost_usd:,.4f}':>12} {f'${t.strong_cost_usd:,.4f}':>12} {t.unpriced_calls:>8}"
        )
    return lines


def report(entries: Iterable[LedgerEntry], *, by: str = "all") -> str:
    entries = list(entries)
    if not entries:
        return "The ledger is empty: no model calls were recorded yet."
    lines: list[str] = []
    for group in GROUPS if by == "all" else (by,):
        lines += format_table(group, summarize(entries, by=group)) + [""]
    # A call whose actual or all-strong cost is unknown leaves both sums: counting it on one side
    # only would overstate (or understate) the saving.
    priced = [e for e in entries if is_priced(e)]
    actual = sum(e.cost_usd or 0.0 for e in priced)
    strong = sum(e.strong_cost_usd or 0.0 for e in priced)
    left_out = len(entries) - len(priced)
    saving = strong - actual
    share = f" ({saving / strong * 100:.0f}%)" if strong > 0 else ""
    lines.append(f"Total: ${actual:,.4f} over {len(priced)} priced calls; all-strong would have cost "
                 f"${strong:,.4f}; saving ${saving:,.4f}{share}"
                 + (f"; {left_out} call(s) have no known price and are left out of both sums" if left_out else ""))
    return "\n".join(lines)


def print_costs(db: str, *, repo: str | None = None, by: str = "all") -> int:
    if db != ":memory:" and not Path(db).exists():
        print(f"no state file at {db} (set ROUTE_ME_DB or pass --db)")
        return 1
    store = open_store(db)
    try:
        entries = [ledger_entry(row) for row in store.ledger_rows(repo=repo)]
    finally:
        store.close()
    print(report(entries, by=by))
    return 0
