"""The bench's report from its cell records: results.json, report.md and chart.png.

Pure functions over the records except ``write_chart`` (matplotlib, Agg backend, imported only
there: it is the optional ``bench`` extra, and the service never needs it).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.scorecard import DIMENSION_IDS

# A judge score at or above this says "correct" / "tested"; compared with the hidden check.
AGREES_AT = 4
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def group_label(record: dict[str, Any]) -> str:
    return record["split"] if not record.get("reasoning") else f"{record['split']} [{record['reasoning']}]"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _stdev(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) if len(values) >= 2 else None


@dataclass
class SplitSummary:
    """One split (or split × reasoning setting) over all its cells."""

    label: str
    split: str
    reasoning: str | None
    cells: int
    passed: int
    pass_rate: float
    pass_rate_by_repeat: list[float]
    pass_rate_stdev: float | None
    usd_total: float
    unpriced_cells: int
    usd_per_task: float | None
    usd_per_task_by_repeat: list[float]
    usd_per_task_stdev: float | None
    usd_per_solved: float | None
    saving_vs_oo: float | None
    mean_scores: dict[str, float | None] = field(default_factory=dict)
    mean_overall: float | None = None
    judge_correctness_agreement: float | None = None
    judge_tests_agreement: float | None = None
    judged_cells: int = 0
    errors: int = 0


def summarize(records: Sequence[dict[str, Any]]) -> list[SplitSummary]:
    """Per split (and reasoning setting), in the order the splits first appear."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(group_label(record), []).append(record)
    summaries = []
    for label, rows in groups.items():
        repeats = sorted({r["repeat"] for r in rows})
        by_repeat = [[r for r in rows if r["repeat"] == n] for n in repeats]
        rate_by_repeat = [sum(r["pass"] for r in rs) / len(rs) for rs in by_repeat]
        priced = [r for r in rows if r["usd"] is not None]
        usd_by_repeat = [sum(r["usd"] for r in rs if r["usd"] is not None) / len(rs) for rs in by_repeat]
        passed = sum(r["pass"] for r in rows)
        usd_total = sum(r["usd"] for r in priced)
        judged = [r for r in rows if r["scores"].get("correctness") is not None]
        tested = [r for r in rows if r["scores"].get("tests") is not None]
        summaries.append(SplitSummary(
            label=label, split=rows[0]["split"], reasoning=rows[0].get("reasoning"), cells=len(rows),
            passed=passed, pass_rate=passed / len(rows), pass_rate_by_repeat=rate_by_repeat,
            pass_rate_stdev=_stdev(rate_by_repeat), usd_total=usd_total, unpriced_cells=len(rows) - len(priced),
            usd_per_task=usd_total / len(rows), usd_per_task_by_repeat=usd_by_repeat,
            usd_per_task_stdev=_stdev(usd_by_repeat), usd_per_solved=usd_total / passed if passed else None,
            saving_vs_oo=None,
            mean_scores={d: _mean([r["scores"][d] for r in rows if r["scores"].get(d) is not None])
                         for d in DIMENSION_IDS},
            mean_overall=_mean([r["overall"] for r in rows if r["overall"] is not None]),
            judge_correctness_agreement=_mean([float((r["scores"]["correctness"] >= AGREES_AT) == r["pass"])
                                               for r in judged]),
            judge_tests_agreement=_mean([float((r["scores"]["tests"] >= AGREES_AT) == r["pass"]) for r in tested]),
            judged_cells=len(judged), errors=sum(1 for r in rows if r.get("error")),
        ))
    for summary in summaries:
        oo = next((s for s in summaries if s.split == "OO" and s.reasoning == summary.reasoning), None)
        if oo is not None and oo.usd_per_task and summary.usd_per_task is not None:
            summary.saving_vs_oo = 1 - summary.usd_per_task / oo.usd_per_task
    return summaries


