"""``route-me bench --tasks DIR --verify``: prove each task's hidden check decides it.

For every task: ``check`` must fail on ``repo/`` as shipped (the bug is there and the check sees it)
and pass once the reference fix in ``fix/`` is laid over it (the check can be satisfied). No model is
called. CI runs this over the shipped suite (tests/test_task_suite.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bot.task_bench.check import CheckResult, run_check
from bot.task_bench.tasks import Task


@dataclass(frozen=True)
class Verdict:
    task: str
    before: CheckResult
    after: CheckResult | None  # None when the task ships no reference fix

    @property
    def problems(self) -> list[str]:
        found = []
        if self.before.passed:
            found.append("check passes on repo/ as shipped (it does not detect the bug)")
        if self.after is None:
            found.append("no reference fix (fix/) to verify against")
        elif not self.after.passed:
            why = "timed out" if self.after.timed_out else f"exit {self.after.exit_code}"
            found.append(f"check fails with the reference fix ({why}):\n{self.after.output[-1500:]}")
        return found


async def verify_tasks(tasks: Sequence[Task], *, concurrency: int = 4) -> list[Verdict]:
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(task: Task) -> Verdict:
        async with gate:
            before = await run_check(task)
            after = await run_check(task, use_fix=True) if task.has_fix() else None
        return Verdict(task=task.name, before=before, after=after)

    return list(await asyncio.gather(*(one(t) for t in tasks)))
