"""The store's slow calls do not hold the event loop: a batch commit or a claim that waits on
the database (a lock held by another connection, as another process or instance would hold
it) leaves the loop answering, and group commit still batches what arrives meanwhile.

Each test makes the store really slow, with a second connection to the same database holding
a lock the store's call needs: the SQLite file's write lock, a PostgreSQL table lock, or the
claim advisory lock.  A ``threading.Timer`` lets go of it, so a loop that is blocked (the
defect these tests guard against) makes them fail on time instead of hanging.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from bot.recorder import DeliveryRecorder
from bot.store import Job, NewJob, open_store
from bot.store.postgres import CLAIM_LOCK
from bot.worker import Worker
from tests.fakes.deliveries import issue_labeled

HOLD_SECONDS = 1.0


def job(n: int) -> NewJob:
    return NewJob(event="issues", installation_id=1, repo="o/r", issue=n, payload=b'{"n": %d}' % n)


class Blocker:
    """A second connection holding a lock that the store's writes need, released by a timer."""

    def __init__(self, url: str, *, lock: str) -> None:
        self.released = threading.Event()
        # Run on the timer's thread just before the lock goes: what must hold while the store
        # waits is checked there (checked after ``released``, the store may already be done).
        self.before_release: Callable[[], None] = lambda: None
        if url.startswith("postgresql"):
            self._pg = psycopg.connect(url)
            # A migration or a maintenance job would hold this: reads go on, writes wait.
            self._pg.execute(lock)
            self._release: Callable[[], None] = self._pg.close  # rolls the transaction back
        else:
            self._db = sqlite3.connect(url, isolation_level=None, check_same_thread=False)
            self._db.execute("BEGIN IMMEDIATE")  # another process writing to the file
            self._release = self._db.close  # rolls the transaction back
        self._timer = threading.Timer(HOLD_SECONDS, self.release)
        self._timer.start()
        self.since = time.monotonic()

    def release(self) -> None:
        if not self.released.is_set():
            self.before_release()
            self._release()
            self.released.set()

    def close(self) -> None:
        self._timer.cancel()
        self.release()


@pytest.fixture
def blocked(store_url: str) -> Iterator[Callable[..., Blocker]]:
    made: list[Blocker] = []

    def make(lock: str = "LOCK TABLE deliveries IN EXCLUSIVE MODE") -> Blocker:
        made.append(Blocker(store_url, lock=lock))
        return made[-1]

    yield make
    for blocker in made:
        blocker.close()


async def ticks_while_held(blocker: Blocker) -> int:
    """How many times the loop woke a 10 ms sleeper during most of the blocker's hold (stopping
    short of its release, so what is checked next is still under the lock): a blocked loop
    wakes it about once, however long it was blocked."""
    count = 0
    until = blocker.since + HOLD_SECONDS * 0.7
    while time.monotonic() < until and not blocker.released.is_set():
        await asyncio.sleep(0.01)
        count += 1
    return count


async def test_a_slow_batch_commit_leaves_the_loop_free_and_the_next_batch_forms(store_url, blocked):
    store = open_store(store_url)
    recorder = DeliveryRecorder(store)
    try:
        blocker = blocked()
        answers: list[asyncio.Future[int | None | bool]] = []
        answered_while_held: list[bool] = []
        blocker.before_release = lambda: answered_while_held.append(any(f.done() for f in answers))
        first = [recorder.record(f"a{n}", "issues", job(n)) for n in range(3)]
        answers += first
        await asyncio.sleep(0.05)  # the first batch is committing now, waiting for the lock
        assert recorder.batches == 1
        # Deliveries read while it waits: answered only after a commit of their own.
        second = [recorder.record(f"b{n}", "issues", job(n)) for n in range(5)]
        second.append(recorder.record("a1", "issues", job(1)))  # a redelivery across batches
        answers += second
        ticks = await ticks_while_held(blocker)
        assert ticks >= 20, f"the loop woke only {ticks} times in {HOLD_SECONDS} s: the commit held it"
        await asyncio.wait_for(asyncio.to_thread(blocker.released.wait), 10)
        assert answered_while_held == [False], "answered before the batch was durable"
        results = await asyncio.wait_for(asyncio.gather(*first, *second), 10)
        assert all(isinstance(r, int) for r in results[:8]) and results[8] is False
        assert recorder.batches == 2  # everything that arrived during the wait: one transaction
        assert len({*results[:8]}) == 8
    finally:
        store.close()


