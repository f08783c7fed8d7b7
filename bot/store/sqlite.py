"""SqliteStore: the embedded ``Store``, SQLite in WAL mode.

Every call is a short transaction, so the event loop calls it directly.  The queries are
shared with PostgreSQL (``sql.py``); this class owns the connection, the WAL checkpoints, and
the durability of job commits.  Processes sharing one file are serialized by ``BEGIN
IMMEDIATE``, which is what makes claims and budget reservations atomic here.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from bot.store.protocol import NewJob
from bot.store.sql import Execute, SqlStore

CHECKPOINT_SECONDS = 0.5


class SqliteStore(SqlStore):
    """The embedded store.  WAL lets readers run while the webhook writes."""

    dialect = "sqlite"
    now_sql = "(julianday('now') - 2440587.5) * 86400.0"
    state_sql = "json_extract(issue_state.data, '$.state')"
    is_not_sql = "IS NOT"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of this process; batches that carry
        # a job switch to FULL for their commit (see record_deliveries).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._depth = 0
        with self._claim_transaction() as execute:
            self._migrate(execute)
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        if self.path != ":memory:":
            # Checkpoints copy the WAL into the database and fsync it; done inline they stall
            # whichever webhook commit crosses the threshold.  A thread does them instead.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="route-me-checkpoint",
                                                  daemon=True)
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    @contextlib.contextmanager
    def _connect(self, *, transaction: bool = False) -> Iterator[Execute]:
        if not transaction or self._depth:
            # Autocommit, or a call made inside an open transaction (a budget check reading
            # the ledger): it joins that transaction on the one connection.
            yield self._db.execute
            return
        # IMMEDIATE: a transaction that reads before it writes never meets SQLITE_BUSY half-way
        # when another process shares the file; it waits for the write lock up front instead.
        with self._begin("BEGIN IMMEDIATE"):
            yield self._db.execute

    @contextlib.contextmanager
    def _claim_transaction(self) -> Iterator[Execute]:
        # The write lock serializes claims of every process sharing the file (busy_timeout waits).
        if self._depth:
            yield self._db.execute
            return
        with self._begin("BEGIN IMMEDIATE"):
            yield self._db.execute

    @contextlib.contextmanager
    def _begin(self, statement: str) -> Iterator[None]:
        self._db.execute(statement)
        self._depth += 1
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        finally:
            self._depth -= 1

    def record_deliveries(self, batch: list[tuple[str, str, NewJob | None]]) -> list[int | None | bool]:
        """Record several deliveries in one transaction (group commit); results in order."""
        # A job must survive power loss once GitHub has its 202, so its commit is fsynced;
        # a delivery id alone only de-duplicates, and losing one costs nothing.
        durable = any(job is not None for _, _, job in batch)
        if durable:
            self._db.execute("PRAGMA synchronous=FULL")
        try:
            return super().record_deliveries(batch)
        finally:
            if durable:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
        self._db.close()
