"""Runs recorded jobs in the background with bounded concurrency, one at a time per issue
(cancellations excepted: they must reach a stage that is still running).

A job whose issue is busy does not wait in a worker slot: it is parked in its issue's
queue, and the worker moves on to the next job.  When the issue's job ends, the first
parked job goes back to the shared queue already holding the issue, so jobs of one issue
run in the order they arrived while other issues keep flowing.

Jobs live in the store, so a job interrupted by a crash is found again at the next start
(its status is still ``running``) and run again; stages are written to be resumable.  A
job that keeps getting interrupted is given up and reported instead of looping forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import logcontext
from bot.store import Job, Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# What ``give_up`` is told, for the comment.
INTERRUPTED = "The job was interrupted several times (the service restarted mid-work)."
NOT_SCHEDULED = "The job could not be scheduled ({error}); the service log has the details."

IssueKey = tuple[str, int | None]


def issue_key(job: Job) -> IssueKey:
    """The default lock: the repository and issue number the webhook recorded."""
    return (job.repo, job.issue)


@dataclass(frozen=True)
class _Entry:
    job_id: int
    # Set when the job was handed the issue by the job before it (it must not queue again).
    holds: IssueKey | None = None


class Worker:
    """A pool of ``concurrency`` tasks pulling jobs from a queue; per-issue queues for the rest."""

    def __init__(
        self,
        *,
        store: Store,
        run: Callable[[Job, int], Awaitable[None]],
        give_up: Callable[[Job, str], Awaitable[None]] | None = None,
        concurrency: int = 4,
        unlocked: Callable[[Job], bool] = lambda job: False,
        lock_key: Callable[[Job], IssueKey] = issue_key,
    ) -> None:
        self._store = store
        self._run = run
        self._give_up = give_up
        self._concurrency = concurrency
        self._unlocked = unlocked
        self._lock_key = lock_key
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # An issue is busy while one of its jobs runs or has been handed the issue; jobs that
        # arrive meanwhile wait here, in order.
        self._busy: set[IssueKey] = set()
        self._parked: dict[IssueKey, deque[int]] = {}
        # Jobs submitted and not yet ended (queued, parked or running), for drain().
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.completed = 0
        self.failed = 0

    async def start(self) -> None:
        """Start the pool and re-queue work left by a previous process."""
        leftovers = self._store.unfinished_jobs()
        if leftovers:
            log.info("resuming %d unfinished job(s)", len(leftovers))
        for job in leftovers:
            self.submit(job.id)
        self._tasks = [
            asyncio.create_task(self._loop(), name=f"route-me-worker-{n}")
            for n in range(self._concurrency)
        ]

    def submit(self, job_id: int) -> None:
        self._unfinished += 1
        self._idle.clear()
        self._queue.put_nowait(_Entry(job_id))

    async def drain(self) -> None:
        """Wait until every submitted job has ended (tests, graceful shutdown)."""
        await self._idle.wait()

    @property
    def pending(self) -> int:
        """Jobs waiting to run: queued, or parked behind a busy issue."""
        return self._queue.qsize() + sum(len(parked) for parked in self._parked.values())

    @property
    def alive(self) -> bool:
        """Whether every worker task is still running (for /healthz)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self) -> None:
        while True:
            entry = await self._queue.get()
            try:
                await self._take(entry)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a store error must never end the worker loop
                log.exception("worker could not handle job %d", entry.job_id)
                self.failed += 1

    async def _take(self, entry: _Entry) -> None:
        """Run the job now, or park it behind its issue's running job."""
        key: IssueKey | None = entry.holds
        parked = False
        try:
            job = self._store.job(entry.job_id)
            if job.status not in ("pending", "running"):
                return
            if key is None:
                try:
                    wanted = None if self._unlocked(job) else self._lock_key(job)
                except Exception as exc:  # noqa: BLE001 - reported; must not leave the job pending
                    await self._unschedulable(job, exc)
                    return
                if wanted is not None:
                    if wanted in self._busy:
                        self._parked.setdefault(wanted, deque()).append(job.id)
                        parked = True
                        return
                    self._busy.add(wanted)
                    key = wanted
            await self._execute(job)
        finally:
            if key is not None:
                self._release(key)
            if not parked:
                self._job_ended()

    async def _unschedulable(self, job: Job, exc: Exception) -> None:
        """The job's lock could not be worked out (say, a store error): fail it and say so,
        rather than leave it pending, unanswered, until the next restart."""
        context = f"delivery={job.delivery_id} event={job.event} repo={job.repo} issue={job.issue}"
        log.error("could not schedule the job: %s", context, exc_info=exc)
        self._store.finish_job(job.id, error=f"not scheduled: {type(exc).__name__}: {exc}"[:2000])
        self.failed += 1
        if self._give_up is not None:
            await self._report(self._give_up(job, NOT_SCHEDULED.format(error=type(exc).__name__)), context)

    def _release(self, key: IssueKey) -> None:
        """Hand the issue to its next parked job, or free it."""
        parked = self._parked.get(key)
        if parked:
            self._queue.put_nowait(_Entry(parked.popleft(), holds=key))
            if not parked:
                del self._parked[key]
        else:
            self._busy.discard(key)

    def _job_ended(self) -> None:
        self._unfinished -= 1
        if self._unfinished <= 0:
            self._unfinished = 0
            self._idle.set()

    async def _execute(self, job: Job) -> None:
        logcontext.delivery_id.set(job.delivery_id)
        context = f"delivery={job.delivery_id} event={job.event} repo={job.repo} issue={job.issue}"
        attempt = self._store.start_job(job.id)
        if attempt > MAX_ATTEMPTS:
            log.error("giving up after %d interrupted attempts: %s", attempt - 1, context)
            self._store.finish_job(job.id, error="interrupted too many times")
            self.failed += 1
            if self._give_up is not None:
                await self._report(self._give_up(job, INTERRUPTED), context)
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
            log.exception("could not report a job given up: %s", context)
