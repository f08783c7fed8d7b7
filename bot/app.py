"""The app factory: routes and the lifecycle of the shared session, store, clients and worker."""

from __future__ import annotations

import asyncio
import gc
import html
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from bot import handlers, logcontext, runner
from bot.intake_limits import GUARD, make_guard
from bot.metrics import Metrics, metrics_handler
from bot.services import Services, open_services
from bot.settings import Settings
from bot.stages.runtime import runtime
from bot.store import Job, Store
from bot.webhook import make_webhook_handler
from bot.worker import Worker

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
WORKER = web.AppKey("worker", Worker)
INTAKE = web.AppKey("intake", object)


def create_app(
    settings: Settings,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """Build the aiohttp application.  Nothing is opened until the app starts."""
    guard = make_guard(settings)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[guard.middleware])
    app[GUARD] = guard
    started = time.time()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with open_services(settings, sleep=sleep, clock=clock) as services:
            store = services.store

            async def run(job: Job, attempt: int) -> None:
                await runner.run_job(services, job, attempt)

            async def give_up(job: Job, what: str) -> None:
                await runner.give_up(services, job, what)

            metrics = services.metrics

            def ended(job: Job, state: str) -> None:
                metrics.job_ended(job.event, logcontext.stage.get() or "-", state)

            worker = Worker(store=store, run=run, give_up=give_up, concurrency=settings.workers,
                            lock_key=runner.lock_key_for(store),
                            instance=settings.instance, lease_seconds=settings.lease_seconds,
                            ended=ended)
            # Read by the claimer on a store thread: a scrape never waits on the database.
            metrics.probes.queue_depth = lambda: worker.last_queued
            pruner: asyncio.Task[None] | None = None
            try:
                await handlers.setup(services)
                app[SERVICES] = services
                app[WORKER] = worker
                app[INTAKE] = make_webhook_handler(
                    secret=settings.github_webhook_secret, store=store, submit=worker.submit,
                    trigger_label=runtime(services).trigger_labels.get, observe=metrics.delivery,
                    max_body_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout,
                    max_large_bodies=settings.max_large_bodies,
                )
                await worker.start()
                log.info("route-me ready: GitHub App %s, listening on %s:%s, webhook POST %s, models strong=%s "
                         "cheap=%s judge=%s fallbacks=%s", settings.github_app_id, settings.host, settings.port,
                         settings.webhook_path, settings.strong, settings.cheap, settings.judge,
                         ",".join(settings.fallbacks) or "none")
                pruner = asyncio.create_task(prune_periodically(store), name="route-me-prune")
                # Everything built so far (imported SDKs, pydantic models, clients) lives for the
                # whole process; freezing it keeps full GC passes from walking it again and again,
                # which otherwise shows up as ~100 ms stalls in the webhook's tail latency.
                gc.freeze()
                yield
            finally:
                if pruner is not None:
                    pruner.cancel()
                    await asyncio.gather(pruner, return_exceptions=True)
                # SIGTERM (aiohttp stops listening first): running jobs get the grace period,
                # then are released for another instance (SPEC section 10).
                await worker.shutdown(grace=settings.shutdown_grace)
                await handlers.teardown(services)

    async def healthz(request: web.Request) -> web.Response:
        body: dict[str, object] = {"status": "ok", "uptime_s": round(time.time() - started, 1)}
        worker = request.app.get(WORKER)
        services = request.app.get(SERVICES)
        # On the store's threads: a health check must answer while the database is slow.
        problem = await services.store.off_loop(services.store.health) if services is not None else None
        if worker is not None:
            try:
                body["queued"] = await worker.queued()
            except Exception as exc:  # noqa: BLE001 - health must answer, and say why
                problem = problem or f"the state store cannot be read: {exc}"
            body.update(completed=worker.completed, failed=worker.failed)
            if not worker.alive:
                # Deliveries would still get 202 while nothing runs them: say so.
                body["status"] = "worker stopped"
                return web.json_response(body, status=503)
        if problem is not None:
            # Deliveries are refused (5xx) while the store cannot record them: say why.
            body["status"] = problem
            return web.json_response(body, status=503)
        return web.json_response(body)

    async def webhook(request: web.Request) -> web.Response:
        # Routes freeze before the lifecycle runs, so the intake built there is looked up here.
        return await request.app[INTAKE](request)

    def current_metrics() -> Metrics | None:
        services = app.get(SERVICES)
        return services.metrics if services is not None else None

    async def home(request: web.Request) -> web.Response:
        # app.yml's redirect_url and a browser pointed at the host land here: say what this is.
        return web.Response(text=HOME_PAGE.format(path=html.escape(settings.webhook_path)), content_type="text/html")

    async def stop_claiming(app: web.Application) -> None:
        # Shutdown begins (SIGTERM): no new job is taken while aiohttp finishes the requests
        # in flight; the cleanup above then drains the running ones.
        worker = app.get(WORKER)
        if worker is not None:
            await worker.stop_claiming()

    app.on_shutdown.append(stop_claiming)
    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(settings.webhook_path, webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler(current_metrics, token=settings.metrics_token))
    app.router.add_get("/", home)
    return app


HOME_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>route-me</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>route-me is running</h1>
<p>This is a GitHub App's webhook service. GitHub delivers events to <code>POST {path}</code>;
health is at <code>/healthz</code> and Prometheus metrics at <code>/metrics</code>.</p>
<p>Registering the App? Run <code>route-me register</code> on your machine: it sends the manifest to GitHub
and writes the credentials to <code>.env</code>.</p>
</body></html>
"""


KEEP_SECONDS = 30 * 86_400
PRUNE_EVERY_SECONDS = 6 * 3_600


async def prune_periodically(store: Store) -> None:
    """Keep the state file bounded: old finished jobs and delivery ids are dropped."""
    while True:
        try:
            removed = store.prune(older_than_seconds=KEEP_SECONDS)
            if removed:
                log.info("pruned %d old rows from the state file", removed)
        except Exception:  # noqa: BLE001 - pruning must never stop the service
            log.exception("pruning the state file failed")
        await asyncio.sleep(PRUNE_EVERY_SECONDS)
