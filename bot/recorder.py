"""Group commit for webhook deliveries: every delivery parsed in one pass of the event loop
is recorded in one SQLite transaction, and each request is answered once its batch is durable."""

from __future__ import annotations

import asyncio

from bot.store import NewJob, Store


class DeliveryRecorder:
    """Batches ``record`` calls made in the same loop iteration into one transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[str, str, NewJob | None, asyncio.Future[int | None | bool]]] = []
        self.batches = 0

    def record(self, delivery_id: str, event: str, job: NewJob | None) -> asyncio.Future[int | None | bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None | bool] = loop.create_future()
        if not self._pending:
            # Runs after the callbacks already ready, so concurrent requests join this batch.
            loop.call_soon(self._flush)
        self._pending.append((delivery_id, event, job, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self.batches += 1
        try:
            results = self._store.record_deliveries([(d, e, j) for d, e, j, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error (500)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
