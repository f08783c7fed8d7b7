"""The worker: bounded concurrency, one job at a time per issue, waiting jobs hold no slot, store errors."""

from __future__ import annotations

import asyncio
import json
import logging

from bot.store import Job, NewJob, SqliteStore
from bot.worker import Worker, issue_key


def record(store: SqliteStore, issue: int | None, *, n: int, repo: str = "o/r", cancel: bool = False) -> int:
    body = json.dumps({"n": n, "cancel": cancel}).encode()
    job_id = store.record_delivery(f"d-{n}", "issues", NewJob("issues", 1, repo, issue, body))
    assert isinstance(job_id, int)
    return job_id


def label_of(job: Job) -> int:
    return json.loads(job.payload)["n"]


async def wait_for(condition, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0)
    await asyncio.wait_for(poll(), timeout)


async def test_jobs_waiting_for_a_busy_issue_do_not_stall_other_issues(tmp_path):
    store = SqliteStore(tmp_path / "db")
    gate = asyncio.Event()
    ran: list[int] = []

    async def run(job: Job, attempt: int) -> None:
        ran.append(label_of(job))
        if label_of(job) == 1:
            await gate.wait()  # issue 7's first job runs for a long time

    worker = Worker(store=store, run=run, concurrency=2)
    await worker.start()
    try:
        for n in range(1, 6):  # five jobs for issue 7, more than there are slots
            worker.submit(record(store, 7, n=n))
        worker.submit(record(store, 8, n=100))
        await wait_for(lambda: 100 in ran)  # issue 8 is not stuck behind issue 7's queue
        assert ran == [1, 100]
        assert worker.pending == 4
        gate.set()
        await asyncio.wait_for(worker.drain(), 5)
        assert ran == [1, 100, 2, 3, 4, 5]  # issue 7's jobs in arrival order
        assert worker.completed == 6 and worker.pending == 0
    finally:
        await worker.stop()
        store.close()


async def test_one_job_at_a_time_per_issue_and_never_more_than_the_bound(tmp_path):
    store = SqliteStore(tmp_path / "db")
    running: dict[int | None, int] = {}
    peak_per_issue = peak_total = 0

    async def run(job: Job, attempt: int) -> None:
        nonlocal peak_per_issue, peak_total
        running[job.issue] = running.get(job.issue, 0) + 1
        peak_per_issue = max(peak_per_issue, running[job.issue])
        peak_total = max(peak_total, sum(running.values()))
        # Longer than a claim, which is a hop to a store thread and back: the slots can fill.
        await asyncio.sleep(0.01)
        running[job.issue] -= 1

    worker = Worker(store=store, run=run, concurrency=3)
    await worker.start()
    try:
        for n in range(40):
            worker.submit(record(store, n % 5, n=n))
        await asyncio.wait_for(worker.drain(), 10)
        assert worker.completed == 40
        assert peak_per_issue == 1
        assert peak_total == 3
    finally:
        await worker.stop()
        store.close()


async def test_an_unlocked_job_reaches_a_busy_issue(tmp_path):
    store = SqliteStore(tmp_path / "db")
    gate = asyncio.Event()
    ran: list[int] = []

    async def run(job: Job, attempt: int) -> None:
        ran.append(label_of(job))
        if label_of(job) == 1:
            await gate.wait()

    worker = Worker(store=store, run=run, concurrency=2,
                    lock_key=lambda job: None if json.loads(job.payload)["cancel"] else issue_key(job))
    await worker.start()
    try:
        worker.submit(record(store, 7, n=1))
        worker.submit(record(store, 7, n=2))
        worker.submit(record(store, 7, n=3, cancel=True))
        await wait_for(lambda: 3 in ran)
        assert ran == [1, 3]  # the cancellation did not wait behind job 2
        gate.set()
        await asyncio.wait_for(worker.drain(), 5)
        assert ran == [1, 3, 2]
    finally:
        await worker.stop()
        store.close()


class FlakyStore(SqliteStore):
    """The real store, whose claim fails once (a locked or broken database)."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.failures = 1

    def claim_job(self, owner, **kwargs):
        if self.failures:
            self.failures -= 1
            raise OSError("disk I/O error")
        return super().claim_job(owner, **kwargs)


async def test_a_store_error_is_logged_and_the_worker_keeps_running(tmp_path, caplog):
    store = FlakyStore(tmp_path / "db")
    ran: list[int] = []

    async def run(job: Job, attempt: int) -> None:
        ran.append(label_of(job))

    caplog.set_level(logging.ERROR)
    worker = Worker(store=store, run=run, concurrency=1, poll_seconds=0.05)
    await worker.start()
    try:
        worker.submit(record(store, 7, n=1))
        worker.submit(record(store, 7, n=2))
        await asyncio.wait_for(worker.drain(), 5)
        assert ran == [1, 2]  # the failed claim lost nothing: the jobs stayed in the store
        assert worker.alive
        assert worker.failed == 1
        assert any("could not claim a job" in r.getMessage() for r in caplog.records)
    finally:
        await worker.stop()
        store.close()


async def test_jobs_left_by_a_previous_process_resume_in_order(tmp_path):
    store = SqliteStore(tmp_path / "db")
    first, second = record(store, 7, n=1), record(store, 7, n=2)
    store.start_job(first)  # the crashed process had started it
    ran: list[tuple[int, int]] = []

    async def run(job: Job, attempt: int) -> None:
        ran.append((label_of(job), attempt))

    worker = Worker(store=store, run=run, concurrency=2)
    await worker.start()
    try:
        await asyncio.wait_for(worker.drain(), 5)
        assert ran == [(1, 2), (2, 1)]
        assert store.job(second).status == "done"
    finally:
        await worker.stop()
        store.close()


async def test_healthz_says_so_when_no_worker_is_running(make_bot):
    bot = await make_bot()
    assert (await bot.client.get("/healthz")).status == 200
    await bot.worker.stop()  # as if every worker task had ended
    response = await bot.client.get("/healthz")
    assert response.status == 503
    assert (await response.json())["status"] == "worker stopped"
