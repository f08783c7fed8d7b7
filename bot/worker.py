"""Runs recorded jobs in the background with bounded concurrency, one at a time per issue
(cancellations excepted: they must reach a stage that is still running).

Jobs live in the store, so a job interrupted by a crash is found again at the next start
(its status is still ``running``) and run again; stages are written to be resumable.  A
job that keeps getting interrupted is given up and reported instead of looping forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot import logcontext
from bot.store import Job, Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


class Worker:
    """A pool of ``concurrency`` tasks pulling job ids from a queue."""

    def __init__(
        self,
        *,
        store: Store,
        run: Callable[[Job, int], Awaitable[None]],
        give_up: Callable[[Job], Awaitable[None]] | None = None,
        concurrency: int = 4,
        unlocked: Callable[[Job], bool] = lambda job: False,
    ) -> None:
        self._store = store
        self._run = run
        self._give_up = give_up
        self._concurrency = concurrency
        self._unlocked = unlocked
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Per-issue lock with a user count, dropped when nobody holds or awaits it.
        self._issue_locks: dict[tuple[str, int | None], tuple[asyncio.Lock, int]] = {}
        self.completed = 0
        self.failed = 0

    async def start(self) -> None:
        """Start the pool and re-queue work left by a previous process."""
        leftovers = self._store.unfinished_jobs()
        if leftovers:
            log.info("resuming %d unfinished job(s)", len(leftovers))
        for job in leftovers:
            self._queue.put_nowait(job.id)
        self._tasks = [
            asyncio.create_task(self._loop(), name=f"route-me-worker-{n}")
            for n in range(self._concurrency)
        ]

    def submit(self, job_id: int) -> None:
        self._queue.put_nowait(job_id)

    async def drain(self) -> None:
        """Wait until every queued job has run (tests, graceful shutdown)."""
        await self._queue.join()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                await self._run_one(job_id)
            finally:
                self._queue.task_done()

    async def _run_one(self, job_id: int) -> None:
        job = self._store.job(job_id)
        if job.status not in ("pending", "running"):
            return
        if self._unlocked(job):
            await self._execute(job)
            return
        key = (job.repo, job.issue)
        lock, users = self._issue_locks.get(key, (asyncio.Lock(), 0))
        self._issue_locks[key] = (lock, users + 1)
        try:
            async with lock:
                await self._execute(job)
        finally:
            lock, users = self._issue_locks[key]
            if users <= 1:
                del self._issue_locks[key]
            else:
                self._issue_locks[key] = (lock, users - 1)

    async def _execute(self, job: Job) -> None:
        logcontext.delivery_id.set(job.delivery_id)
        attempt = self._store.start_job(job.id)
        context = f"delivery={job.delivery_id} event={job.event} repo={job.repo} issue={job.issue}"
        if attempt > MAX_ATTEMPTS:
            log.error("giving up after %d interrupted attempts: %s", attempt - 1, context)
            self._store.finish_job(job.id, error="interrupted too many times")
            self.failed += 1
            if self._give_up is not None:
                await self._report(self._give_up(job), context)
            return
        try:
            await self._run(job, attempt)
        except asyncio.CancelledError:
            raise  # shutting down: the job stays 'running' and resumes at the next start
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the pool
            log.exception("job failed: %s", context)
            self._store.finish_job(job.id, error=f"{type(exc).__name__}: {exc}"[:2000])
            self.failed += 1
        else:
            self._store.finish_job(job.id)
            self.completed += 1

    @staticmethod
    async def _report(awaitable: Awaitable[None], context: str) -> None:
        try:
            await awaitable
        except Exception:  # noqa: BLE001
            log.exception("could not report an abandoned job: %s", context)
