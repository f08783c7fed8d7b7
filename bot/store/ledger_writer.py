"""Writing cost-ledger rows so that no paid call goes uncounted when the store is briefly unwritable.

A model call is paid for once it has answered; its row must reach the store even if the
disk is full or the file is locked for a moment.  A failed write is retried with backoff
(bounded, so a job is never held for long); a row that still cannot be written is logged
loudly and kept in memory, and written before the next row (or at shutdown).

Rows are written on the store's threads (``Store.off_loop``): on PostgreSQL beside a busy
instance an insert and its commit took 4.5 ms at the median and 35 ms at p99
(bench/bench_store_calls.py --storm), once per model call, while the event loop serves
webhooks.  One write runs at a time, so a row is never written twice by two jobs' writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.store.protocol import Store

log = logging.getLogger(__name__)

# 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s: a store that is unwritable for ~3 s loses nothing.
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


class LedgerWriter:
    """``await writer.write(row)``; ``backlog`` holds rows not yet written."""

    def __init__(self, store: Store, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self._store = store
        self._sleep = sleep
        self._delays = delays
        self.backlog: list[dict[str, Any]] = []
        # One flush at a time: two concurrent flushes would both write the oldest kept row.
        self._writing = asyncio.Lock()

    async def write(self, row: dict[str, Any]) -> bool:
        """Write ``row`` (after any rows kept from earlier failures); False when it is kept for later."""
        self.backlog.append(row)
        async with self._writing:
            if not any(kept is row for kept in self.backlog):
                return True  # the write before this one (waited for above) wrote it too
            return await self._write_backlog()

    async def _write_backlog(self) -> bool:
        for attempt, delay in enumerate((*self._delays, None)):
            try:
                await self._store.off_loop(self._flush)
                if attempt:
                    log.info("ledger row written after %d retries", attempt)
                return True
            except Exception as exc:  # noqa: BLE001 - the store's errors differ per backend
                if delay is None:
                    log.error("COST NOT RECORDED YET: %d ledger row(s) could not be written (%s: %s); kept in"
                              " memory and written with the next row: totals and budgets undercount until then",
                              len(self.backlog), type(exc).__name__, exc)
                    return False
                log.warning("ledger write failed (%s: %s); retrying in %.2f s", type(exc).__name__, exc, delay)
                await self._sleep(delay)
        return False  # pragma: no cover - the loop returns

    def flush(self) -> bool:
        """Write what is kept (at shutdown); False (and logged) when the store still refuses."""
        if not self.backlog:
            return True
        try:
            self._flush()
            return True
        except Exception as exc:  # noqa: BLE001
            log.error("COST LOST: %d ledger row(s) could not be written at shutdown (%s: %s): %s",
                      len(self.backlog), type(exc).__name__, exc, self.backlog)
            return False

    def _flush(self) -> None:
        # On a store thread under ``_writing``, or at shutdown; the loop only appends meanwhile.
        while self.backlog:
            self._store.add_ledger_row(self.backlog[0])
            self.backlog.pop(0)
