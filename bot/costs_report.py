"""``route-me costs``: the ledger's totals by repository, issue, stage and model, and the saving against all-strong."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from bot.models.ledger import LedgerEntry, LedgerTotal, is_priced, summarize
from bot.stages.runtime import ledger_entry
from bot.store import is_postgres_url, open_store

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


def to_json(entries: Sequence[LedgerEntry], *, by: str = "all") -> str:
    """The same totals as ``report``, as JSON: {"by": {group: [rows]}, "total": {...}}."""
    groups: dict[str, list[dict[str, object]]] = {}
    for group in GROUPS if by == "all" else (by,):
        groups[group] = [{"key": t.key, "calls": t.calls, **asdict(t.usage), "cost_usd": round(t.cost_usd, 6),
                          "all_strong_usd": round(t.strong_cost_usd, 6), "unpriced_calls": t.unpriced_calls}
                         for t in summarize(entries, by=group)]
    priced = [e for e in entries if is_priced(e)]
    actual = sum(e.cost_usd or 0.0 for e in priced)
    strong = sum(e.strong_cost_usd or 0.0 for e in priced)
    total = {"calls": len(entries), "priced_calls": len(priced), "cost_usd": round(actual, 6),
             "all_strong_usd": round(strong, 6), "saving_usd": round(strong - actual, 6)}
    return json.dumps({"by": groups, "total": total}, indent=2)


def print_costs(db: str, *, repo: str | None = None, by: str = "all", as_json: bool = False) -> int:
    if db != ":memory:" and not is_postgres_url(db) and not Path(db).exists():
        print(f"no state file at {db} (set ROUTE_ME_DB or pass --db)", file=sys.stderr)
        return 1
    store = open_store(db)
    try:
        entries = [ledger_entry(row) for row in store.ledger_rows(repo=repo)]
        if repo is not None and not entries:
            known = sorted({row["repo"] for row in store.ledger_rows()})
            hint = f"; the ledger has {', '.join(known[:10])}" if known else "; the ledger is empty"
            print(f"no model calls recorded for {repo}{hint}", file=sys.stderr)
            return 1
    finally:
        store.close()
    print(to_json(entries, by=by) if as_json else report(entries, by=by))
    return 0
