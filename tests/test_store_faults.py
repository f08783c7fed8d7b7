"""Store faults on a real filesystem that fills up (tests/fakes/small_disk.py): the checkpoint thread
outlives a full disk, the store says what is wrong, and ledger rows are retried, never lost."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot.store import NewJob, SqliteStore
from bot.store.ledger_writer import LedgerWriter
from bot.worker import Worker
from tests.fakes.small_disk import small_disk


def ledger_row(stage: str, *, padding: int = 0) -> dict:
    # Random padding (incompressible, larger than the WAL's free pages) makes the write need new
    # disk blocks, which a full disk refuses.
    row = {"at": time.time(), "installation_id": 1, "repo": "octo-org/calc", "issue": 7, "stage": stage,
           "cost_usd": 0.25}
    if padding:
        row["padding"] = os.urandom(padding).hex()
    return row


@pytest.fixture
def disk(tmp_path: Path):
    with small_disk(tmp_path / "disk", size_kib=8192) as mounted:
        yield mounted


async def wait_for(predicate, *, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_the_checkpoint_thread_outlives_a_full_disk_and_the_store_says_so(disk):
    store = SqliteStore(disk.path / "state.db")
    try:
        store.add_ledger_row(ledger_row("plan", padding=50_000))
        disk.fill()
        with pytest.raises(Exception, match="full"):
            store.add_ledger_row(ledger_row("implement", padding=300_000))
        assert "full" in (store.health() or "")
        disk.free()
        store.add_ledger_row(ledger_row("judge", padding=50_000))
        assert store.health() is None  # a write went through: healthy again
        before = store.checkpoints
        await wait_for(lambda: store.checkpoints > before)  # the thread is still checkpointing
        assert store._checkpointer is not None and store._checkpointer.is_alive()
    finally:
        store.close()


async def test_the_checkpoint_failing_is_reported_and_recovers(disk):
    store = SqliteStore(disk.path / "state.db")
    try:
        # Many WAL frames waiting: the checkpoint has to grow the database file.
        store.add_ledger_row(ledger_row("plan", padding=200_000))
        await wait_for(lambda: store.checkpoints > 0)
        with store._connect(transaction=True) as execute:  # frames the checkpoint must copy
            for n in range(3):
                execute("INSERT INTO ledger (at, installation_id, repo, issue, stage, data) VALUES (?, ?, ?, ?, ?, ?)",
                        (time.time(), 1, "o/r", n, "x", os.urandom(60_000).hex()))
        disk.fill()
        await wait_for(lambda: store.checkpoint_error is not None)
        assert "checkpoint" in (store.health() or "")
        disk.free()
        await wait_for(lambda: store.checkpoint_error is None)
        assert store.health() is None
    finally:
        store.close()


async def test_a_ledger_write_on_a_briefly_full_disk_is_retried_not_lost(disk, caplog):
    store = SqliteStore(disk.path / "state.db")
    try:
        writer = LedgerWriter(store)
        disk.fill()
        write = asyncio.create_task(writer.write(ledger_row("implement", padding=300_000)))
        await asyncio.sleep(0.3)
        assert not write.done()  # still retrying
        disk.free()
        assert await write is True
        assert [r["stage"] for r in store.ledger_rows()] == ["implement"]
        assert store.spent_usd(repo="octo-org/calc") == pytest.approx(0.25)
    finally:
        store.close()


async def test_a_ledger_row_that_cannot_be_written_is_kept_and_written_with_the_next(disk, caplog):
    store = SqliteStore(disk.path / "state.db")
    try:
        writer = LedgerWriter(store, delays=(0.01, 0.01))
        disk.fill()
        caplog.set_level(logging.WARNING)
        assert await writer.write(ledger_row("plan", padding=300_000)) is False
        assert len(writer.backlog) == 1
        assert any(r.levelno == logging.ERROR and "COST NOT RECORDED" in r.getMessage() for r in caplog.records)
        disk.free()
        assert await writer.write(ledger_row("implement")) is True
        assert [r["stage"] for r in store.ledger_rows()] == ["plan", "implement"]
        assert writer.backlog == []
    finally:
        store.close()


# -- the whole service on a full disk --------------------------------------------------------------

def big_labeled(padding: int) -> dict:
    from tests import scenario as sc
    from tests.fakes.deliveries import issue_labeled

    payload = issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                            title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER)
    # A long repository description of random text (a field no stage reads): recording this
    # delivery needs new disk blocks.
    payload["repository"]["description"] = os.urandom(padding).hex()
    return payload


async def test_a_full_disk_refuses_deliveries_says_so_and_work_resumes_when_space_is_back(
        tmp_path, github, anthropic, openai):
    from tests import scenario as sc
    from tests.fakes.app_keys import generate_app_key
    from tests.fakes.harness import bot_env
    from tests.fakes.served_bot import ServedBot

    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    private, _ = generate_app_key()
    with small_disk(tmp_path / "state", size_kib=4096) as disk:
        env = bot_env(tmp_path, github_url=github.url, private_key=private, anthropic_url=anthropic.base_url,
                      openai_url=openai.base_url, ROUTE_ME_DB=str(disk.path / "route-me.db"))
        bot = ServedBot(env, log=tmp_path / "bot.log")
        await bot.start()
        try:
            assert (await bot.healthz())[0] == 200
            disk.fill()
            payload = big_labeled(400_000)
            status = await bot.send("issues", payload, delivery_id="during-the-fault")
            assert status == 503, bot.output()[-2000:]  # never a 202 for a delivery not recorded
            health, body = await bot.healthz()
            assert health == 503 and "full" in body["status"], body
            assert github.comments(sc.OWNER, sc.REPO, sc.ISSUE) == []

            disk.free()
            async with asyncio.timeout(10):  # health comes back by itself (a probe write)
                while (await bot.healthz())[0] != 200:
                    await asyncio.sleep(0.2)
            # GitHub's redelivery of the refused delivery is recorded and run now.
            assert await bot.send("issues", payload, delivery_id="during-the-fault") == 202
            await bot.settle()
            comments = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
            assert len(comments) == 1 and "route-me:plan" in comments[0]["body"]
            assert "WAL checkpoint" not in (await bot.healthz())[1]["status"]
        finally:
            await bot.stop()


async def test_an_unwritable_shm_file_stops_the_start_with_a_clear_message(tmp_path):
    """A -shm file left by another user (say, root ran a command on the volume) must not let the
    service start and fail every write later, or die of SIGBUS without a word."""
    import shutil
    import subprocess
    import tempfile

    from tests.fakes.app_keys import generate_app_key
    from tests.fakes.harness import bot_env
    from tests.fakes.served_bot import ROUTE_ME, free_port

    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("this test runs the service as another user, which needs root")
        pytest.skip("needs root to run the service as another user")
    state = Path(tempfile.mkdtemp(prefix="route-me-shm-", dir="/tmp"))
    try:
        state.chmod(0o777)
        db = state / "route-me.db"
        SqliteStore(db).close()
        shutil.chown(db, "nobody")
        (state / "route-me.db-shm").write_bytes(b"\0" * 32768)  # root's, mode 0644
        private, _ = generate_app_key()
        env = bot_env(tmp_path, github_url="http://127.0.0.1:9", private_key=private, ROUTE_ME_DB=str(db),
                      ROUTE_ME_DATA_DIR=str(state / "snapshots"), PORT=str(free_port()), HOST="127.0.0.1",
                      PATH=os.environ.get("PATH", ""))
        done = await asyncio.to_thread(subprocess.run, [str(ROUTE_ME), "serve"], env=env, user="nobody",
                                       cwd=state, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{db}-shm is not writable" in done.stderr and "owner uid 0" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    finally:
        shutil.rmtree(state, ignore_errors=True)


def exhaust(store: SqliteStore) -> int:
    """Commit small rows until SQLite answers "database or disk is full": the WAL's reusable pages
    are taken too, so every later write needs a block the disk does not have."""
    n = 0
    while True:
        try:
            store.add_ledger_row({"at": 0.0, "repo": "filler/filler", "stage": "filler", "n": n, "pad": "x" * 2000})
        except sqlite3.OperationalError as exc:
            assert "full" in str(exc)
            return n
        n += 1


async def test_a_job_recorded_before_the_disk_filled_runs_once_space_is_back(tmp_path):
    with small_disk(tmp_path / "disk", size_kib=8192) as disk:
        store = SqliteStore(disk.path / "state.db")
        try:
            payload = json.dumps({"action": "labeled"}).encode()
            job_id = store.record_delivery("before-the-fault", "issues",
                                           NewJob(event="issues", installation_id=1, repo="o/r", issue=1, payload=payload))
            disk.fill()
            exhaust(store)
            ran: list[int] = []

            async def run(job, attempt):
                ran.append(job.id)

            worker = Worker(store=store, run=run, poll_seconds=0.1)
            await worker.start()
            try:
                worker.submit(job_id)
                await asyncio.sleep(0.5)
                assert ran == []  # the claim cannot be written
                disk.free()
                async with asyncio.timeout(5):
                    while ran != [job_id]:
                        await asyncio.sleep(0.05)
            finally:
                await worker.stop()
        finally:
            store.close()
