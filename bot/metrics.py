"""Prometheus metrics (SPEC section 11): what the service counts, and ``GET /metrics``.

Each app owns one ``Metrics`` with its own ``CollectorRegistry`` (never the process-global
one), so several apps in one process, as in the tests, keep separate counts.  Counters are
moved where the event happens (webhook intake, worker, ledger, GitHub client); gauges that
describe the present (queue depth, breaker state, snapshot cache) are read when scraped.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from bot.models.ledger import LedgerEntry

TOKEN_KINDS = ("input", "output", "cache_write", "cache_read")


@dataclass
class Probes:
    """Read at scrape time: set by the app's lifecycle once the worker and runtime exist."""

    queue_depth: Callable[[], int] | None = None
    snapshot_entries: Callable[[], int] | None = None
    # (model spec, whether its circuit breaker is open now) for every configured model
    breakers: Callable[[], Iterable[tuple[str, bool]]] | None = None


class Metrics:
    """The service's counters and gauges, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.probes = Probes()
        r = self.registry
        self.deliveries = Counter(
            "route_me_deliveries", "Webhook deliveries by event and outcome "
            "(queued, ignored, pong, duplicate, unauthorized, bad_request)", ["event", "outcome"], registry=r)
        self.jobs = Counter(
            "route_me_jobs", "Background jobs ended, by event, the last stage they reached and state "
            "(completed, failed, given_up)", ["event", "stage", "state"], registry=r)
        self.queue_depth = Gauge("route_me_queue_depth", "Jobs waiting to run (queued or parked)", registry=r)
        self.model_calls = Counter(
            "route_me_model_calls", "Model attempts by served model, role (stage) and outcome "
            "(ok or the error class)", ["model", "role", "outcome"], registry=r)
        self.model_tokens = Counter(
            "route_me_model_tokens", "Tokens by served model, role, outcome and kind",
            ["model", "role", "outcome", "kind"], registry=r)
        self.model_dollars = Counter(
            "route_me_model_cost_dollars", "Model spend in USD by served model, role and outcome "
            "(calls with a known price)", ["model", "role", "outcome"], registry=r)
        self.model_unpriced = Counter(
            "route_me_model_unpriced_calls", "Model attempts whose price is unknown", ["model", "role"], registry=r)
        self.fallbacks = Counter(
            "route_me_model_fallbacks", "Calls served by a model other than the one requested",
            ["requested", "served", "role"], registry=r)
        self.breaker_open = Gauge(
            "route_me_model_breaker_open", "1 while the model's circuit breaker skips it", ["model"], registry=r)
        self.github_calls = Counter(
            "route_me_github_requests", "GitHub REST requests by method and status (0: no answer)",
            ["method", "status"], registry=r)
        self.github_remaining = Gauge(
            "route_me_github_rate_limit_remaining", "x-ratelimit-remaining of the latest GitHub answer, "
            "by rate-limit resource", ["resource"], registry=r)
        self.snapshot_entries = Gauge(
            "route_me_snapshot_cache_entries", "Repository snapshots kept on disk", registry=r)

    # events ------------------------------------------------------------------------------
    def delivery(self, event: str, outcome: str) -> None:
        self.deliveries.labels(event or "-", outcome).inc()

    def job_ended(self, event: str, stage: str, state: str) -> None:
        self.jobs.labels(event, stage or "-", state).inc()

    def ledger(self, entry: LedgerEntry) -> None:
        """One model attempt, as recorded in the cost ledger."""
        labels = (entry.model, entry.stage, entry.outcome)
        self.model_calls.labels(*labels).inc()
        usage = entry.usage
        for kind, count in zip(TOKEN_KINDS, (usage.input_tokens, usage.output_tokens,
                                             usage.cache_write_tokens, usage.cache_read_tokens), strict=True):
            if count:
                self.model_tokens.labels(*labels, kind).inc(count)
        if entry.cost_usd is None:
            self.model_unpriced.labels(entry.model, entry.stage).inc()
        else:
            self.model_dollars.labels(*labels).inc(entry.cost_usd)
        if entry.outcome == "ok" and entry.model != entry.requested_model:
            self.fallbacks.labels(entry.requested_model, entry.model, entry.stage).inc()

    def github_call(self, method: str, status: int) -> None:
        self.github_calls.labels(method, str(status)).inc()

    def github_rate_limit(self, resource: str, remaining: int) -> None:
        self.github_remaining.labels(resource or "core").set(remaining)

    # scraping ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the present-state gauges from their probes."""
        probes = self.probes
        if probes.queue_depth is not None:
            self.queue_depth.set(probes.queue_depth())
        if probes.snapshot_entries is not None:
            self.snapshot_entries.set(probes.snapshot_entries())
        if probes.breakers is not None:
            for model, is_open in probes.breakers():
                self.breaker_open.labels(model).set(1 if is_open else 0)

    def exposition(self) -> bytes:
        self.refresh()
        return generate_latest(self.registry)


def metrics_handler(metrics: Callable[[], Metrics | None], *, token: str | None = None
                    ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``GET /metrics``; with a token set, only ``Authorization: Bearer <token>`` may scrape."""
    expected = (token or "").encode()

    async def handle(request: web.Request) -> web.Response:
        if expected:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
                return web.json_response({"error": "metrics need Authorization: Bearer <ROUTE_ME_METRICS_TOKEN>"},
                                         status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        current = metrics()
        if current is None:
            return web.json_response({"error": "starting"}, status=503)
        return web.Response(body=current.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle
