"""SqliteStore: the embedded ``Store``, SQLite in WAL mode.

Most calls are short transactions that the event loop may make directly; the webhook's batch
commits (fsynced when they carry a job) and the worker's claims run on the store's threads
(``off_loop``).  One connection serves every thread, one call at a time: a lock is held for a
whole call or transaction, because a transaction lives on the connection, and a statement
from another thread would otherwise land inside it (and be rolled back with it).  The queries
are shared with PostgreSQL (``sql.py``); this class owns the connection, the WAL checkpoints,
and the durability of job commits.  Processes sharing one file are serialized by ``BEGIN
IMMEDIATE``, which is what makes claims and budget reservations atomic here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bot.store.protocol import NewJob
from bot.store.sql import Execute, SqlStore

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.5
PROBE_SECONDS = 1.0
LOW_SPACE_BYTES = 1024 * 1024
# A delivery id GitHub never sends (its are GUIDs); the probe row is pruned like any other.
PROBE_ID = "route-me:write-probe"


class StoreUnwritable(RuntimeError):
    """The state file (or its -wal / -shm companion, or its directory) cannot be written by this process."""


def _free_bytes(path: str) -> int | None:
    try:
        info = os.statvfs(Path(path).parent)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def check_writable(path: str) -> None:
    """Refuse to start on a state file this process cannot write, with a message saying which file
    and why.  SQLite maps the -shm file into memory: an unwritable one fails every write later, or
    (on some filesystems) kills the process with SIGBUS and no log line."""
    directory = Path(path).resolve().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnwritable(f"cannot create the state file's directory {directory}: {exc.strerror}") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreUnwritable(f"the directory of the state file, {directory}, is not writable by uid {os.geteuid()}")
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            fd = os.open(name, os.O_RDWR)
        except FileNotFoundError:
            continue
        except OSError as exc:
            try:
                info = os.stat(name)
                owner = f"owner uid {info.st_uid}, mode {stat.filemode(info.st_mode)}"
            except OSError:
                owner = "unreadable"
            raise StoreUnwritable(
                f"{name} is not writable by this process (uid {os.geteuid()}; {owner}): {exc.strerror}. "
                "Give it to the service's user, or remove the -wal/-shm files while no route-me process "
                "runs.") from exc
        os.close(fd)


class SqliteStore(SqlStore):
    """The embedded store.  WAL lets readers run while the webhook writes."""

    dialect = "sqlite"
    now_sql = "(julianday('now') - 2440587.5) * 86400.0"
    state_sql = "json_extract(issue_state.data, '$.state')"
    is_not_sql = "IS NOT"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            check_writable(self.path)
        # Why writes fail now (set by a failed write, cleared by one that changed rows), and the
        # checkpoint thread's last error: /healthz reports them (see health).
        self.write_error: str | None = None
        self.checkpoint_error: str | None = None
        self.checkpoints = 0
        self._probed = 0.0
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of this process; batches that carry
        # a job switch to FULL for their commit (see record_deliveries).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # Held by the thread using the connection, for a whole call or transaction; re-entrant,
        # so a call made inside an open transaction (a budget check reading the ledger, a lock
        # key reading a pull request link) joins it on the same thread.
        self._lock = threading.RLock()
        # Transactions open on the connection; only read by the thread holding the lock.
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
        # The thread must outlive any error (a full disk, an I/O error): if it died, the WAL would
        # grow without bound once the disk had room again.
        db: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                db = self._checkpoint(db)
            db = self._checkpoint(db)
        finally:
            if db is not None:
                db.close()

    def _checkpoint(self, db: sqlite3.Connection | None) -> sqlite3.Connection | None:
        try:
            if db is None:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # noqa: BLE001 - logged once per failing spell, retried
            if self.checkpoint_error is None:
                log.error("WAL checkpoint failed (%s); retrying every %.1f s", exc, CHECKPOINT_SECONDS)
            self.checkpoint_error = str(exc)
            return db
        if self.checkpoint_error is not None:
            log.warning("WAL checkpoints work again")
            self.checkpoint_error = None
        self.checkpoints += 1
        return db

    def health(self) -> str | None:
        """Why the store is failing (for /healthz), or None.  After a failed write, a small real
        write (at most once a second) tells whether the store has recovered."""
        if self.write_error is not None and time.monotonic() - self._probed >= PROBE_SECONDS:
            self._probed = time.monotonic()
            with contextlib.suppress(sqlite3.Error), self._connect() as execute:
                execute("INSERT INTO deliveries (id, event, received_at) VALUES (?, 'probe', ?)"
                        " ON CONFLICT (id) DO UPDATE SET received_at=excluded.received_at",
                        (PROBE_ID, time.time()))
        problems = []
        if self.write_error is not None:
            problems.append(f"the state store cannot write: {self.write_error}")
        if self.path != ":memory:":
            # A full disk can still take a small write into pages the WAL already holds, so the
            # free space is asked too: below this, the next delivery may be refused.
            free = _free_bytes(self.path)
            if free is not None and free < LOW_SPACE_BYTES:
                problems.append(f"the state store's disk is full ({free} bytes free)")
        if self.checkpoint_error is not None:
            problems.append(f"WAL checkpoints are failing: {self.checkpoint_error}")
        return "; ".join(problems) or None

    @contextlib.contextmanager
    def _watch(self) -> Iterator[None]:
        """Note a failing write (the disk is full, the file read-only…) and a write that worked."""
        before = self._db.total_changes
        try:
            yield
        except sqlite3.OperationalError as exc:
            if self.write_error is None:
                log.error("the state store failed: %s", exc)
            self.write_error = str(exc)
            raise
        if self.write_error is not None and self._db.total_changes != before:
            log.warning("the state store writes again")
            self.write_error = None

    @contextlib.contextmanager
    def _connect(self, *, transaction: bool = False) -> Iterator[Execute]:
        with self._lock:
            if self._depth:
                # A call made inside an open transaction (a budget check reading the ledger): it
                # joins that transaction on the one connection.
                yield self._db.execute
                return
            if not transaction:
                with self._watch():
                    yield self._db.execute
                return
            # IMMEDIATE: a transaction that reads before it writes never meets SQLITE_BUSY half-way
            # when another process shares the file; it waits for the write lock up front instead.
            with self._begin("BEGIN IMMEDIATE"):
                yield self._db.execute

    @contextlib.contextmanager
    def _claim_transaction(self) -> Iterator[Execute]:
        # The write lock serializes claims of every process sharing the file (busy_timeout waits).
        with self._lock:
            if self._depth:
                yield self._db.execute
                return
            with self._begin("BEGIN IMMEDIATE"):
                yield self._db.execute

    @contextlib.contextmanager
    def _begin(self, statement: str) -> Iterator[None]:
        with self._watch():
            self._db.execute(statement)
            self._depth += 1
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT may have rolled back already
                    self._db.execute("ROLLBACK")
                raise
            finally:
                self._depth -= 1

    def record_deliveries(self, batch: list[tuple[str, str, NewJob | None]]) -> list[int | None | bool]:
        """Record several deliveries in one transaction (group commit); results in order."""
        # A job must survive power loss once GitHub has its 202, so its commit is fsynced;
        # a delivery id alone only de-duplicates, and losing one costs nothing.
        durable = any(job is not None for _, _, job in batch)
        # The setting belongs to the connection: no other thread's commit may run under it.
        with self._lock:
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                return super().record_deliveries(batch)
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self._close_threads()
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
        self._db.close()
