"""PostgresStore: the ``Store`` in PostgreSQL, shared by any number of instances.

psycopg 3 with a small connection pool, used synchronously like SQLite: each call is one
statement or transaction, a network round trip (and a WAL flush for a commit).  The event
loop hands the calls that must not hold it (the webhook's batch commits, the worker's
claims, lease renewals and ends of jobs) to the store's threads (``off_loop``); each thread
takes its own connection from the pool, and a transaction stays on its thread's connection,
so calls from the loop and from those threads never share one.  What makes several instances safe is in the database, not in a process:
delivery ids are a primary key, a job is claimed under a lease inside a transaction holding
the claim advisory lock (so per-issue order and locks are decided one claim at a time
across instances), and budget reservations take the same lock.  Migrations run at start
under their own advisory lock, so instances starting together apply them once.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bot.store.protocol import NewJob
from bot.store.sql import Execute, SqlStore

# pg_advisory_xact_lock keys (any two distinct bigints; these spell "rtme" + a number).
MIGRATE_LOCK = 0x72746D6501
CLAIM_LOCK = 0x72746D6502


class PostgresStore(SqlStore):
    """The shared store for several instances (``ROUTE_ME_DB=postgresql://…``)."""

    dialect = "postgres"
    now_sql = "extract(epoch from clock_timestamp())::double precision"
    state_sql = "(issue_state.data::jsonb ->> 'state')"
    is_not_sql = "IS DISTINCT FROM"
    true_sql, false_sql = "TRUE", "FALSE"

    # Claims, renewals, ends of jobs and the webhook's batches may wait on the database at once.
    io_threads = 4

    def __init__(self, url: str, *, max_connections: int | None = None) -> None:
        self.url = url
        # One connection for each store thread, and two more for calls made on the event
        # loop's thread (a stage reading its issue state), so those never queue for one
        # behind a slow claim.
        max_connections = max_connections or self.io_threads + 2
        # Calls nested inside an open transaction (a budget check reading the ledger, a lock
        # key reading a pull request link) reuse its connection: one thread, one transaction.
        self._local = threading.local()
        self._pool = ConnectionPool(url, min_size=min(2, max_connections), max_size=max_connections, open=False,
                                    kwargs={"autocommit": True}, name="route-me")
        self._pool.open(wait=True, timeout=30)
        with self._transaction(lock=MIGRATE_LOCK) as execute:
            self._migrate(execute)

    @staticmethod
    def _executor(conn: psycopg.Connection[Any]) -> Execute:
        def execute(sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
            # The shared queries use '?' placeholders and no literal '?' or '%'.
            return conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)  # type: ignore[arg-type]
        return execute

    @contextlib.contextmanager
    def _connect(self, *, transaction: bool = False) -> Iterator[Execute]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield self._executor(current)
            return
        if transaction:
            with self._transaction() as execute:
                yield execute
            return
        with self._pool.connection() as conn:
            yield self._executor(conn)

    @contextlib.contextmanager
    def _claim_transaction(self) -> Iterator[Execute]:
        with self._transaction(lock=CLAIM_LOCK) as execute:
            yield execute

    @contextlib.contextmanager
    def _transaction(self, *, lock: int | None = None) -> Iterator[Execute]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            if lock is not None:
                current.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            yield self._executor(current)
            return
        with self._pool.connection() as conn, conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            self._local.conn = conn
            try:
                yield self._executor(conn)
            finally:
                self._local.conn = None

    def record_deliveries(self, batch: list[tuple[str, str, NewJob | None]]) -> list[int | None | bool]:
        """As SqlStore's, with the batch's statements pipelined: one round trip, not two per delivery."""
        now = time.time()
        results: list[int | None | bool] = []
        with self._pool.connection() as conn:
            with conn.transaction(), conn.pipeline():
                cursors = self._queue_deliveries(conn, batch, now)
            for cursor, job in cursors:
                row = cursor.fetchone()
                results.append(False if row is None else (None if job is None else int(row[0])))
        return results

    @staticmethod
    def _queue_deliveries(conn: psycopg.Connection[Any], batch: list[tuple[str, str, NewJob | None]],
                          now: float) -> list[tuple[psycopg.Cursor[Any], NewJob | None]]:
        cursors = []
        for delivery_id, event, job in batch:
            cursor = conn.cursor()
            if job is None:
                cursor.execute("INSERT INTO deliveries (id, event, received_at) VALUES (%s, %s, %s)"
                               " ON CONFLICT (id) DO NOTHING RETURNING NULL::bigint", (delivery_id, event, now))
            else:
                # The job row only when the delivery id is new, in the same statement.
                cursor.execute(
                    "WITH seen AS (INSERT INTO deliveries (id, event, received_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING RETURNING id)"
                    " INSERT INTO jobs (delivery_id, event, installation_id, repo, issue, payload, intent,"
                    " created_at, updated_at) SELECT id, %s, %s, %s, %s, %s, %s, %s, %s FROM seen RETURNING id",
                    (delivery_id, event, now, job.event, job.installation_id, job.repo, job.issue,
                     zlib.compress(job.payload, 1), job.intent, now, now))
            cursors.append((cursor, job))
        return cursors

    def close(self) -> None:
        self._close_threads()
        self._pool.close()
