"""Group commit for webhook deliveries: the deliveries that arrive together are recorded in one
transaction, committed on the store's own thread, and each request is answered once its batch
is durable.

The commit runs off the event loop (``Store.off_loop``): on PostgreSQL it is a network round
trip and a WAL flush, on SQLite an fsync when the batch carries a job, and the loop must go on
reading and verifying the next requests meanwhile.  Those requests form the next batch, which
is committed as soon as the current one is: one batch in flight at a time keeps the order of
commits the order of arrival and makes a storm cost one transaction per round trip, not one
per delivery.
"""

from __future__ import annotations

import asyncio

from bot.store import NewJob, Store

Pending = tuple[str, str, NewJob | None, asyncio.Future[int | None | bool]]


class DeliveryRecorder:
    """``await recorder.record(...)`` gives the delivery's outcome once its batch is committed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[Pending] = []
        # The task committing batches while there are any; a reference is kept so it cannot
        # vanish mid-commit, and it ends when nothing is left to commit.
        self._committer: asyncio.Task[None] | None = None
        self.batches = 0

    def record(self, delivery_id: str, event: str, job: NewJob | None) -> asyncio.Future[int | None | bool]:
        """Queue a delivery for the next batch.  The future gives ``Store.record_deliveries``'s
        result for it, or raises the store's error (the request then answers 503)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None | bool] = loop.create_future()
        self._pending.append((delivery_id, event, job, future))
        if self._committer is None or self._committer.done():
            # A task's first step runs after the callbacks already ready, so the requests read
            # in this pass of the loop join the first batch.
            self._committer = loop.create_task(self._commit_all(), name="route-me-recorder")
        return future

    async def _commit_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            self.batches += 1
            try:
                await self._commit(batch)
            except BaseException:
                # Cancelled (the loop is closing): nobody may wait for an answer that will not come.
                for *_, future in (*batch, *self._pending):
                    future.cancel()
                self._pending = []
                raise

    async def _commit(self, batch: list[Pending]) -> None:
        try:
            results = await self._store.off_loop(self._store.record_deliveries, [(d, e, j) for d, e, j, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the error (503)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its request may have gone (the client hung up)
                future.set_result(result)
