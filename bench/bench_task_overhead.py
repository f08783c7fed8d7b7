"""The bench's own overhead per cell: everything `route-me bench --tasks` does except the model calls.

    .venv/bin/python bench/bench_task_overhead.py [--repeat 2] [--concurrency 1] [--splits OK] [--out DIR]

Runs the shipped suite (bench/tasks) through the real runner against the fake providers, which answer
at once from a script (tests/fakes/task_roles.py). Per cell, the record gives the wall time and the
time spent inside model calls (the ledger's latencies, i.e. request round trips to the fakes); the
difference is the bench's overhead: loading the task, the stages' own work (context pack, workspace,
validation, facts), the ledger, copying repo/, laying hidden/ over it and running the check. The check
is shown separately because it is the task's own cost (its interpreter start and tests), not route-me's.
``--out DIR`` also writes the run's results.json, report.md and chart.png there (docs/bench-sample/ was
made this way, with --splits OO,OK,KO,KK: scripted models, so the figures show the format, not models).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from bot.task_bench.cli import network_note, run_tasks, write_outputs  # noqa: E402
from bot.task_bench.runner import Progress, plan_cells  # noqa: E402
from tests.fakes import anthropic_server, openai_server  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.task_roles import TASKS, play  # noqa: E402


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"mean {1000 * statistics.mean(values):7.1f} ms   p90 {1000 * p90:7.1f} ms"


async def main(args: argparse.Namespace) -> None:
    async with FakeAnthropic() as anthropic, FakeOpenAI() as openai:
        anthropic.responder = play(anthropic_server, strong=True)
        openai.responder = play(openai_server, strong=False)
        with tempfile.TemporaryDirectory() as scratch:
            env = {
                "ROUTE_ME_DB": str(Path(scratch) / "bench.db"), "PATH": os.environ.get("PATH", ""),
                "ANTHROPIC_API_KEY": anthropic.api_key, "ANTHROPIC_BASE_URL": anthropic.base_url,
                "OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url,
                "ROUTE_ME_STRONG": "anthropic:claude-opus-5-5", "ROUTE_ME_CHEAP": "openai:kimi-k2.6",
            }
            settings = load_settings(env, require_github=False)
            cells = plan_cells(TASKS, args.splits.split(","), repeats=args.repeat)
            started = time.monotonic()
            out = Path(args.out) if args.out else Path(scratch) / "out"
            with open(os.devnull, "w") as quiet:
                run = await run_tasks(settings, cells=cells, out=out, concurrency=args.concurrency,
                                      progress=Progress(len(cells), stream=quiet))
            total = time.monotonic() - started
            if args.out:
                write_outputs(run.records, out=out, settings={
                    "strong": settings.strong, "cheap": settings.cheap, "judge": settings.judge,
                    "network": network_note(), "splits": args.splits.split(","), "repeats": args.repeat},
                    title_note="scripted fake models")
    records = run.records
    wall = [r["seconds"] for r in records]
    model = [r["model_seconds"] for r in records]
    check = [r["check"]["seconds"] for r in records]
    overhead = [w - m for w, m in zip(wall, model, strict=True)]
    stages_only = [o - c for o, c in zip(overhead, check, strict=True)]
    print(f"{len(records)} cells ({len(TASKS)} tasks × {args.splits} × {args.repeat} repeat(s)), "
          f"concurrency {args.concurrency}, {total:.1f} s in all; network for checks: "
          f"{records[0]['check']['network']}")
    print(f"  wall time per cell                   {_ms(wall)}")
    print(f"  inside model calls (fake round trips) {_ms(model)}")
    print(f"  overhead (wall - model calls)        {_ms(overhead)}")
    print(f"    of which the task's check          {_ms(check)}")
    print(f"    of which route-me (all but check)  {_ms(stages_only)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--splits", default="OK")
    parser.add_argument("--out", help="keep results.json, report.md and chart.png here")
    asyncio.run(main(parser.parse_args()))
