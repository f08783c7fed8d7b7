"""`route-me serve` with an event-loop stall probe, for the benchmarks (never used in production).

    ROUTE_ME_BENCH_LAG_FILE=/tmp/lag.json python bench/loop_lag.py

Runs the real `route-me serve` (same settings, same uvloop) with one extra task on its event
loop: it asks to be woken every TICK seconds and records how late each wake-up is.  A wake-up
can only be late by the time the loop spent in other callbacks, so the largest lateness is the
longest the loop could not answer anything: a blocking store call shows up here as a gap of
its own length.  When the service begins to shut down (SIGTERM) the gaps seen so far are
written as JSON to ROUTE_ME_BENCH_LAG_FILE: the largest, a few percentiles, and how many
passed 10 / 50 / 100 ms.  Shutdown itself is not measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bot.app  # noqa: E402
from bot.cli import main  # noqa: E402

# Short enough that a stall of a few milliseconds cannot fall between two wake-ups unseen.
TICK = 0.002


def summary(gaps: list[float]) -> dict[str, float | int]:
    """The lateness of the wake-ups, in milliseconds."""
    ordered = sorted(gaps) or [0.0]

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {"ticks": len(gaps), "max_ms": round(ordered[-1] * 1000, 2), "p50_ms": at(0.5), "p99_ms": at(0.99),
            "p999_ms": at(0.999), "over_10ms": sum(g > 0.010 for g in gaps),
            "over_50ms": sum(g > 0.050 for g in gaps), "over_100ms": sum(g > 0.100 for g in gaps)}


def with_probe(create_app):  # type: ignore[no-untyped-def]
    def create(*args, **kwargs):  # type: ignore[no-untyped-def]
        app = create_app(*args, **kwargs)
        gaps: list[float] = []
        tasks: list[asyncio.Task[None]] = []

        async def probe() -> None:
            loop = asyncio.get_running_loop()
            while True:
                due = loop.time() + TICK
                await asyncio.sleep(TICK)
                gaps.append(max(0.0, loop.time() - due))

        async def start(app: object) -> None:
            tasks.append(asyncio.create_task(probe(), name="bench-loop-lag"))

        async def report(app: object) -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            target = os.environ.get("ROUTE_ME_BENCH_LAG_FILE")
            if target:
                Path(target).write_text(json.dumps({**summary(gaps), "written_at": time.time()}))

        app.on_startup.append(start)
        # on_shutdown runs first at SIGTERM, before the worker drains: only serving is measured.
        app.on_shutdown.insert(0, report)
        return app

    return create


if __name__ == "__main__":
    bot.app.create_app = with_probe(bot.app.create_app)
    raise SystemExit(main(["serve", *sys.argv[1:]]))
