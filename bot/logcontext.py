"""Log lines and their context: every line written while a job runs carries its delivery id,
installation, repository, issue, stage and model where known, as text or as one JSON object
per line (``LOG_FORMAT=json``), with secrets redacted by construction.

"By construction" means two things: the formatter writes a fixed set of fields (never a
record's arbitrary attributes, never request headers), and the final line is passed through a
redactor that replaces every configured secret value (webhook secret, private key, API keys,
tokens: see ``secret_values``) and anything shaped like a credential (GitHub tokens, ``sk-``
keys, bearer headers, PEM blocks), so a careless ``log.info("%s", settings.env)`` cannot leak.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import IO, Any

delivery_id: contextvars.ContextVar[str] = contextvars.ContextVar("delivery_id", default="-")
installation: contextvars.ContextVar[int | None] = contextvars.ContextVar("installation", default=None)
repo: contextvars.ContextVar[str | None] = contextvars.ContextVar("repo", default=None)
issue: contextvars.ContextVar[int | None] = contextvars.ContextVar("issue", default=None)
stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)
model: contextvars.ContextVar[str | None] = contextvars.ContextVar("model", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(delivery)s]: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
REDACTED = "[redacted]"
# Environment variables whose values are secrets, by name.
_SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PRIVATE_KEY|API_KEY|_KEY$)", re.IGNORECASE)
# Credential shapes, whatever their source: GitHub tokens (ghs_, ghp_, gho_, ghu_, ghr_,
# github_pat_), provider keys (sk-…, sk-ant-…), Authorization values, PEM blocks.
_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,}"
    r"|\bsk-[A-Za-z0-9_\-]{8,}"
    r"|\b(?:[Bb]earer|[Tt]oken)\s+[A-Za-z0-9_\-.=]{16,}"
    r"|\bsha256=[0-9a-f]{64}\b",
    re.DOTALL,
)


def bind_job(*, delivery: str, installation_id: int | None, repo_name: str | None, number: int | None) -> None:
    """Set the context of the job about to run in this task (stage and model start unknown)."""
    delivery_id.set(delivery)
    installation.set(installation_id)
    repo.set(repo_name)
    issue.set(number)
    stage.set(None)
    model.set(None)


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values in ``env`` that are secrets by their variable's name (long enough to matter),
    and a PEM's lines."""
    found: set[str] = set()
    for name, value in env.items():
        value = (value or "").strip()
        if len(value) < 6 or not _SECRET_NAME.search(name):
            continue
        found.add(value)
        if "PRIVATE KEY" in value:
            pem = value.replace("\\n", "\n")
            found.add(pem)
            # a key may be logged (or quoted) a line at a time
            found.update(line for line in pem.splitlines() if len(line) >= 16 and "-----" not in line)
    return sorted(found, key=len, reverse=True)


class Redactor:
    """Replaces known secret values and credential-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return _SHAPES.sub(REDACTED, text)


class DeliveryFilter(logging.Filter):
    """Adds ``record.delivery`` from the context of the task that logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.delivery = delivery_id.get()
        return True


class TextFormatter(logging.Formatter):
    """The plain format, redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "delivery"):
            record.delivery = delivery_id.get()
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the job's context where known."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = {
            "delivery_id": delivery_id.get(), "installation": installation.get(), "repo": repo.get(),
            "issue": issue.get(), "stage": stage.get(), "model": model.get(),
        }
        line.update({key: value for key, value in context.items() if value not in (None, "-")})
        # Fields a caller passes on purpose with ``extra={"fields": {...}}`` (plain values only).
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({str(k): v for k, v in fields.items() if isinstance(v, (str, int, float, bool, type(None)))})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # Every string is redacted before serializing, so a secret is caught whichever field
        # carries it, and matched as written (JSON would escape a PEM's newlines or a quote).
        return json.dumps({k: self._redact(v) if isinstance(v, str) else v for k, v in line.items()},
                          ensure_ascii=False, default=str)


def check_level(value: str) -> str | None:
    """The problem with a LOG_LEVEL value, or None."""
    if value.strip().upper() not in LEVELS:
        return f"LOG_LEVEL: '{value}' is not one of {', '.join(LEVELS)}"
    return None


def make_handler(*, fmt: str = "text", secrets: Iterable[str] = (), stream: IO[str] | None = None
                 ) -> logging.Handler:
    """A handler writing ``fmt`` lines to ``stream`` (stderr), redacting ``secrets``."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(DeliveryFilter())
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    return handler


def configure(level: str, *, fmt: str = "text", secrets: Iterable[str] = (), stream: IO[str] | None = None) -> None:
    """Send every log line to ``stream`` (stderr) in ``fmt``, at ``level`` and above."""
    logging.basicConfig(level=level.upper(), handlers=[make_handler(fmt=fmt, secrets=secrets, stream=stream)],
                        force=True)
