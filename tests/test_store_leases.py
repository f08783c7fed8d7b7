"""Jobs shared by instances, on both backends: each test opens the database twice, as two
instances would (two connections to one PostgreSQL, or two connections to one SQLite file).

Claims under a lease, the issue lock across instances, take-over after a lease runs out,
release at shutdown, migrations applied once, budget reservations that add up across stores.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from bot.store import Job, NewJob, Unschedulable, open_store
from bot.store.sql import migrations


def job(issue: int | None, n: int, *, repo: str = "o/r") -> NewJob:
    return NewJob(event="issues", installation_id=1, repo=repo, issue=issue, payload=json.dumps({"n": n}).encode())


def by_issue(job: Job) -> str:
    return f"{job.repo}#{job.issue}"


@pytest.fixture
def two(store_url):
    first, second = open_store(store_url), open_store(store_url)
    yield first, second
    first.close()
    second.close()


def test_migrations_are_applied_once_and_versioned(store_url):
    dialect = "postgres" if store_url.startswith("postgresql") else "sqlite"
    newest = migrations(dialect)[-1][0]
    first = open_store(store_url)
    second = open_store(store_url)  # a second instance starting: nothing to apply, nothing broken
    try:
        assert first.schema_version() == second.schema_version() == newest >= 2
    finally:
        first.close()
        second.close()


def test_a_file_from_before_versioned_migrations_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    # The unversioned schema of the first releases, with a job a crashed process left running.
    old.executescript(migrations("sqlite")[0][2])
    old.execute("INSERT INTO jobs (delivery_id, event, repo, issue, payload, status, attempts, created_at, updated_at)"
                " VALUES ('d', 'issues', 'o/r', 7, ?, 'running', 1, 0, 0)", (__import__("zlib").compress(b"{}"),))
    old.commit()
    old.close()
    store = open_store(str(path))
    try:
        assert store.schema_version() == migrations("sqlite")[-1][0]
        claimed = store.claim_job("a:1", lease_seconds=30, lock_key=by_issue)
        assert claimed is not None and claimed.attempts == 2  # resumed, and counted as an interrupted run
    finally:
        store.close()


def test_a_delivery_is_recorded_once_across_instances(two):
    a, b = two
    assert isinstance(a.record_delivery("d-1", "issues", job(7, 1)), int)
    assert b.record_delivery("d-1", "issues", job(7, 1)) is False
    assert len(a.unfinished_jobs()) == 1


def test_an_issue_runs_one_job_at_a_time_across_instances_in_arrival_order(two):
    a, b = two
    first = a.record_delivery("d-1", "issues", job(7, 1))
    second = a.record_delivery("d-2", "issues", job(7, 2))
    other = a.record_delivery("d-3", "issues", job(8, 3))
    got = a.claim_job("a:1", lease_seconds=30, lock_key=by_issue)
    assert got is not None and got.id == first and got.owner == "a:1" and got.attempts == 1
    # the other instance cannot take issue 7's second job while the first runs; issue 8's is free
    got_b = b.claim_job("b:1", lease_seconds=30, lock_key=by_issue)
    assert got_b is not None and got_b.id == other
    assert b.claim_job("b:1", lease_seconds=30, lock_key=by_issue) is None
    assert a.finish_job(first, owner="a:1") is True
    got_b = b.claim_job("b:1", lease_seconds=30, lock_key=by_issue)
    assert got_b is not None and got_b.id == second


def test_a_job_that_skips_the_lock_runs_beside_its_issue(two):
    a, b = two
    a.record_delivery("d-1", "issues", job(7, 1))
    cancel = a.record_delivery("d-2", "issues", job(7, 2))
    assert a.claim_job("a:1", lease_seconds=30, lock_key=by_issue) is not None

    def key(j: Job) -> str | None:
        return None if json.loads(j.payload)["n"] == 2 else by_issue(j)

    got = b.claim_job("b:1", lease_seconds=30, lock_key=key)
    assert got is not None and got.id == cancel


def test_a_dead_instances_job_is_taken_over_when_its_lease_runs_out_and_never_twice(two):
    a, b = two
    first = a.record_delivery("d-1", "issues", job(7, 1))
    a.record_delivery("d-2", "issues", job(7, 2))
    assert a.claim_job("a:1", lease_seconds=0.3, lock_key=by_issue).id == first
    assert b.claim_job("b:1", lease_seconds=30, lock_key=by_issue) is None  # lease still good
    time.sleep(0.4)  # instance a died: no renewal
    taken = b.claim_job("b:1", lease_seconds=30, lock_key=by_issue)
    assert taken is not None and taken.id == first and taken.attempts == 2 and taken.owner == "b:1"
    # the dead owner coming back cannot renew, finish or release what is no longer its own
    assert a.renew_leases("a:1", [first], lease_seconds=30) == []
    assert a.finish_job(first, owner="a:1") is False
    assert a.release_job(first, owner="a:1") is False
    assert a.job(first).status == "running" and a.job(first).owner == "b:1"
    assert b.claim_job("c:1", lease_seconds=30, lock_key=by_issue) is None  # issue 7 still b's


def test_renewal_keeps_a_job_and_its_issue(two):
    a, b = two
    first = a.record_delivery("d-1", "issues", job(7, 1))
    a.record_delivery("d-2", "issues", job(7, 2))
    assert a.claim_job("a:1", lease_seconds=0.5, lock_key=by_issue).id == first
    for _ in range(3):
        time.sleep(0.25)
        assert a.renew_leases("a:1", [first], lease_seconds=0.5) == [first]
    assert b.claim_job("b:1", lease_seconds=30, lock_key=by_issue) is None


def test_a_released_job_is_claimed_at_once_without_counting_an_attempt(two):
    a, b = two
    first = a.record_delivery("d-1", "issues", job(7, 1))
    assert a.claim_job("a:1", lease_seconds=300, lock_key=by_issue).id == first
    assert a.release_job(first, owner="a:1") is True
    got = b.claim_job("b:1", lease_seconds=300, lock_key=by_issue)
    assert got is not None and got.id == first and got.attempts == 1


def test_a_restarted_instance_expires_the_leases_of_its_earlier_process(two):
    a, b = two
    first = a.record_delivery("d-1", "issues", job(7, 1))
    assert a.claim_job("host-1:old", lease_seconds=300, lock_key=by_issue).id == first
    assert b.expire_leases(owner_prefix="host-2:", keep="host-2:new") == 0  # another machine's: kept
    assert b.claim_job("host-2:new", lease_seconds=300, lock_key=by_issue) is None
    assert b.expire_leases(owner_prefix="host-1:", keep="host-1:new") == 1
    got = b.claim_job("host-1:new", lease_seconds=300, lock_key=by_issue)
    assert got is not None and got.id == first and got.attempts == 2


def test_a_job_whose_lock_key_fails_is_failed_and_the_next_one_runs(two):
    a, _ = two
    bad = a.record_delivery("d-1", "issues", job(7, 1))
    good = a.record_delivery("d-2", "issues", job(7, 2))

    def key(j: Job) -> str:
        if j.id == bad:
            raise RuntimeError("no link")
        return by_issue(j)

    with pytest.raises(Unschedulable) as caught:
        a.claim_job("a:1", lease_seconds=30, lock_key=key)
    assert caught.value.job.id == bad and a.job(bad).status == "failed"
    assert a.claim_job("a:1", lease_seconds=30, lock_key=key).id == good


def test_budget_reservations_add_up_across_instances_and_expire(two):
    a, b = two
    a.add_ledger_row({"at": time.time(), "installation_id": 1, "repo": "o/r", "issue": 7, "stage": "plan",
                      "cost_usd": 0.5})
    limit = 1.0

    def check_for(store, amount):
        def check(held: dict[str, float]) -> None:
            if store.spent_usd(installation_id=1) + held["daily:1"] + amount > limit:
                raise RuntimeError("over budget")
        return check

    held_a = a.reserve_budget([("daily:1", 0.3)], owner="a:1", ttl_seconds=60, check=check_for(a, 0.3))
    with pytest.raises(RuntimeError):  # 0.5 spent + 0.3 held by a + 0.3 > 1.0
        b.reserve_budget([("daily:1", 0.3)], owner="b:1", ttl_seconds=60, check=check_for(b, 0.3))
    b.reserve_budget([("daily:1", 0.2)], owner="b:1", ttl_seconds=60, check=check_for(b, 0.2))
    # a's call finished: its cost is in the ledger, then its reservation goes
    a.add_ledger_row({"at": time.time(), "installation_id": 1, "repo": "o/r", "issue": 7, "stage": "plan",
                      "cost_usd": 0.25})
    a.release_budget(held_a)
    with pytest.raises(RuntimeError):  # 0.75 spent + 0.2 held by b + 0.1 > 1.0
        b.reserve_budget([("daily:1", 0.1)], owner="b:1", ttl_seconds=60, check=check_for(b, 0.1))
    # a reservation of a dead process stops counting once it expires
    b.reserve_budget([("other", 5.0)], owner="dead:1", ttl_seconds=0.2, check=lambda held: None)
    time.sleep(0.3)
    seen: dict[str, float] = {}
    a.reserve_budget([("other", 1.0)], owner="a:1", ttl_seconds=60, check=seen.update)
    assert seen == {"other": 0.0}
