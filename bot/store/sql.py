"""What both SQL backends share: every ``Store`` method written once, over a tiny connection seam.

``SqlStore`` holds the queries (deliveries, leased jobs and issue locks, issue state, the
ledger and budget reservations) in the SQL common to SQLite and PostgreSQL, with ``?``
placeholders; a backend supplies ``_connect`` (a connection for one call or one transaction),
``_claim_transaction`` (a transaction that no other claimer, in any process, runs beside),
a few dialect snippets, and its migrations directory.  One implementation is why the store
tests can run unchanged against both.

Every method blocks.  ``off_loop`` runs one on the store's own few threads, for the callers
on the event loop whose calls can take a while (a commit waiting for the disk or the network,
a claim waiting for another instance's claim lock); so each backend must be safe to call from
several threads at once, which is its own business (SQLite: one connection behind a lock;
PostgreSQL: a connection per call from a pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.store.protocol import Job, NewJob, Unschedulable

MIGRATIONS = Path(__file__).with_name("migrations")
JOB_COLUMNS = "id, delivery_id, event, installation_id, repo, issue, payload, status, attempts, owner, intent"
# How many claimable jobs one claim looks at; jobs of busy issues are skipped in SQL already.
CLAIM_WINDOW = 64
_VERSION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
T = TypeVar("T")


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


Execute = Callable[..., Cursor]


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of the dialect's migrations, in order."""
    found = []
    for path in sorted((MIGRATIONS / dialect).iterdir()):
        match = _VERSION.match(path.name)
        if match:
            found.append((int(match.group(1)), path.name, path.read_text()))
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        # Two branches each adding "the next" migration: the second would never run on a
        # database that has the first.  Renumber one of them.
        raise RuntimeError(f"two {dialect} migrations share a version: {[name for _, name, _ in found]}")
    return found


