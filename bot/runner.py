"""The one job runner: a claimed job's lock, its one handler, and the answer to its failure.

A delivery is classified once at intake (``bot/core/events.classify``) and its ``Intent`` is
stored with the job.  From there on this module owns the job, in the manner of gidgethub's
``Event.from_http`` (one typed parse) and miss-islington's task runner (every failure ends in
one human-readable answer):

- ``lock_key`` (given to the worker) takes the job's issue lock from the intent alone: none
  for what must reach a running stage, else the issue behind the pull request or branch;
- ``run_job`` reads the stored payload once into the typed ``Delivery`` parts, looks the
  route-me issue behind a pull request up once, and calls the one handler ``HANDLERS`` names
  for the intent;
- when the job fails, it alone decides whether the issue still needs an answer (a stage
  that broke after answering raises ``FailureReported``), where the answer goes
  (``bot/stages/job_failures.py``), and whether the delivery is forgotten so GitHub's
  "Redeliver" runs it again; the worker then records the failure;
- ``give_up`` answers a job the worker abandoned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from bot.core.events import Delivery, Intent, describe
from bot.core.json_body import parse_json
from bot.github.client import GitHubClient, is_transient
from bot.handlers import HANDLERS, Run
from bot.services import Services
from bot.stages import job_failures
from bot.stages.errors import FailureReported
from bot.store import Job, Store
from bot.worker import IssueKey

log = logging.getLogger(__name__)


def read_delivery(job: Job) -> Delivery:
    """The typed parts of the job's stored payload: the one parse of it after intake."""
    try:
        return Delivery.model_validate(parse_json(job.payload))
    except (ValueError, ValidationError) as exc:  # intake validated the same shape; say so if it changed
        raise ValueError(f"the stored payload of delivery {job.delivery_id} cannot be read: {exc}") from exc


def job_intent(job: Job, delivery: Delivery | None = None) -> Intent:
    """The job's intent as classified at intake; a job recorded before intents were stored is
    described from its payload now (``delivery``, when it has already been read)."""
    if job.intent is not None:
        return Intent.from_json(job.intent)
    payload = delivery if delivery is not None else parse_json(job.payload)
    return describe(job.event, payload, repo=job.repo, installation_id=job.installation_id)


def issue_behind(store: Store, intent: Intent) -> int | None:
    """The issue behind the route-me pull request or branch a delivery is about, or None
    (a comment on the issue itself, or nothing of route-me's)."""
    for number in intent.pull_requests:
        issue = store.issue_for_pull_request(intent.repo, number)
        if issue is not None:
            return issue
    return intent.issue_from_branches()


def lock_key_for(store: Store) -> Callable[[Job], IssueKey | None]:
    """The worker's lock decision, from the job's intent alone: None (no lock) for what must
    reach a stage that is still running (``/cancel``, removing the label, closing the issue:
    the stage sees the cancelled state before its next model call and stops); else the
    issue, where a job about a route-me pull request locks the issue it belongs to, so a
    command, a closed pull request or a finished check suite waits for the issue's implement
    or judge run instead of racing it.  Asks only the store; the webhook stays free of lookups.
    """

    def lock_key(job: Job) -> IssueKey | None:
        intent = job_intent(job)
        if intent.bypasses_lock:
            return None
        issue = issue_behind(store, intent)
        return (job.repo, issue if issue is not None else job.issue)

    return lock_key


async def run_job(services: Services, job: Job, attempt: int) -> None:
    """Run one claimed job through its one handler; answer and re-raise its failure."""
    delivery = read_delivery(job)
    intent = job_intent(job, delivery)
    log.info("%s.%s on %s#%s (attempt %d)", job.event, intent.action, job.repo, job.issue, attempt)
    if job.installation_id is None:
        log.warning("delivery %s has no installation; skipped", job.delivery_id)
        return
    handler = HANDLERS.get((intent.event, intent.action))
    if handler is None:
        log.info("delivery %s (%s.%s) needs no handler; skipped", job.delivery_id, intent.event, intent.action)
        return
    gh = services.installation_client(job.installation_id)
    run = Run(services=services, gh=gh, intent=intent, delivery=delivery, job_id=job.id, attempt=attempt,
              linked_issue=issue_behind(services.store, intent))
    failure: Exception | None = None
    answered = False
    try:
        await handler(run)
    except FailureReported as reported:
        failure, answered = reported.error, True
    except Exception as exc:  # noqa: BLE001 - answered below, then raised again for the worker
        failure = exc
    if failure is None:
        return
    if not answered:
        # A failure before (or outside) any stage, such as the config read or the permission
        # check, would otherwise go unanswered.
        await _answer(job, job_failures.report_unhandled(services, intent, delivery,
                                                         linked_issue=run.linked_issue, exc=failure))
    if not made_changes(gh):
        # Nothing was done (say, the token request or the config read failed): GitHub's
        # "Redeliver" of this delivery must run it again, not be ignored as a duplicate.
        forget_delivery(services, job)
    raise failure


async def give_up(services: Services, job: Job, what: str) -> None:
    """Tell the maintainers about a job the worker gave up on (interrupted too often, or
    unschedulable); ``what`` says why."""
    delivery = read_delivery(job)
    intent = job_intent(job, delivery)
    if job.installation_id is None:
        log.warning("abandoned job %s has no installation; nobody told", job.id)
        return
    await job_failures.report_abandoned(services, intent, delivery,
                                        linked_issue=issue_behind(services.store, intent), what=what)


async def _answer(job: Job, report: Awaitable[None]) -> None:
    """Await a failure report; one that fails itself is only logged (the job's own failure is
    what the worker records)."""
    try:
        await report
    except Exception as report_exc:  # noqa: BLE001
        log.warning("could not report the failure of job %s: %s: %s", job.id, type(report_exc).__name__,
                    report_exc, exc_info=not is_transient(report_exc))


def made_changes(gh: GitHubClient) -> bool:
    """Whether a job's client sent GitHub anything but reads (tried, even if it failed: a write
    may take effect and lose its answer).  The failure report uses a client of its own."""
    return any(method not in ("GET", "HEAD") for method, _, _ in gh.calls)


def forget_delivery(services: Services, job: Job) -> None:
    try:
        services.store.forget_delivery(job.delivery_id)
        log.info("job %s failed without effect; delivery %s may be redelivered", job.id, job.delivery_id)
    except Exception:  # noqa: BLE001 - the job's own failure is what the worker records
        log.exception("could not forget delivery %s", job.delivery_id)
