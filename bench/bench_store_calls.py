"""How long each store call takes, on SQLite and on PostgreSQL: which calls may stay on the
event loop and which must not.

    .venv/bin/python bench/bench_store_calls.py [--backend sqlite|postgres|both] [--calls 200]
        [--ledger-rows 2000] [--storm]

Each call the app makes is timed ``--calls`` times on a fresh store (SQLite in WAL mode in a
temp dir; PostgreSQL: a throw-away cluster with its durable defaults, tests/pg.py), with
``--ledger-rows`` rows already in the cost ledger for one installation (the daily budget
reads them) and a few hundred jobs queued.  With ``--storm`` a second connection (another
instance) commits a job every millisecond and claims meanwhile, so the calls meet the lock
and WAL-flush waits a busy database has.  Prints p50 / p99 / max per call in milliseconds:
a call whose p99 is a good fraction of a millisecond holds every request of the process for
that long each time it runs on the loop.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.store import Job, NewJob, Store, open_store  # noqa: E402
from tests.pg import Cluster  # noqa: E402

REPO = "octo-org/widgets"
PAYLOAD = json.dumps({"issue": {"body": "x" * 14_000}}).encode()


def new_job(issue: int) -> NewJob:
    return NewJob(event="issues", installation_id=1, repo=REPO, issue=issue, payload=PAYLOAD)


def ledger_row(n: int) -> dict[str, Any]:
    return {"at": time.time(), "installation_id": 1, "repo": REPO, "issue": n % 50, "stage": "plan",
            "model": "claude-sonnet-4-5", "input_tokens": 12_000, "output_tokens": 900, "cost_usd": 0.05}


def seed(store: Store, *, ledger_rows: int) -> None:
    for n in range(ledger_rows):
        store.add_ledger_row(ledger_row(n))
    store.record_deliveries([(f"seed-{n}", "issues", new_job(1000 + n)) for n in range(300)])
    store.save_issue_state(REPO, 7, {"state": "planned", "approved_version": 1, "notes": "x" * 2000})
    store.add_plan_version(REPO, 7, 1, {"summary": "y" * 4000})
    store.link_pull_request(REPO, 70, 7)


def calls(store: Store) -> dict[str, Callable[[int], object]]:
    """What the stages, the worker and the webhook call, each as one function of a counter."""
    def by_issue(job: Job) -> str:
        return f"{job.repo}#{job.issue}"

    def claim_and_finish(n: int) -> object:
        job = store.claim_job(f"bench:{n}", lease_seconds=30, lock_key=by_issue)
        if job is not None:
            store.finish_job(job.id, owner=f"bench:{n}")
        return job

    def reserve(n: int) -> object:
        ids = store.reserve_budget([("installation:1", 0.05)], owner="bench:1", ttl_seconds=60,
                                   check=lambda held: store.spent_usd(installation_id=1, since=time.time() - 86_400))
        store.release_budget(ids)
        return ids

    return {
        "issue_state (stage start)": lambda n: store.issue_state(REPO, 7),
        "save_issue_state (each step)": lambda n: store.save_issue_state(
            REPO, 7, {"state": "planned", "approved_version": 1, "step": n, "notes": "x" * 2000}),
        "plan_version": lambda n: store.plan_version(REPO, 7, 1),
        "issue_for_pull_request": lambda n: store.issue_for_pull_request(REPO, 70),
        "add_ledger_row (each model call)": lambda n: store.add_ledger_row(ledger_row(n)),
        "spent_usd(issue) (budget)": lambda n: store.spent_usd(repo=REPO, issue=7),
        "spent_usd(installation, 24 h) (budget)": lambda n: store.spent_usd(installation_id=1,
                                                                            since=time.time() - 86_400),
        "reserve+release_budget (each model call)": reserve,
        "queued_jobs (/healthz)": lambda n: store.queued_jobs(),
        "record_deliveries, 1 job": lambda n: store.record_deliveries([(f"one-{n}", "issues", new_job(n))]),
        "record_deliveries, 32 jobs": lambda n: store.record_deliveries(
            [(f"many-{n}-{k}", "issues", new_job(k)) for k in range(32)]),
        "claim_job+finish_job": claim_and_finish,
    }


def storm(url: str, stop: threading.Event) -> None:
    """Another instance under a job storm: a job recorded every millisecond, claims between."""
    other = open_store(url)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            other.record_deliveries([(f"storm-{n}", "issues", new_job(2000 + n % 500))])
            if n % 5 == 0:
                job = other.claim_job("storm:1", lease_seconds=30, lock_key=lambda job: f"{job.repo}#{job.issue}")
                if job is not None:
                    other.finish_job(job.id, owner="storm:1")
            time.sleep(0.001)
    finally:
        other.close()


def measure(backend: str, args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="route-me-bench-"))
    cluster = Cluster(durable=True) if backend == "postgres" else None
    url = cluster.new_database() if cluster else str(work / "state.db")
    store = open_store(url)
    seed(store, ledger_rows=args.ledger_rows)
    stop = threading.Event()
    stormer = threading.Thread(target=storm, args=(url, stop), daemon=True) if args.storm else None
    if stormer:
        stormer.start()
        time.sleep(0.5)
    print(f"\nbackend={backend} calls={args.calls} ledger_rows={args.ledger_rows} storm={'yes' if args.storm else 'no'}")
    print(f"{'call':44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    try:
        for name, call in calls(store).items():
            times = []
            for n in range(args.calls):
                started = time.perf_counter()
                call(n)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
            print(f"{name:44} {statistics.median(times):8.3f} {p99:8.3f} {times[-1]:8.3f}")
    finally:
        stop.set()
        if stormer:
            stormer.join()
        store.close()
        if cluster:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--ledger-rows", type=int, default=2000)
    parser.add_argument("--storm", action="store_true", help="another instance records and claims jobs meanwhile")
    args = parser.parse_args()
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        measure(backend, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