async def test_a_claim_waiting_on_another_instance_leaves_intake_and_healthz_answering(
        make_bot, github, postgres_url):
    bot = await make_bot(ROUTE_ME_DB=postgres_url)
    github.create_repo("o", "r", {"README.md": "x"})
    # Another instance holding the claim lock (mid-claim, or stalled in one): our claims wait.
    holder = psycopg.connect(postgres_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (CLAIM_LOCK,))
    timer = threading.Timer(HOLD_SECONDS * 3, lambda: holder.execute("SELECT pg_advisory_unlock_all()"))
    timer.start()
    try:
        started = time.monotonic()
        first = await bot.send("issues", issue_labeled(owner="o", repo="r", number=1, label="route-me"))
        assert first.status == 202
        await asyncio.sleep(0.2)  # the claimer is waiting for the lock now
        healthz = await bot.client.get("/healthz")
        second = await bot.send("issues", issue_labeled(owner="o", repo="r", number=2, label="route-me"))
        answered = time.monotonic() - started
        assert healthz.status == 200 and second.status == 202
        assert answered < HOLD_SECONDS, f"took {answered:.2f} s: the claim held the event loop"
        assert bot.worker.completed == 0  # nothing claimed while the lock is held
    finally:
        timer.join()
        holder.close()
    await bot.settle()
    assert bot.worker.completed + bot.worker.failed == 2


async def test_shutdown_during_a_claim_releases_what_the_claim_took(postgres_url):
    store = open_store(postgres_url)
    job_id = store.record_delivery("d1", "issues", job(1))
    holder = psycopg.connect(postgres_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (CLAIM_LOCK,))
    # Should the claim hold the loop (the defect), the lock still goes, and the test fails.
    safety = threading.Timer(5.0, holder.close)
    safety.start()
    ran = asyncio.Event()

    async def run(claimed: Job, attempt: int) -> None:
        ran.set()
        await asyncio.Event().wait()  # runs until interrupted

    worker = Worker(store=store, run=run, concurrency=1, poll_seconds=0.05)
    await worker.start()  # its first claim waits for the lock
    try:
        await asyncio.sleep(0.2)
        stopping = asyncio.create_task(worker.stop())
        await asyncio.sleep(0.2)
        assert not ran.is_set()
        holder.execute("SELECT pg_advisory_unlock_all()")  # the claim goes through now, mid-stop
        await asyncio.wait_for(stopping, 10)
        # Whether or not the job got to start: it is pending again, with no owner and no attempt
        # counted, for another instance at once (not after its lease runs out).
        again = store.job(job_id)
        assert (again.status, again.owner, again.attempts) == ("pending", None, 0)
    finally:
        safety.cancel()
        holder.close()
        store.close()


async def test_ledger_rows_are_written_off_the_loop_and_once_each(store_url, blocked):
    from bot.store.ledger_writer import LedgerWriter

    store = open_store(store_url)
    writer = LedgerWriter(store)
    try:
        blocker = blocked("LOCK TABLE ledger IN EXCLUSIVE MODE")

        def row(stage: str) -> dict[str, object]:
            return {"at": time.time(), "installation_id": 1, "repo": "o/r", "issue": 7, "stage": stage,
                    "cost_usd": 0.25}

        # Two jobs' model calls end while the store is busy: both rows wait, the loop does not.
        writes = [asyncio.ensure_future(writer.write(row(stage))) for stage in ("plan", "judge")]
        ticks = await ticks_while_held(blocker)
        assert ticks >= 20, f"the loop woke only {ticks} times in {HOLD_SECONDS} s: the ledger write held it"
        assert await asyncio.wait_for(asyncio.gather(*writes), 10) == [True, True]
        assert sorted(r["stage"] for r in store.ledger_rows()) == ["judge", "plan"]  # no row twice
        assert store.spent_usd(installation_id=1) == 0.5 and writer.backlog == []
    finally:
        store.close()


async def test_a_budget_reservation_waiting_on_another_instance_leaves_the_loop_free(store_url, blocked):
    from bot.models.budget import Budget
    from bot.models.port import ModelSpec
    from bot.models.shared_budget import StoreBudgetGate

    store = open_store(store_url)
    gate = StoreBudgetGate(store, owner="a:1", ttl_seconds=60)
    daily = Budget(name="daily budget", limit_usd=1.0, key="daily:1", refresh=lambda: store.spent_usd(installation_id=1))
    try:
        # Another instance mid-reservation (or mid-claim): it holds the lock reservations take.
        blocker = blocked(f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})")
        admitted = asyncio.ensure_future(
            gate.admit([daily], candidate=ModelSpec.parse("anthropic:claude-opus-5-5"), estimate_usd=0.4))
        ticks = await ticks_while_held(blocker)
        assert ticks >= 20, f"the loop woke only {ticks} times in {HOLD_SECONDS} s: the reservation held it"
        assert not admitted.done()  # still waiting for the lock: the check and the hold are one step
        reservation = await asyncio.wait_for(admitted, 10)
        assert len(reservation) == 1
        await asyncio.wait_for(gate.release(reservation), 10)
    finally:
        store.close()
