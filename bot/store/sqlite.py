"""SqliteStore: the embedded ``Store``, SQLite in WAL mode.

Every call is a short transaction, so the event loop calls it directly.  JSON columns
keep the schema (``schema.py``) stable while stages evolve.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from bot.store.protocol import Job, NewJob
from bot.store.schema import SCHEMA

CHECKPOINT_SECONDS = 0.5


class SqliteStore:
    """The embedded store.  WAL lets readers run while the webhook writes."""

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
        self._db.executescript(SCHEMA)
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

    # deliveries and jobs -------------------------------------------------------------

    def record_delivery(self, delivery_id: str, event: str, job: NewJob | None) -> int | None | bool:
        """Record a delivery (and its job) atomically.

        Returns False for a delivery id seen before, the new job id when a job was queued,
        None when the delivery needed no work.
        """
        return self.record_deliveries([(delivery_id, event, job)])[0]

    def record_deliveries(self, batch: list[tuple[str, str, NewJob | None]]) -> list[int | None | bool]:
        """Record several deliveries in one transaction (group commit); results in order."""
        now = time.time()
        db = self._db
        results: list[int | None | bool] = []
        # A job must survive power loss once GitHub has its 202, so its commit is fsynced;
        # a delivery id alone only de-duplicates, and losing one costs nothing.
        durable = any(job is not None for _, _, job in batch)
        if durable:
            db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            for delivery_id, event, job in batch:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)",
                    (delivery_id, event, now),
                )
                if cursor.rowcount == 0:
                    results.append(False)
                elif job is None:
                    results.append(None)
                else:
                    results.append(db.execute(
                        "INSERT INTO jobs (delivery_id, event, installation_id, repo, issue, payload,"
                        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (delivery_id, job.event, job.installation_id, job.repo, job.issue,
                         zlib.compress(job.payload, 1), now, now),
                    ).lastrowid)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            if durable:
                db.execute("PRAGMA synchronous=NORMAL")
        return results

    def unfinished_jobs(self) -> list[Job]:
        """Jobs queued or interrupted (status running at start means the process died)."""
        rows = self._db.execute(
            "SELECT * FROM jobs WHERE status IN ('pending', 'running') ORDER BY id"
        ).fetchall()
        return [self._job(row) for row in rows]

    def job(self, job_id: int) -> Job:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return self._job(row)

    def start_job(self, job_id: int) -> int:
        """Mark a job running; returns its attempt number (1 for a first run)."""
        self._db.execute(
            "UPDATE jobs SET status='running', attempts=attempts+1, updated_at=? WHERE id=?",
            (time.time(), job_id),
        )
        return int(self._db.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()[0])

    def finish_job(self, job_id: int, *, error: str | None = None) -> None:
        self._db.execute(
            "UPDATE jobs SET status=?, error=?, updated_at=? WHERE id=?",
            ("failed" if error else "done", error, time.time(), job_id),
        )

    def prune(self, *, older_than_seconds: float) -> int:
        """Forget finished jobs and delivery ids older than the horizon; returns rows removed.

        GitHub redelivers for a few days at most, so a long horizon keeps de-duplication
        exact while the file stops growing.
        """
        cutoff = time.time() - older_than_seconds
        removed = self._db.execute(
            "DELETE FROM jobs WHERE status IN ('done', 'failed') AND updated_at < ?", (cutoff,)
        ).rowcount
        removed += self._db.execute("DELETE FROM deliveries WHERE received_at < ?", (cutoff,)).rowcount
        return removed

    @staticmethod
    def _job(row: tuple[Any, ...]) -> Job:
        (job_id, delivery_id, event, installation_id, repo, issue, payload, status,
         attempts, _error, _created, _updated) = row
        return Job(id=job_id, delivery_id=delivery_id, event=event,
                   installation_id=installation_id, repo=repo, issue=issue,
                   payload=zlib.decompress(payload), status=status, attempts=attempts)

    # issue state and plan versions ---------------------------------------------------

    def issue_state(self, repo: str, number: int) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT data FROM issue_state WHERE repo=? AND number=?", (repo, number)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save_issue_state(self, repo: str, number: int, data: dict[str, Any], *,
                         unless_state: str | None = None) -> bool:
        """Write the state; with ``unless_state``, not over a stored state of that value.

        The check and the write are one statement, so a concurrent /cancel is never lost
        under a stage that still holds an older copy.  Returns whether the row was written.
        """
        cursor = self._db.execute(
            "INSERT INTO issue_state (repo, number, data, updated_at) VALUES (:repo, :number, :data, :now)"
            " ON CONFLICT(repo, number) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at"
            " WHERE :unless IS NULL OR json_extract(issue_state.data, '$.state') IS NOT :unless",
            {"repo": repo, "number": number, "data": json.dumps(data), "now": time.time(),
             "unless": unless_state},
        )
        return cursor.rowcount > 0

    def add_plan_version(self, repo: str, number: int, version: int, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO plan_versions (repo, number, version, data) VALUES (?, ?, ?, ?)",
            (repo, number, version, json.dumps(data)),
        )

    def plan_version(self, repo: str, number: int, version: int) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT data FROM plan_versions WHERE repo=? AND number=? AND version=?",
            (repo, number, version),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def link_pull_request(self, repo: str, pr: int, issue: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO pr_links (repo, pr, issue) VALUES (?, ?, ?)", (repo, pr, issue))

    def issue_for_pull_request(self, repo: str, pr: int) -> int | None:
        row = self._db.execute("SELECT issue FROM pr_links WHERE repo=? AND pr=?", (repo, pr)).fetchone()
        return int(row[0]) if row else None

    # ledger --------------------------------------------------------------------------

    def add_ledger_row(self, row: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO ledger (at, installation_id, repo, issue, stage, data) VALUES (?, ?, ?, ?, ?, ?)",
            (row["at"], row.get("installation_id"), row["repo"], row.get("issue"), row["stage"],
             json.dumps(row)),
        )

    def ledger_rows(self, *, repo: str | None = None, issue: int | None = None) -> list[dict[str, Any]]:
        query, params = "SELECT data FROM ledger WHERE 1=1", []
        if repo is not None:
            query += " AND repo=?"
            params.append(repo)
        if issue is not None:
            query += " AND issue=?"
            params.append(issue)
        return [json.loads(r[0]) for r in self._db.execute(query + " ORDER BY id", params)]

    def _ledger_costs(self, *, repo: str | None, issue: int | None, installation_id: int | None,
                      since: float | None) -> list[float | None]:
        """Each matching ledger row's cost; None where the model's price was unknown."""
        query, params = "SELECT data FROM ledger WHERE 1=1", []
        for column, value in (("repo", repo), ("issue", issue), ("installation_id", installation_id)):
            if value is not None:
                query += f" AND {column}=?"
                params.append(value)
        if since is not None:
            query += " AND at>=?"
            params.append(since)
        return [json.loads(data).get("cost_usd") for (data,) in self._db.execute(query, params)]

    def spent_usd(self, *, repo: str | None = None, issue: int | None = None,
                  installation_id: int | None = None, since: float | None = None) -> float:
        """Dollars of the rows whose cost is known; ``unpriced_calls`` counts the others."""
        costs = self._ledger_costs(repo=repo, issue=issue, installation_id=installation_id, since=since)
        return sum(cost for cost in costs if cost is not None)

    def unpriced_calls(self, *, repo: str | None = None, issue: int | None = None,
                       installation_id: int | None = None, since: float | None = None) -> int:
        """Rows whose cost is unknown (an unpriced model), so a budget can say it could not count them."""
        costs = self._ledger_costs(repo=repo, issue=issue, installation_id=installation_id, since=since)
        return sum(1 for cost in costs if cost is None)

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
        self._db.close()
