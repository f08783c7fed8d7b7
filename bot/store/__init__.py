"""The state store: deliveries seen, background jobs, per-issue state, plan versions, the cost ledger.

One interface (``Store`` in ``protocol.py``), one embedded implementation (``SqliteStore`` in
``sqlite.py``, SQLite in WAL mode).  A PostgreSQL backend would be one more class implementing
``Store``, picked by ``open_store`` from the URL.
"""

from __future__ import annotations

from bot.store.protocol import Job, NewJob, Store
from bot.store.sqlite import SqliteStore

__all__ = ["Job", "NewJob", "SqliteStore", "Store", "open_store"]


def open_store(url: str) -> Store:
    """Open the store named by ROUTE_ME_DB (a SQLite path; a PostgreSQL URL would pick another class)."""
    return SqliteStore(url)
