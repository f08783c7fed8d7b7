"""Runs recorded jobs in the background: claimed from the store under a lease, with bounded
concurrency, one at a time per issue across every instance sharing the store (cancellations
excepted: they must reach a stage that is still running).

The store is the queue.  A claim (``Store.claim_job``) takes the oldest job whose issue is
free, records this process as its owner with a lease, and takes the issue's lock, all in
one transaction that no other claimer runs beside; so jobs of one issue run in the order
they arrived, on whichever instance claims them, while other issues keep flowing.  A job
whose issue is busy simply stays pending: it holds no slot.  The local webhook wakes the
claimer; jobs recorded by other instances are found by polling.

While a job runs its lease is renewed; an instance that dies stops renewing, and another
takes the job over once the lease runs out (attempt + 1: stages resume from their recorded
state).  A job that keeps getting interrupted is given up and reported instead of looping
forever.  ``shutdown`` (SIGTERM) stops claiming, lets running jobs finish within the grace
period, and releases the rest so another instance takes them at once.

The store calls of this bookkeeping (claim, renew, finish, release, the queue's length) run on
the store's threads (``Store.off_loop``), never on the event loop: on PostgreSQL each is a
round trip and a commit, and a claim may wait for another instance's claim, while the loop
must keep answering webhooks.  So ``lock_key`` and ``unlocked``, called inside the claim, run
on a store thread too: they must be plain functions of the job and the store.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable

from bot import logcontext
from bot.github.client import is_transient
from bot.store import Job, Store, Unschedulable

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# What ``give_up`` is told, for the comment.
INTERRUPTED = "The job was interrupted several times (the service restarted mid-work)."
NOT_SCHEDULED = "The job could not be scheduled ({error}); the service log has the details."
# How often the store is asked for jobs other instances recorded (and after a store error).
POLL_SECONDS = 1.0
# A woken claimer waits this long first, so a burst of deliveries costs one claim, not one each.
CLAIM_COALESCE_SECONDS = 0.02
# Kept out of the shutdown grace for interrupting and releasing what is still running.
RELEASE_SECONDS = 2.0

IssueKey = tuple[str, int | None]


def issue_key(job: Job) -> IssueKey:
    """The default lock: the repository and issue number the webhook recorded."""
    return (job.repo, job.issue)


def key_text(key: IssueKey) -> str:
    """How an issue lock is named in the store."""
    repo, issue = key
    return f"{repo}#{'' if issue is None else issue}"


class Worker:
    """Claims jobs from the store for ``concurrency`` concurrent runs; renews their leases."""

    def __init__(
        self,
        *,
        store: Store,
        run: Callable[[Job, int], Awaitable[None]],
        give_up: Callable[[Job, str], Awaitable[None]] | None = None,
        concurrency: int = 4,
        lock_key: Callable[[Job], IssueKey | None] = issue_key,
        instance: str | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = POLL_SECONDS,
        ended: Callable[[Job, str], None] = lambda job, state: None,
    ) -> None:
        self._store = store
        self._run = run
        self._give_up = give_up
        self._concurrency = concurrency
        # The job's issue lock, or None for a job that must reach a running stage (a cancel).
        self._lock_key = lock_key
        self.instance = instance or socket.gethostname() or "route-me"
        # One owner per process: a restart of this instance is a new owner, and expires the
        # leases of the process before it (see start).
        self.owner = f"{self.instance}:{uuid.uuid4().hex[:12]}"
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._running: dict[int, asyncio.Task[None]] = {}
        self._lost: set[int] = set()
        self._wake = asyncio.Event()
        # Told how each job ended ("completed", "failed", "given_up"), for /metrics.
        self._ended = ended
        self._idle = asyncio.Event()
        self._claiming = False
        self._tasks: list[asyncio.Task[None]] = []
        # Every job task until it has ended, including one recording its end after it left
        # ``_running``: shutdown waits for them all.
        self._jobs: set[asyncio.Task[None]] = set()
        # The queue's length as last read (by the claimer, at most once a poll), for /metrics.
        self.last_queued = 0
        self._queued_at = 0.0
        self.completed = 0
        self.failed = 0

    async def start(self) -> None:
        """Start claiming; jobs an earlier process of this instance left running resume now."""
        expired = await self._store.off_loop(self._store.expire_leases, owner_prefix=f"{self.instance}:",
                                             keep=self.owner)
        if expired:
            log.info("resuming %d job(s) left running by this instance's previous process", expired)
        self._claiming = True
        self._wake.set()
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="route-me-claimer"),
            asyncio.create_task(self._renew_loop(), name="route-me-leases"),
        ]

    def submit(self, job_id: int) -> None:
        """A job was recorded here: look for work now rather than at the next poll."""
        self._idle.clear()
        self._wake.set()

    async def drain(self) -> None:
        """Wait until nothing runs here and no job this instance could claim is left (tests)."""
        await self._idle.wait()

    @property
    def pending(self) -> int:
        """Jobs waiting to run (on any instance): recorded and not yet claimed.  Reads the store
        on the calling thread (tests, tools); the service asks ``queued`` instead."""
        return self._store.queued_jobs()

    async def queued(self) -> int:
        """``pending``, read on a store thread (for /healthz); raises the store's error."""
        self.last_queued = await self._store.off_loop(self._store.queued_jobs)
        self._queued_at = asyncio.get_running_loop().time()
        return self.last_queued

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def alive(self) -> bool:
        """Whether the claimer and the lease renewal are still running (for /healthz)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def stop(self) -> None:
        """Stop at once: running jobs are interrupted and released to be run again."""
        await self.shutdown(grace=0)

    async def stop_claiming(self) -> None:
        """Take no more jobs (SIGTERM's first step); running ones go on."""
        self._claiming = False
        claimer = self._tasks[0] if self._tasks else None
        if claimer is not None and not claimer.done():
            # Not cancelled in the middle of a claim: the claim goes on in its thread, and a job
            # it takes must become one of ours (to finish or release), not wait out its lease.
            # Woken, the claimer ends after the claim in flight.
            self._wake.set()
            done, _ = await asyncio.wait([claimer], timeout=RELEASE_SECONDS)
            if not done:  # the store hangs: give up on the claim (its job's lease runs out)
                log.warning("a claim did not end within %.0f s; stopped without it", RELEASE_SECONDS)
                claimer.cancel()
            await asyncio.gather(claimer, return_exceptions=True)

    async def shutdown(self, *, grace: float) -> None:
        """Stop claiming; wait up to ``grace`` seconds for running jobs, then interrupt the
        rest and release them (pending again, the attempt not counted) for another instance."""
        await self.stop_claiming()
        grace = max(0.0, grace - RELEASE_SECONDS) if grace else 0.0
        running = list(self._running.values())
        if running and grace > 0:
            log.info("shutting down: waiting up to %.0f s for %d running job(s)", grace, len(running))
            await asyncio.wait(running, timeout=grace)
        left = list(self._running.items())
        for _, task in left:
            task.cancel()
        await asyncio.gather(*(task for _, task in left), return_exceptions=True)
        for job_id, _ in left:
            try:
                if await self._store.off_loop(self._store.release_job, job_id, owner=self.owner):
                    log.info("released job %d for another instance", job_id)
            except Exception:  # noqa: BLE001 - its lease runs out instead, and it is taken over then
                log.exception("could not release job %d", job_id)
        # Jobs that ended meanwhile may still be recording it.
        await asyncio.gather(*self._jobs, return_exceptions=True)
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        self._tasks = []

    # claiming ------------------------------------------------------------------------

    def _key(self, job: Job) -> str | None:
        key = self._lock_key(job)
        return None if key is None else key_text(key)

    async def _claim_loop(self) -> None:
        while self._claiming:
            self._wake.clear()
            await self._claim_while_room()
            if not self._claiming:
                return
            await self._count_queue()
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                continue
            # Under a burst every delivery wakes the claimer; one claim per short interval
            # sees them all (a claim reads the queue, and a storm makes it long).
            await asyncio.sleep(CLAIM_COALESCE_SECONDS)

    async def _claim_while_room(self) -> None:
        while self._claiming and len(self._running) < self._concurrency:
            try:
                job = await self._store.off_loop(self._store.claim_job, self.owner, lease_seconds=self._lease,
                                                 lock_key=self._key)
            except Unschedulable as unschedulable:
                await self._unschedulable(unschedulable.job, unschedulable.cause)
                continue
            except Exception:  # noqa: BLE001 - a store error must never end the claimer
                log.exception("could not claim a job; trying again in %.1f s", self._poll)
                self.failed += 1
                return
            if job is None:
                if not self._jobs:  # not ``_running``: a job still recording its end holds its issue
                    self._idle.set()
                return
            self._idle.clear()
            task = asyncio.create_task(self._execute(job), name=f"route-me-job-{job.id}")
            self._running[job.id] = task
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _count_queue(self) -> None:
        """Refresh ``last_queued`` for /metrics, at most once a poll (a storm wakes the claimer
        every few milliseconds)."""
        if asyncio.get_running_loop().time() - self._queued_at < self._poll:
            return
        try:
            await self.queued()
        except Exception:  # noqa: BLE001 - the claim just failed or will: it logs the error
            self._queued_at = asyncio.get_running_loop().time()

    async def _unschedulable(self, job: Job, exc: Exception) -> None:
        """The job's lock could not be worked out (say, a store error): the store failed it;
        say so, rather than leave it pending, unanswered."""
        logcontext.bind_job(delivery=job.delivery_id, installation_id=job.installation_id, repo_name=job.repo,
                            number=job.issue)
        context = f"delivery={job.delivery_id} event={job.event} repo={job.repo} issue={job.issue}"
        log.error("could not schedule the job: %s", context, exc_info=exc)
        self.failed += 1
        self._ended(job, "failed")
        if self._give_up is not None:
            await self._report(self._give_up(job, NOT_SCHEDULED.format(error=type(exc).__name__)), context)

    # running -------------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        try:
            await self._execute_claimed(job)
        finally:
            self._running.pop(job.id, None)
            self._lost.discard(job.id)
            self._wake.set()

    async def _execute_claimed(self, job: Job) -> None:
        logcontext.bind_job(delivery=job.delivery_id, installation_id=job.installation_id, repo_name=job.repo,
                            number=job.issue)
        context = f"delivery={job.delivery_id} event={job.event} repo={job.repo} issue={job.issue}"
        attempt = job.attempts
        if attempt > MAX_ATTEMPTS:
            log.error("giving up after %d interrupted attempts: %s", attempt - 1, context)
            await self._finish(job, error="interrupted too many times")
            self.failed += 1
            self._ended(job, "given_up")
            if self._give_up is not None:
                await self._report(self._give_up(job, INTERRUPTED), context)
            return
        if attempt > 1:
            log.info("resuming job %d (attempt %d): %s", job.id, attempt, context)
        try:
            await self._run(job, attempt)
        except asyncio.CancelledError:
            if job.id in self._lost:
                log.warning("job %d was taken over by another instance; stopped here: %s", job.id, context)
                return
            raise  # shutting down: shutdown() releases the job
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the pool
            if is_transient(exc):  # a network hiccup is expected: one line, no traceback
                log.error("job failed: %s: %s: %s", context, type(exc).__name__, exc)
            else:
                log.exception("job failed: %s", context)
            await self._finish(job, error=f"{type(exc).__name__}: {exc}"[:2000])
            self.failed += 1
            self._ended(job, "failed")
        else:
            await self._finish(job)
            self.completed += 1
            self._ended(job, "completed")

    async def _finish(self, job: Job, *, error: str | None = None) -> None:
        # No longer ours to renew (a report still being posted must not look like a lost lease),
        # nor to interrupt and release at shutdown: its end is being recorded.
        self._running.pop(job.id, None)
        try:
            if not await self._store.off_loop(self._store.finish_job, job.id, error=error, owner=self.owner):
                log.warning("job %d had been taken over before it ended here; its new owner records it", job.id)
        except Exception:  # noqa: BLE001 - the lease runs out and the job is taken over (stages resume)
            log.exception("could not record the end of job %d", job.id)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            ids = list(self._running)
            if not ids:
                continue
            try:
                held = set(await self._store.off_loop(self._store.renew_leases, self.owner, ids,
                                                      lease_seconds=self._lease))
            except Exception:  # noqa: BLE001 - try again; past the lease another instance takes over
                log.exception("could not renew the leases of %d job(s)", len(ids))
                continue
            for job_id in ids:
                task = self._running.get(job_id)
                if job_id not in held and task is not None and not task.done():
                    # Our lease ran out (a stall longer than the lease) and another instance
                    # took the job: two runs of one job must not go on side by side.
                    self._lost.add(job_id)
                    task.cancel()

    @staticmethod
    async def _report(awaitable: Awaitable[None], context: str) -> None:
        try:
            await awaitable
        except Exception:  # noqa: BLE001
            log.exception("could not report a job given up: %s", context)
