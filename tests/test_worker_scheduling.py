"""A job whose lock cannot be worked out is failed and reported, not left pending until a restart."""

from __future__ import annotations

import asyncio
import json

from bot.store import Job, NewJob, SqliteStore
from bot.worker import Worker, issue_key


def record(store: SqliteStore, issue: int, *, n: int) -> int:
    body = json.dumps({"n": n}).encode()
    job_id = store.record_delivery(f"d-{n}", "issues", NewJob("issues", 1, "o/r", issue, body))
    assert isinstance(job_id, int)
    return job_id


async def test_a_job_whose_lock_cannot_be_computed_is_failed_and_reported(tmp_path) -> None:
    store = SqliteStore(tmp_path / "db")
    ran: list[int] = []
    given_up: list[tuple[int, str]] = []

    def explode(job: Job) -> tuple[str, int | None]:
        if json.loads(job.payload)["n"] == 1:
            raise RuntimeError("store is locked")
        return issue_key(job)

    async def run(job: Job, attempt: int) -> None:
        ran.append(json.loads(job.payload)["n"])

    async def give_up(job: Job, what: str) -> None:
        given_up.append((job.id, what))

    worker = Worker(store=store, run=run, give_up=give_up, concurrency=1, lock_key=explode)
    await worker.start()
    try:
        bad, good = record(store, 7, n=1), record(store, 7, n=2)
        worker.submit(bad)
        worker.submit(good)
        await asyncio.wait_for(worker.drain(), 5)
        assert store.job(bad).status == "failed"   # not 'pending' until the next restart
        assert given_up == [(bad, "The job could not be scheduled (RuntimeError); the service log has the details.")]
        assert ran == [2] and store.job(good).status == "done"  # the issue was not left locked
        assert worker.failed == 1 and worker.completed == 1
        assert store.unfinished_jobs() == []
    finally:
        await worker.stop()
        store.close()