class SqlStore:
    """The ``Store`` methods over ``_connect``; subclasses pick the engine."""

    dialect = ""
    # SQL for "now" in seconds since the epoch, read from the database so that every
    # instance compares leases against one clock.
    now_sql = ""
    # The stored issue state's "state" field, and "is not" with NULLs treated as values.
    state_sql = ""
    is_not_sql = "IS NOT"
    true_sql, false_sql = "1", "0"
    # How many threads run calls handed to ``off_loop`` at once.
    io_threads = 2
    _io: ThreadPoolExecutor | None = None

    # -- off the event loop -----------------------------------------------------------

    async def off_loop(self, call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``await store.off_loop(store.claim_job, ...)``: the call runs on one of the store's
        threads while the event loop serves other requests.  The threads are the store's own,
        not the loop's default executor, so a slow database cannot starve DNS lookups and file
        reads, and so that at most ``io_threads`` calls wait on the database at once.  The
        caller's context variables (the delivery id in log lines) go with the call."""
        if self._io is None:  # made on first use, on the loop's thread only
            self._io = ThreadPoolExecutor(max_workers=self.io_threads, thread_name_prefix=f"route-me-{self.dialect}")
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._io, functools.partial(context.run, call, *args, **kwargs))

    def _close_threads(self) -> None:
        """Let the calls already handed to ``off_loop`` finish (a batch being committed) before
        the connections close under them."""
        if self._io is not None:
            self._io.shutdown(wait=True)

    # -- the seam ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, transaction: bool = False) -> Iterator[Execute]:
        """An ``execute(sql, params)`` for one call; with ``transaction``, all-or-nothing."""
        raise NotImplementedError
        yield  # pragma: no cover

    @contextlib.contextmanager
    def _claim_transaction(self) -> Iterator[Execute]:
        """A transaction serialized against every other claimer of this database."""
        raise NotImplementedError
        yield  # pragma: no cover

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._connect() as execute:
            return execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._connect() as execute:
            return execute(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._connect() as execute:
            return execute(sql, params).rowcount

    # -- migrations -------------------------------------------------------------------

    def _migrate(self, execute: Execute) -> list[int]:
        """Apply the migrations newer than the recorded version; called inside a transaction
        that the backend has made exclusive.  Returns the versions applied."""
        execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at DOUBLE PRECISION NOT NULL)")
        row = execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        applied = []
        for version, name, sql in migrations(self.dialect):
            if version <= current:
                continue
            for statement in _statements(sql):
                execute(statement)
            execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()))
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        """The newest migration applied to this database."""
        row = self._one("SELECT MAX(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    # -- deliveries and jobs ----------------------------------------------------------

    def record_delivery(self, delivery_id: str, event: str, job: NewJob | None) -> int | None | bool:
        """Record a delivery (and its job) atomically.

        Returns False for a delivery id seen before (by any instance sharing the database),
        the new job id when a job was queued, None when the delivery needed no work.
        """
        return self.record_deliveries([(delivery_id, event, job)])[0]

    def record_deliveries(self, batch: list[tuple[str, str, NewJob | None]]) -> list[int | None | bool]:
        """Record several deliveries in one transaction (group commit); results in order."""
        now = time.time()
        results: list[int | None | bool] = []
        with self._connect(transaction=True) as execute:
            for delivery_id, event, job in batch:
                cursor = execute("INSERT INTO deliveries (id, event, received_at) VALUES (?, ?, ?)"
                                 " ON CONFLICT (id) DO NOTHING", (delivery_id, event, now))
                if cursor.rowcount == 0:
                    results.append(False)
                elif job is None:
                    results.append(None)
                else:
                    results.append(int(execute(
                        "INSERT INTO jobs (delivery_id, event, installation_id, repo, issue, payload, intent,"
                        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        (delivery_id, job.event, job.installation_id, job.repo, job.issue,
                         zlib.compress(job.payload, 1), job.intent, now, now),
                    ).fetchone()[0]))
        return results

    def health(self) -> str | None:
        """Why the store is failing (for /healthz), or None; backends that can tell override it."""
        return None

    def forget_delivery(self, delivery_id: str) -> None:
        """Drop a delivery id, so that a redelivery of it is recorded as new (its job failed
        without doing anything); the failed job's row stays."""
        self._run("DELETE FROM deliveries WHERE id=?", (delivery_id,))

    def unfinished_jobs(self) -> list[Job]:
        """Jobs queued or running (on any instance, or interrupted)."""
        rows = self._all(f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ('pending', 'running') ORDER BY id")
        return [self._job(row) for row in rows]

    def queued_jobs(self) -> int:
        """Jobs recorded and not yet claimed (by any instance)."""
        return int(self._one("SELECT COUNT(*) FROM jobs WHERE status = 'pending'")[0])

    def job(self, job_id: int) -> Job:
        row = self._one(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise KeyError(job_id)
        return self._job(row)

    def start_job(self, job_id: int) -> int:
        """Mark a job running without a lease (so any claimer may take it over at once);
        returns its attempt number.  The worker claims jobs with ``claim_job`` instead."""
        with self._connect(transaction=True) as execute:
            execute("UPDATE jobs SET status='running', attempts=attempts+1, owner=NULL, lease_until=NULL,"
                    " updated_at=? WHERE id=?", (time.time(), job_id))
            return int(execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()[0])

    def claim_job(self, owner: str, *, lease_seconds: float,
                  lock_key: Callable[[Job], str | None]) -> Job | None:
        """Take the oldest job that may run now under a lease held by ``owner``, or None.

        A job may run when it is pending, or running under a lease that has expired (its
        instance died), and its issue lock (``lock_key(job)``, None for a job that skips
        the lock) is free or expired.  Jobs of one issue are taken in the order they arrived.
        The attempt count goes up with each claim, so a taken-over job knows it resumes.
        Raises ``Unschedulable`` (after marking the job failed) when ``lock_key`` raises.
        """
        failure: Unschedulable | None = None
        claimed: Job | None = None
        with self._claim_transaction() as execute:
            now = float(execute(f"SELECT {self.now_sql}").fetchone()[0])
            # Issue locks whose lease ran out (their instance died): their waiters compete again.
            execute(f"UPDATE jobs SET waiting={self.false_sql} WHERE waiting={self.true_sql} AND lock_key IN"
                    " (SELECT key FROM issue_locks WHERE lease_until < ?)", (now,))
            # Two index scans (an OR would read the whole table); no payloads until one is needed.
            rows = sorted(
                execute(f"SELECT id, lock_key FROM jobs WHERE status = 'pending' AND waiting = {self.false_sql}"
                        f" ORDER BY id LIMIT {CLAIM_WINDOW}").fetchall()
                + execute("SELECT id, lock_key FROM jobs WHERE status = 'running'"
                          f" AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT {CLAIM_WINDOW}",
                          (now,)).fetchall())[:CLAIM_WINDOW]
            seen: set[str] = set()
            for job_id, key in rows:
                job = self._job(execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone())
                if key is None:
                    try:
                        key = lock_key(job) or ""
                    except Exception as exc:  # noqa: BLE001 - reported by the worker, job failed here
                        execute("UPDATE jobs SET status='failed', error=?, updated_at=? WHERE id=?",
                                (f"not scheduled: {type(exc).__name__}: {exc}"[:2000], time.time(), job.id))
                        failure = Unschedulable(job, exc)
                        break
                    execute("UPDATE jobs SET lock_key=? WHERE id=?", (key, job.id))
                if key:
                    if key in seen:
                        self._wait(execute, job.id)  # an older job of this issue comes first
                        continue
                    seen.add(key)
                    took = execute(
                        "INSERT INTO issue_locks (key, job_id, owner, lease_until) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET job_id=excluded.job_id, owner=excluded.owner,"
                        " lease_until=excluded.lease_until"
                        " WHERE issue_locks.lease_until < ? OR issue_locks.job_id = excluded.job_id",
                        (key, job.id, owner, now + lease_seconds, now)).rowcount
                    if not took:
                        self._wait(execute, job.id)
                        continue
                execute("UPDATE jobs SET status='running', owner=?, lease_until=?, attempts=attempts+1,"
                        " updated_at=? WHERE id=?", (owner, now + lease_seconds, time.time(), job.id))
                claimed = replace(job, status="running", attempts=job.attempts + 1, owner=owner)
                break
        if failure is not None:
            raise failure
        return claimed

    def _wait(self, execute: Execute, job_id: int) -> None:
        """Park a job behind its issue's lock until the lock is released or runs out."""
        execute(f"UPDATE jobs SET waiting={self.true_sql} WHERE id=?", (job_id,))

    def _wake(self, execute: Execute, job_id: int) -> None:
        """The issue lock of ``job_id`` is being freed: the jobs waiting for it compete again."""
        execute(f"UPDATE jobs SET waiting={self.false_sql} WHERE waiting={self.true_sql} AND lock_key ="
                " (SELECT lock_key FROM jobs WHERE id=?)", (job_id,))

    def renew_leases(self, owner: str, job_ids: Sequence[int], *, lease_seconds: float) -> list[int]:
        """Extend ``owner``'s leases on these running jobs (and their issue locks); returns the
        ids still held, so a job whose lease was lost (taken over) can be stopped."""
        if not job_ids:
            return []
        held = []
        with self._connect(transaction=True) as execute:
            until = float(execute(f"SELECT {self.now_sql}").fetchone()[0]) + lease_seconds
            for job_id in job_ids:
                if execute("UPDATE jobs SET lease_until=? WHERE id=? AND owner=? AND status='running'",
                           (until, job_id, owner)).rowcount:
                    execute("UPDATE issue_locks SET lease_until=? WHERE job_id=? AND owner=?", (until, job_id, owner))
                    held.append(job_id)
        return held

    def release_job(self, job_id: int, *, owner: str) -> bool:
        """Give a running job back (shutting down): pending again, its attempt not counted,
        its issue free, so another instance takes it at once.  False if not ``owner``'s."""
        # In the claim lock: a claim deciding that this job's issue is busy cannot interleave.
        with self._claim_transaction() as execute:
            released = execute(
                "UPDATE jobs SET status='pending', owner=NULL, lease_until=NULL, attempts=attempts-1,"
                " updated_at=? WHERE id=? AND owner=? AND status='running'", (time.time(), job_id, owner)).rowcount
            if released:
                self._wake(execute, job_id)
                execute("DELETE FROM issue_locks WHERE job_id=? AND owner=?", (job_id, owner))
        return released > 0

    def expire_leases(self, *, owner_prefix: str, keep: str) -> int:
        """Expire the leases of earlier processes of this instance (``owner_prefix``…): they
        died, so their jobs resume now instead of after their leases run out."""
        pattern = owner_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._connect(transaction=True) as execute:
            count = execute("UPDATE jobs SET lease_until=0 WHERE status='running' AND owner LIKE ? ESCAPE '\\'"
                            " AND owner <> ?", (pattern, keep)).rowcount
            execute("UPDATE issue_locks SET lease_until=0 WHERE owner LIKE ? ESCAPE '\\' AND owner <> ?",
                    (pattern, keep))
            execute("DELETE FROM budget_reservations WHERE owner LIKE ? ESCAPE '\\' AND owner <> ?", (pattern, keep))
            # A safety net at start: a waiter whose lock is gone altogether competes again.
            execute(f"UPDATE jobs SET waiting={self.false_sql} WHERE waiting={self.true_sql} AND status='pending'"
                    " AND NOT EXISTS (SELECT 1 FROM issue_locks l WHERE l.key = jobs.lock_key)")
        return count

    def finish_job(self, job_id: int, *, error: str | None = None, owner: str | None = None) -> bool:
        """Mark a job done (or failed with ``error``) and free its issue.  With ``owner``, only
        while that owner still holds it: a job taken over meanwhile belongs to its new owner."""
        # In the claim lock: a claim deciding that this job's issue is busy cannot interleave.
        with self._claim_transaction() as execute:
            query = "UPDATE jobs SET status=?, error=?, owner=NULL, lease_until=NULL, updated_at=? WHERE id=?"
            params: list[Any] = ["failed" if error else "done", error, time.time(), job_id]
            if owner is not None:
                query += " AND owner=?"
                params.append(owner)
            finished = execute(query, params).rowcount
            if finished:
                self._wake(execute, job_id)
                execute("DELETE FROM issue_locks WHERE job_id=?", (job_id,))
        return finished > 0

    def prune(self, *, older_than_seconds: float) -> int:
        """Forget finished jobs and delivery ids older than the horizon; returns rows removed.

        GitHub redelivers for a few days at most, so a long horizon keeps de-duplication
        exact while the store stops growing.
        """
        cutoff = time.time() - older_than_seconds
        with self._connect(transaction=True) as execute:
            removed = execute("DELETE FROM jobs WHERE status IN ('done', 'failed') AND updated_at < ?",
                              (cutoff,)).rowcount
            removed += execute("DELETE FROM deliveries WHERE received_at < ?", (cutoff,)).rowcount
            execute(f"DELETE FROM budget_reservations WHERE expires_at < {self.now_sql}")
        return removed

    @staticmethod
    def _job(row: Sequence[Any]) -> Job:
        job_id, delivery_id, event, installation_id, repo, issue, payload, status, attempts, owner, intent = row
        return Job(id=int(job_id), delivery_id=delivery_id, event=event,
                   installation_id=installation_id, repo=repo, issue=issue,
                   payload=zlib.decompress(bytes(payload)), status=status, attempts=attempts, owner=owner,
                   intent=intent)

    # -- issue state and plan versions ------------------------------------------------

    def issue_state(self, repo: str, number: int) -> dict[str, Any] | None:
        row = self._one("SELECT data FROM issue_state WHERE repo=? AND number=?", (repo, number))
        return json.loads(row[0]) if row else None

    def save_issue_state(self, repo: str, number: int, data: dict[str, Any], *,
                         unless_state: str | None = None) -> bool:
        """Write the state; with ``unless_state``, not over a stored state of that value.

        The check and the write are one statement, so a concurrent /cancel is never lost
        under a stage that still holds an older copy.  Returns whether the row was written.
        """
        return self._run(
            "INSERT INTO issue_state (repo, number, data, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (repo, number) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at"
            f" WHERE CAST(? AS TEXT) IS NULL OR {self.state_sql} {self.is_not_sql} CAST(? AS TEXT)",
            (repo, number, json.dumps(data), time.time(), unless_state, unless_state),
        ) > 0

    def add_plan_version(self, repo: str, number: int, version: int, data: dict[str, Any]) -> None:
        self._run("INSERT INTO plan_versions (repo, number, version, data) VALUES (?, ?, ?, ?)"
                  " ON CONFLICT (repo, number, version) DO UPDATE SET data=excluded.data",
                  (repo, number, version, json.dumps(data)))

    def plan_version(self, repo: str, number: int, version: int) -> dict[str, Any] | None:
        row = self._one("SELECT data FROM plan_versions WHERE repo=? AND number=? AND version=?",
                        (repo, number, version))
        return json.loads(row[0]) if row else None

    def link_pull_request(self, repo: str, pr: int, issue: int) -> None:
        self._run("INSERT INTO pr_links (repo, pr, issue) VALUES (?, ?, ?)"
                  " ON CONFLICT (repo, pr) DO UPDATE SET issue=excluded.issue", (repo, pr, issue))

    def issue_for_pull_request(self, repo: str, pr: int) -> int | None:
        row = self._one("SELECT issue FROM pr_links WHERE repo=? AND pr=?", (repo, pr))
        return int(row[0]) if row else None

    # -- ledger and budget reservations -----------------------------------------------

    def add_ledger_row(self, row: dict[str, Any]) -> None:
        cost = row.get("cost_usd")
        self._run("INSERT INTO ledger (at, installation_id, repo, issue, stage, cost_usd, data)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (row["at"], row.get("installation_id"), row["repo"], row.get("issue"), row["stage"],
                   None if cost is None else float(cost), json.dumps(row)))

    def ledger_rows(self, *, repo: str | None = None, issue: int | None = None) -> list[dict[str, Any]]:
        query, params = "SELECT data FROM ledger WHERE 1=1", []
        if repo is not None:
            query += " AND repo=?"
            params.append(repo)
        if issue is not None:
            query += " AND issue=?"
            params.append(issue)
        return [json.loads(r[0]) for r in self._all(query + " ORDER BY id", params)]

    def _ledger_costs(self, *, repo: str | None, issue: int | None, installation_id: int | None,
                      since: float | None) -> tuple[float, int]:
        """The dollars of the matching ledger rows whose cost is known, and how many rows have
        none (an unpriced model).  Summed in the database from the ``cost_usd`` column: a daily
        budget reads every row of the installation's day, and parsing each row's JSON (here or
        in SQL) took 4-18 ms a check at 2,000 rows (bench/bench_store_calls.py)."""
        where, params = "1=1", []
        for column, value in (("repo", repo), ("issue", issue), ("installation_id", installation_id)):
            if value is not None:
                where += f" AND {column}=?"
                params.append(value)
        if since is not None:
            where += " AND at>=?"
            params.append(since)
        total, unpriced = self._one(
            "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0)"
            f" FROM ledger WHERE {where}", params)
        return float(total), int(unpriced)

    def spent_usd(self, *, repo: str | None = None, issue: int | None = None,
                  installation_id: int | None = None, since: float | None = None) -> float:
        """Dollars of the rows whose cost is known; ``unpriced_calls`` counts the others."""
        return self._ledger_costs(repo=repo, issue=issue, installation_id=installation_id, since=since)[0]

    def unpriced_calls(self, *, repo: str | None = None, issue: int | None = None,
                       installation_id: int | None = None, since: float | None = None) -> int:
        """Rows whose cost is unknown (an unpriced model), so a budget can say it could not count them."""
        return self._ledger_costs(repo=repo, issue=issue, installation_id=installation_id, since=since)[1]

    def reserve_budget(self, amounts: Sequence[tuple[str, float]], *, owner: str, ttl_seconds: float,
                       check: Callable[[dict[str, float]], None]) -> list[int]:
        """Hold dollars against shared limits for a call in flight, atomically across processes.

        Inside one transaction that excludes every other reservation and release (the claim
        lock), ``check`` is given the dollars other calls hold per key (unexpired
        reservations) and raises to refuse; it reads the ledger itself, so the ledger and the
        reservations are seen at one moment.  Returns the reservation ids for
        ``release_budget``.  A reservation of a process that died expires after ``ttl_seconds``.
        """
        with self._claim_transaction() as execute:
            now = float(execute(f"SELECT {self.now_sql}").fetchone()[0])
            held: dict[str, float] = {}
            for key, _ in amounts:
                row = execute("SELECT COALESCE(SUM(amount), 0) FROM budget_reservations"
                              " WHERE key=? AND expires_at >= ?", (key, now)).fetchone()
                held[key] = float(row[0])
            check(held)
            return [int(execute("INSERT INTO budget_reservations (key, amount, owner, expires_at)"
                                " VALUES (?, ?, ?, ?) RETURNING id",
                                (key, amount, owner, now + ttl_seconds)).fetchone()[0])
                    for key, amount in amounts]

    def release_budget(self, reservation_ids: Sequence[int]) -> None:
        """Drop reservations once their call's ledger row is written (in the claim lock, so a
        concurrent check sees either the reservation or the ledger row, never neither)."""
        if not reservation_ids:
            return
        with self._claim_transaction() as execute:
            for reservation_id in reservation_ids:
                execute("DELETE FROM budget_reservations WHERE id=?", (reservation_id,))


def _statements(sql: str) -> list[str]:
    """A migration file's statements (split at ';' ending a line; comments dropped)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE) if s.strip()]
