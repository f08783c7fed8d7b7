"""The ``route-me bench --tasks`` command: load the tasks, run the cells, write the report."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bot.core.repo_config import RepoConfig
from bot.services import Services
from bot.settings import Settings
from bot.store import open_store
from bot.task_bench import report
from bot.task_bench.check import isolation_prefix
from bot.task_bench.runner import BenchRun, Progress, parse_reasoning, plan_cells, run_bench, with_reasoning
from bot.task_bench.tasks import TaskError, load_tasks


def network_note() -> str:
    prefix = isolation_prefix()
    if not prefix:
        return "open (no network namespace available here; see docs/bench.md)"
    return f"none (own network namespace: {Path(prefix[0]).name} {' '.join(prefix[1:])})"


@contextlib.asynccontextmanager
async def local_services(settings: Settings) -> AsyncIterator[Services]:
    """The store (ledger) and an HTTP session, without the GitHub App: ``bench --tasks`` never calls
    GitHub, so there is no App key to load; a stray GitHub call fails loudly on ``tokens=None``."""
    import aiohttp

    store = open_store(settings.db)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120, connect=15))
    try:
        yield Services(settings=settings, store=store, session=session, tokens=None)  # type: ignore[arg-type]
    finally:
        await session.close()
        store.close()


async def run_tasks(settings: Settings, *, cells: Sequence[Any], out: Path, concurrency: int,
                    progress: Progress | None = None) -> BenchRun:
    from bot.stages.runtime import build_runtime, close_runtime

    async with local_services(settings) as services:
        await build_runtime(services)
        try:
            return await run_bench(services, cells, out=out, concurrency=concurrency, progress=progress)
        finally:
            await close_runtime(services)


def write_outputs(records: Sequence[dict[str, Any]], *, out: Path, settings: dict[str, Any],
                  title_note: str = "") -> str | None:
    """results.json, report.md and chart.png; returns why the chart is missing, if it is."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(report.results_json(records, settings=settings), encoding="utf-8")
    missing = None
    try:
        report.write_chart(records, out / "chart.png", title_note=title_note)
    except ImportError:
        missing = "matplotlib is not installed: pip install 'route-me[bench]' for chart.png"
    (out / "report.md").write_text(report.render_report(records, settings=settings,
                                                        chart=None if missing else "chart.png"), encoding="utf-8")
    return missing


def verify_command(tasks_dir: Path, *, only: list[str] | None, concurrency: int) -> int:
    """Each task's check fails on repo/ and passes with its reference fix; one line per task."""
    from bot.task_bench.verify import verify_tasks

    try:
        tasks = load_tasks(tasks_dir, only=only)
    except TaskError as exc:
        print(f"route-me bench: {exc}", file=sys.stderr)
        return 2
    verdicts = asyncio.run(verify_tasks(tasks, concurrency=concurrency))
    for verdict in verdicts:
        after = "-" if verdict.after is None else f"{verdict.after.seconds:.2f}s"
        status = "ok" if not verdict.problems else "FAILED"
        print(f"{status:<7}{verdict.task}  (fails on repo/ in {verdict.before.seconds:.2f}s, "
              f"passes with fix/ in {after}; network: {verdict.before.network})")
        for problem in verdict.problems:
            print(f"        {problem}")
    return 1 if any(v.problems for v in verdicts) else 0


def run_tasks_command(settings: Settings, *, tasks_dir: Path, out: Path, splits: Sequence[str], repeats: int,
                      reasonings: Sequence[str], concurrency: int, only: list[str] | None) -> int:
    try:
        tasks = load_tasks(tasks_dir, only=only)
        settings_per_cell = [parse_reasoning(text) for text in reasonings] or [None]
        for setting in settings_per_cell:
            with_reasoning(RepoConfig(), setting)  # a setting the config refuses is refused here, once
        if repeats < 1 or concurrency < 1:
            raise ValueError("--repeat and --concurrency must be at least 1")
    except (TaskError, ValueError) as exc:
        print(f"route-me bench: {exc}", file=sys.stderr)
        return 2
    cells = plan_cells(tasks, splits, repeats=repeats, reasonings=settings_per_cell)
    run = asyncio.run(run_tasks(settings, cells=cells, out=out, concurrency=concurrency))
    meta = {"strong": settings.strong, "cheap": settings.cheap, "judge": settings.judge,
            "fallbacks": list(settings.fallbacks), "splits": list(splits), "repeats": repeats,
            "reasoning": list(reasonings), "tasks": [t.name for t in tasks], "network": network_note()}
    missing_chart = write_outputs(run.records, out=out, settings=meta)
    passed = sum(r["pass"] for r in run.records)
    print(f"{len(run.records)} cells ({run.reused} reused from {out}), {passed} passed; "
          f"report: {out / 'report.md'}")
    if missing_chart:
        print(f"route-me bench: {missing_chart}", file=sys.stderr)
    if run.not_kept:
        print(f"route-me bench: {run.not_kept} cell(s) stopped on a provider failure or a crash and were not "
              "kept; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0
