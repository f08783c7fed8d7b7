"""The state store: deliveries seen, background jobs and their leases, per-issue state, plan
versions, the cost ledger and budget reservations.

One interface (``Store`` in ``protocol.py``), the queries written once (``sql.py``), two
engines: ``SqliteStore`` (embedded, the default, one file) and ``PostgresStore`` (shared by
any number of instances).  ``open_store`` picks one from ROUTE_ME_DB; both apply the
migrations in ``migrations/<dialect>/`` at open.
"""

from __future__ import annotations

from bot.store.protocol import Job, NewJob, Store, Unschedulable
from bot.store.sqlite import SqliteStore

__all__ = ["Job", "NewJob", "SqliteStore", "Store", "Unschedulable", "is_postgres_url", "open_store"]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def open_store(url: str) -> Store:
    """Open the store named by ROUTE_ME_DB: a PostgreSQL URL, else a SQLite file path."""
    if is_postgres_url(url):
        from bot.store.postgres import PostgresStore  # psycopg is only loaded when it is used

        return PostgresStore(url)
    return SqliteStore(url)
