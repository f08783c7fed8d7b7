"""Webhook intake: verify → parse → de-duplicate and record → answer.  Nothing slow happens here.

The answer codes are the contract of SPEC section 2: 202 when work was queued, 200 for
``ping``, for events that need no work and for a delivery id already seen, 401 for a
missing or wrong ``X-Hub-Signature-256``, 400 for a body that is not a JSON object or
lacks the event headers (or nests deeper than a parser follows), 413 over the size cap,
408 for a body that does not arrive within its deadline, 503 (Retry-After) when too many
large bodies are being received at once (bot/intake_limits.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.core import events
from bot.core.json_body import parse_json
from bot.intake_limits import read_body
from bot.recorder import DeliveryRecorder
from bot.settings import MAX_GITHUB_PAYLOAD
from bot.store import NewJob, Store

log = logging.getLogger(__name__)

def _printable(value: str | None, limit: int = 64) -> str:
    """An unauthenticated header value fit for a log line and a metric label (short, plain)."""
    if value is None:
        return "-"
    return re.sub(r"[^A-Za-z0-9_.:-]", "?", value[:limit]) or "-"


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """HMAC-SHA256 over the raw body, compared in constant time.  sha1 is refused."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def job_for(event: str, payload: dict[str, Any], body: bytes,
            trigger_label: Callable[[str], str | None] = lambda repo: None) -> NewJob | None:
    """The background job a delivery asks for, or None when it needs no work.

    The delivery is classified once (``events.classify``) and its intent is stored with the
    job.  ``trigger_label(repo)`` is the repository's trigger label when its config was read
    in the last minute (else None): a label event for another label is then known to need
    nothing, which is most label traffic, and is not made a job (nor fsynced).
    """
    repository = payload.get("repository")
    repo = str(repository.get("full_name", "")) if isinstance(repository, dict) else ""
    intent = events.classify(event, payload, trigger_label=trigger_label(repo.lower()) if repo else None)
    if intent is None:
        return None
    return NewJob(event=event, installation_id=intent.installation_id, repo=intent.repo, issue=intent.issue,
                  payload=body, intent=intent.to_json())


def signature_shape(header: str | None) -> str:
    """What a signature header looks like, never its value: enough to tell a wrong secret
    (right shape) from a proxy that strips or rewrites the header."""
    if header is None:
        return "missing"
    scheme, sep, digest = header.partition("=")
    if not sep:
        return f"no scheme, {len(header)} chars"
    kind = "hex" if re.fullmatch(r"[0-9a-fA-F]*", digest) else "not hex"
    scheme = scheme if re.fullmatch(r"[a-z0-9]{1,10}", scheme) else "?"
    return f"{scheme}=<{len(digest)} {kind} chars>"


def make_webhook_handler(
    *, secret: str, store: Store, submit: Callable[[int], None],
    trigger_label: Callable[[str], str | None] = lambda repo: None,
    observe: Callable[[str, str], None] = lambda event, outcome: None,
    max_body_bytes: int = MAX_GITHUB_PAYLOAD, body_timeout: float = 10.0, max_large_bodies: int = 2,
) -> Callable[[web.Request], Any]:
    """The intake; ``observe(event, outcome)`` is told how each delivery was answered (metrics)."""
    secret_bytes = secret.encode()
    recorder = DeliveryRecorder(store)
    large_bodies = asyncio.Semaphore(max_large_bodies)

    async def handle(request: web.Request) -> web.Response:
        body = await read_body(request, max_bytes=max_body_bytes, timeout=body_timeout, large=large_bodies)
        if isinstance(body, web.Response):
            return body
        event = request.headers.get("X-GitHub-Event")
        delivery = request.headers.get("X-GitHub-Delivery")
        signature = request.headers.get("X-Hub-Signature-256")
        if not verify_signature(secret_bytes, body, signature):
            # A wrong webhook secret is otherwise invisible: every delivery bounces quietly.
            log.warning("delivery %s (%s) refused with 401: signature %s does not match GITHUB_WEBHOOK_SECRET",
                        _printable(delivery), _printable(event), signature_shape(signature))
            # Not labelled by event: unsigned headers must not mint new metric series.
            observe("-", "unauthorized")
            return web.json_response({"error": "bad or missing X-Hub-Signature-256"}, status=401)
        if not event or not delivery:
            observe(event or "-", "bad_request")
            return web.json_response(
                {"error": "missing X-GitHub-Event or X-GitHub-Delivery"}, status=400
            )
        try:
            payload = parse_json(body)
        except ValueError:
            observe(event, "bad_request")
            return web.json_response({"error": "body is not JSON"}, status=400)
        if not isinstance(payload, dict):
            observe(event, "bad_request")
            return web.json_response({"error": "body is not a JSON object"}, status=400)
        job = job_for(event, payload, body, trigger_label) if event != "ping" else None
        try:
            outcome = await recorder.record(delivery, event, job)
        except Exception as exc:  # noqa: BLE001 - the store failed (disk full, read-only…)
            # Never a 202 for a delivery that is not recorded: a 5xx shows it failed on GitHub's
            # side, where it can be redelivered once the store works again (/healthz says why).
            log.error("delivery %s (%s) could not be recorded: %s: %s", delivery, event, type(exc).__name__, exc)
            return web.json_response({"error": "the delivery could not be recorded; redeliver it later"},
                                     status=503)
        if outcome is False:
            log.info("delivery %s (%s) seen before; ignored", delivery, event)
            observe(event, "duplicate")
            return web.json_response({"status": "duplicate"}, status=200)
        if outcome is None:
            observe(event, "pong" if event == "ping" else "ignored")
            return web.json_response({"status": "pong" if event == "ping" else "ignored"}, status=200)
        submit(outcome)
        observe(event, "queued")
        return web.json_response({"status": "queued", "job": outcome}, status=202)

    return handle
