"""Every log line written while a job runs carries its delivery id, so one delivery can be followed."""

from __future__ import annotations

import contextvars
import logging

delivery_id: contextvars.ContextVar[str] = contextvars.ContextVar("delivery_id", default="-")
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(delivery)s]: %(message)s"


class DeliveryFilter(logging.Filter):
    """Adds ``record.delivery`` from the context of the task that logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.delivery = delivery_id.get()
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(DeliveryFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