def results_json(records: Sequence[dict[str, Any]], *, settings: dict[str, Any]) -> str:
    summaries = [s.__dict__ for s in summarize(records)]
    return json.dumps({"settings": settings, "summary": summaries, "cells": list(records)}, indent=1)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_report(records: Sequence[dict[str, Any]], *, settings: dict[str, Any],
                  chart: str | None = "chart.png") -> str:
    """report.md: the split table, the scores, the judge's calibration and the per-task grid."""
    summaries = summarize(records)
    tasks = list(dict.fromkeys(r["task"] for r in records))
    repeats = max((r["repeat"] for r in records), default=0)
    lines = ["# route-me bench: the splits on tasks decided by hidden checks", ""]
    lines.append(f"{len(tasks)} tasks × {len(summaries)} split setting(s) × {repeats} repeat(s) = "
                 f"{len(records)} cells. Models: strong `{settings.get('strong')}`, cheap "
                 f"`{settings.get('cheap')}`, judge `{settings.get('judge')}`. A cell passes when the task's "
                 f"hidden check exits 0 on the changed repository. Checks ran with network: "
                 f"{settings.get('network', '?')}.")
    lines.append("")
    if chart:
        lines += [f"![pass rate against dollars per split]({chart})", ""]
    lines += ["## Pass rate and cost per split", "",
              "| split | cells | passed | pass rate | spread over repeats | $ total | $ per task | "
              "$ per solved task | saving vs OO | mean score | errors |",
              "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        spread = "—" if len(s.pass_rate_by_repeat) < 2 else (
            f"±{100 * (s.pass_rate_stdev or 0):.0f} pts (" + ", ".join(_pct(v) for v in s.pass_rate_by_repeat) + ")")
        total = _usd(s.usd_total) + (f" (+{s.unpriced_cells} unpriced)" if s.unpriced_cells else "")
        lines.append(f"| {s.label} | {s.cells} | {s.passed} | {_pct(s.pass_rate)} | {spread} | {total} | "
                     f"{_usd(s.usd_per_task)} | {_usd(s.usd_per_solved)} | {_pct(s.saving_vs_oo)} | "
                     f"{_num(s.mean_overall)} | {s.errors} |")
    lines += ["", "## Mean judge scores (1–5)", "",
              "| split | " + " | ".join(DIMENSION_IDS) + " |", "|---|" + "---:|" * len(DIMENSION_IDS)]
    for s in summaries:
        lines.append(f"| {s.label} | " + " | ".join(_num(s.mean_scores[d]) for d in DIMENSION_IDS) + " |")
    lines += ["", "## Judge calibration", "",
              f"How often the judge agrees with the hidden check: a `correctness` (or `tests`) score of "
              f"{AGREES_AT} or more counts as \"solved\", below as \"not solved\".", "",
              "| split | judged cells | correctness agrees | tests agrees |", "|---|---:|---:|---:|"]
    for s in summaries:
        lines.append(f"| {s.label} | {s.judged_cells} | {_pct(s.judge_correctness_agreement)} | "
                     f"{_pct(s.judge_tests_agreement)} |")
    lines += ["", "## Per task (cells passed / run)", "",
              "| task | difficulty | language | " + " | ".join(s.label for s in summaries) + " |",
              "|---|---:|---|" + "---:|" * len(summaries)]
    for task in tasks:
        rows = [r for r in records if r["task"] == task]
        cells = []
        for s in summaries:
            mine = [r for r in rows if group_label(r) == s.label]
            cells.append(f"{sum(r['pass'] for r in mine)}/{len(mine)}")
        lines.append(f"| {task} | {rows[0].get('difficulty') or '—'} | {rows[0].get('language') or '—'} | "
                     + " | ".join(cells) + " |")
    failed = [r for r in records if r.get("error")]
    if failed:
        lines += ["", "## Cells that stopped early", ""]
        lines += [f"- `{r['cell']}`: {r['error'][:300]}" for r in failed]
    lines.append("")
    return "\n".join(lines)


def write_chart(records: Sequence[dict[str, Any]], path: Path, *, title_note: str = "") -> None:
    """chart.png: pass rate (y) against dollars per task (x), one marker per split, error bars
    over repeats (both axes) where there are two repeats or more."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 - used as matplotlib.ticker below

    summaries = summarize(records)
    repeats = max((r["repeat"] for r in records), default=0)
    tasks = len({r["task"] for r in records})
    fig, ax = plt.subplots(figsize=(8.0, 5.6), dpi=120)
    xs = [s.usd_per_task or 0.0 for s in summaries]
    for index, s in enumerate(summaries):
        x, y = s.usd_per_task or 0.0, 100 * s.pass_rate
        colour = COLOURS[index % len(COLOURS)]
        ax.errorbar(x, y, yerr=100 * s.pass_rate_stdev if s.pass_rate_stdev else None,
                    xerr=s.usd_per_task_stdev or None, fmt=MARKERS[index % len(MARKERS)], markersize=11, color=colour,
                    ecolor=colour, elinewidth=1.5, capsize=5,
                    label=f"{s.label}: {s.passed}/{s.cells} passed, ${x:.4f} per task")
        ax.annotate(s.label, (x, y), textcoords="offset points", xytext=(10, -4), fontsize=11,
                    fontweight="bold", color=colour)
    positive = [x for x in xs if x > 0]
    if positive and max(positive) / min(positive) > 20:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0, (max(xs, default=0.0) or 1.0) * 1.25)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda value, _: f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"))
    ax.set_ylim(-5, 110)
    ax.set_xlabel("mean dollars per task (all three stages)", fontsize=11)
    ax.set_ylabel("tasks solved: hidden checks passed (%)", fontsize=11)
    if repeats < 2:
        bars = "one repeat, so no error bars"
    elif any(s.pass_rate_stdev or s.usd_per_task_stdev for s in summaries):
        bars = "bars: ±1 s.d. over repeats"
    else:
        bars = "no spread between repeats"
    ax.set_title(f"route-me splits: pass rate against cost\n{tasks} tasks × {repeats} repeat(s); {bars}"
                 + (f"; {title_note}" if title_note else ""), fontsize=11)
    ax.grid(True, alpha=0.3)
    # Under the plot, so it never hides a marker.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=9, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
