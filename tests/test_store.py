"""The store, run against both backends (SQLite and a real PostgreSQL): group commit,
de-duplication inside a batch, compressed payloads, pruning, restart, migrations."""

from __future__ import annotations

import asyncio
import json
import time

from bot.recorder import DeliveryRecorder
from bot.store import NewJob, SqliteStore, open_store


def job(payload: bytes = b'{"action": "labeled"}') -> NewJob:
    return NewJob(event="issues", installation_id=42, repo="o/r", issue=7, payload=payload)


def test_batch_deduplicates_within_itself_and_keeps_order(store_url):
    store = open_store(store_url)
    results = store.record_deliveries([("a", "issues", job()), ("b", "ping", None), ("a", "issues", job())])
    assert isinstance(results[0], int) and results[1] is None and results[2] is False
    assert store.record_delivery("b", "ping", None) is False
    store.close()


def test_payload_round_trips_and_survives_a_reopen(store_url):
    body = b'{"issue": {"body": "' + b"x" * 20_000 + b'"}}'
    store = open_store(store_url)
    job_id = store.record_delivery("d1", "issues", job(body))
    store.close()
    again = open_store(store_url)
    assert again.job(job_id).payload == body
    assert [j.id for j in again.unfinished_jobs()] == [job_id]
    assert again.start_job(job_id) == 1 and again.start_job(job_id) == 2  # attempts count up
    again.finish_job(job_id)
    assert again.unfinished_jobs() == []
    again.close()


def test_prune_drops_only_old_finished_rows(store_url):
    store = open_store(store_url)
    done = store.record_delivery("old", "issues", job())
    store.finish_job(done)
    pending = store.record_delivery("old-pending", "issues", job())
    assert store.prune(older_than_seconds=3600) == 0
    time.sleep(0.01)
    assert store.prune(older_than_seconds=0) == 3  # the finished job and both delivery ids
    assert [j.id for j in store.unfinished_jobs()] == [pending]
    store.close()


async def test_recorder_commits_concurrent_deliveries_in_one_batch(store_url):
    store = open_store(store_url)
    recorder = DeliveryRecorder(store)
    results = await asyncio.gather(*(recorder.record(f"d{n}", "issues", job()) for n in range(20)),
                                   recorder.record("d3", "issues", job()))
    assert recorder.batches == 1
    assert all(isinstance(r, int) for r in results[:20]) and results[20] is False
    store.close()


def test_a_batch_with_a_job_commits_with_a_full_sync_then_returns_to_normal(tmp_path):
    statements: list[str] = []
    store = SqliteStore(tmp_path / "s.db")
    store._db.set_trace_callback(statements.append)
    store.record_deliveries([("plain", "issues", None)])
    assert not any("synchronous=FULL" in s for s in statements)
    store.record_deliveries([("with-job", "issues", job())])
    assert statements.index("PRAGMA synchronous=FULL") < statements.index("COMMIT", 3)
    assert statements[-1] == "PRAGMA synchronous=NORMAL"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()


def test_saving_issue_state_can_refuse_to_overwrite_a_cancellation(store_url):
    store = open_store(store_url)
    assert store.save_issue_state("o/r", 7, {"state": "planning"}, unless_state="cancelled") is True
    assert store.save_issue_state("o/r", 7, {"state": "cancelled"}) is True
    # a stage still holding "planning" must not bring the issue back to life
    assert store.save_issue_state("o/r", 7, {"state": "planning"}, unless_state="cancelled") is False
    assert store.issue_state("o/r", 7) == {"state": "cancelled"}
    # a deliberate restart (a new label) may
    assert store.save_issue_state("o/r", 7, {"state": "planning"}) is True
    assert store.issue_state("o/r", 7) == {"state": "planning"}
    store.close()


def test_spent_usd_sums_known_costs_and_unpriced_calls_counts_the_rest(store_url):
    store = open_store(store_url)
    try:
        for at, cost in ((100.0, 0.25), (200.0, None), (300.0, 0.5), (400.0, None)):
            store.add_ledger_row({"at": at, "installation_id": 42, "repo": "o/r", "issue": 7, "stage": "plan",
                                  "cost_usd": cost})
        assert store.spent_usd(installation_id=42) == 0.75
        assert store.unpriced_calls(installation_id=42) == 2
        assert store.spent_usd(installation_id=42, since=250.0) == 0.5
        assert store.unpriced_calls(repo="o/r", issue=7, since=250.0) == 1
        assert store.unpriced_calls(installation_id=99) == 0
    finally:
        store.close()


def test_the_store_protocol_covers_every_public_method_and_services_use_it():
    import typing

    from bot.services import Services
    from bot.store import Store
    from bot.store.postgres import PostgresStore

    promised = {name for name in dir(Store) if not name.startswith("_")}
    for backend in (SqliteStore, PostgresStore):
        public = {name for name in dir(backend) if not name.startswith("_") and callable(getattr(backend, name))}
        assert public - promised == set(), backend  # the app needs nothing beyond Store
        assert promised - public == set(), backend
    assert typing.get_type_hints(Services)["store"] is Store


def test_ledger_rows_written_before_the_cost_column_are_counted_after_the_migration(store_url):
    store = open_store(store_url)
    with store._connect(transaction=True) as execute:  # the database as migration 0004 left it
        execute("ALTER TABLE ledger DROP COLUMN cost_usd")
        execute("DELETE FROM schema_version WHERE version >= 5")
        for cost in (0.25, None):
            execute("INSERT INTO ledger (at, installation_id, repo, issue, stage, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (100.0, 42, "o/r", 7, "plan", json.dumps({"repo": "o/r", "cost_usd": cost})))
    store.close()
    store = open_store(store_url)
    try:
        store.add_ledger_row({"at": 200.0, "installation_id": 42, "repo": "o/r", "issue": 7, "stage": "judge",
                              "cost_usd": 0.5})
        assert store.spent_usd(installation_id=42) == 0.75
        assert store.unpriced_calls(repo="o/r", issue=7) == 1
    finally:
        store.close()
