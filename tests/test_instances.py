"""Several real ``route-me serve`` processes on one real PostgreSQL (SPEC section 10).

The fake GitHub and fake model servers answer from this test's event loop; each instance is
a separate process with its own port, sharing only the database.  Leases are short here
(ROUTE_ME_LEASE_SECONDS) so that take-over is seconds, not the default half minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.markers import find_marker
from bot.store import open_store
from tests import scenario as sc
from tests.fakes.app_keys import generate_app_key
from tests.fakes.deliveries import issue_comment, issue_labeled
from tests.fakes.harness import bot_env
from tests.fakes.instances import Cluster, Instance

LEASE = "2"


@pytest.fixture
async def cluster(tmp_path: Path, postgres_url: str, github, anthropic, openai) -> AsyncIterator[Cluster]:
    private, _ = generate_app_key()
    env = bot_env(tmp_path, github_url=github.url, private_key=private, anthropic_url=anthropic.base_url,
                  openai_url=openai.base_url, ROUTE_ME_DB=postgres_url, ROUTE_ME_LEASE_SECONDS=LEASE,
                  ROUTE_ME_SHUTDOWN_GRACE="20", LOG_LEVEL="INFO")
    cluster = Cluster(env, workdir=tmp_path / "instances")
    try:
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        await cluster.close()


@pytest.fixture
def store(postgres_url: str):
    store = open_store(postgres_url)
    yield store
    store.close()


def labeled(number: int) -> dict[str, Any]:
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=number, label="route-me",
                         title=f"issue {number}", body=sc.ISSUE_BODY, sender=sc.MAINTAINER)


def commented(body: str, *, comment_id: int, number: int = sc.ISSUE) -> dict[str, Any]:
    return issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=sc.MAINTAINER,
                         comment_id=comment_id)


def plan_comments(github, number: int) -> list[dict[str, Any]]:
    return [c for c in github.comments(sc.OWNER, sc.REPO, number) if find_marker(c["body"], "plan")]


async def until(predicate, *, timeout: float, what: str) -> float:
    """Wait for ``predicate``; returns the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def settled(store) -> bool:
    return not store.unfinished_jobs()


def owner_of_running(store) -> str | None:
    running = [job for job in store.unfinished_jobs() if job.status == "running" and job.owner]
    return running[0].owner.split(":", 1)[0] if running else None


async def planned_issue(cluster: Cluster, github, store, instance: Instance) -> None:
    assert await cluster.send(instance, "issues", labeled(sc.ISSUE), delivery_id="label-7") == 202
    await until(lambda: plan_comments(github, sc.ISSUE) and settled(store), timeout=60, what="the plan")


async def test_fifty_issues_labelled_at_once_and_redelivered_are_planned_once_each(cluster, github, anthropic,
                                                                                  store) -> None:
    sc.seed(github)
    numbers = range(1, 51)
    for number in numbers:
        if number != sc.ISSUE:
            github.add_issue(sc.OWNER, sc.REPO, number=number, title=f"issue {number}", body=sc.ISSUE_BODY)
    anthropic.responder = sc.anthropic_roles()
    instances = await cluster.start(3)

    async def deliver(number: int) -> list[int]:
        # The same delivery to two instances at once, as a redelivery racing the original.
        first, second = instances[number % 3], instances[(number + 1) % 3]
        return sorted(await asyncio.gather(
            cluster.send(first, "issues", labeled(number), delivery_id=f"label-{number}"),
            cluster.send(second, "issues", labeled(number), delivery_id=f"label-{number}")))

    answers = await asyncio.gather(*(deliver(n) for n in numbers))
    assert answers == [[200, 202]] * 50  # one queued, one recognised as seen, across instances
    await until(lambda: all(plan_comments(github, n) for n in numbers) and settled(store), timeout=120,
                what="50 plans")
    assert [len(plan_comments(github, n)) for n in numbers] == [1] * 50
    assert anthropic.calls == 50  # each issue planned exactly once
    jobs = store_jobs(store)
    assert len(jobs) == 50 and {j["status"] for j in jobs} == {"done"}


async def test_double_approve_across_instances_opens_one_pull_request(cluster, github, anthropic, openai,
                                                                     store) -> None:
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    openai.responder = sc.implementer_replies()
    first, second = await cluster.start(2)
    await planned_issue(cluster, github, store, first)
    answers = await asyncio.gather(
        cluster.send(first, "issue_comment", commented("/approve", comment_id=501), delivery_id="approve-1"),
        cluster.send(second, "issue_comment", commented("/approve", comment_id=502), delivery_id="approve-2"))
    assert answers == [202, 202]
    await until(lambda: github.pulls(sc.OWNER, sc.REPO) and settled(store), timeout=60, what="the pull request")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1


async def test_sigkill_of_the_implementing_instance_leads_to_one_pull_request_from_another(
        cluster, github, anthropic, openai, store) -> None:
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    script = sc.implementer_replies()
    arrived, never = asyncio.Event(), asyncio.Event()

    async def implementer(body: dict[str, Any]) -> Any:
        if not arrived.is_set():
            arrived.set()
            await never.wait()  # the instance running it dies with this request open
        return script(body)

    openai.responder = implementer
    first, _ = await cluster.start(2)
    await planned_issue(cluster, github, store, first)
    assert await cluster.send(first, "issue_comment", commented("/approve", comment_id=601),
                              delivery_id="approve-1") == 202
    await asyncio.wait_for(arrived.wait(), 30)
    victim = cluster.by_name(owner_of_running(store))
    victim.kill()
    killed_at = time.monotonic()
    await victim.wait(10)
    await until(lambda: github.pulls(sc.OWNER, sc.REPO) and settled(store), timeout=60,
                what="the pull request from the surviving instance")
    took = time.monotonic() - killed_at
    never.set()
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1
    assert took < 60
    survivor = next(i for i in cluster.instances if i is not victim)
    assert "resuming job" in survivor.log()


async def test_sigterm_lets_a_running_job_finish_and_takes_no_new_one(cluster, github, anthropic, store) -> None:
    sc.seed(github)
    github.add_issue(sc.OWNER, sc.REPO, number=8, title="issue 8", body=sc.ISSUE_BODY)
    roles = sc.anthropic_roles()
    arrived, release = asyncio.Event(), asyncio.Event()

    async def planner(body: dict[str, Any]) -> Any:
        if not arrived.is_set():
            arrived.set()
            await release.wait()
        return roles(body)

    anthropic.responder = planner
    first, second = await cluster.start(2)
    assert await cluster.send(first, "issues", labeled(sc.ISSUE), delivery_id="label-7") == 202
    await asyncio.wait_for(arrived.wait(), 30)
    victim = cluster.by_name(owner_of_running(store))
    other = second if victim is first else first
    victim.terminate()
    stopped_at = time.monotonic()
    await asyncio.sleep(1.0)
    assert victim.process.returncode is None  # draining: the running job is given its grace
    assert await cluster.send(other, "issues", labeled(8), delivery_id="label-8") == 202
    await until(lambda: plan_comments(github, 8), timeout=30, what="issue 8's plan from the other instance")
    release.set()
    assert await victim.wait(25) == 0
    assert time.monotonic() - stopped_at < 20 + 3
    await until(lambda: plan_comments(github, sc.ISSUE) and settled(store), timeout=30, what="issue 7's plan")
    assert len(plan_comments(github, sc.ISSUE)) == 1 and len(plan_comments(github, 8)) == 1
    assert anthropic.calls == 2  # the drained job was not run again elsewhere
    assert "resuming job" not in other.log()


async def test_sigterm_releases_a_job_that_outlasts_the_grace_to_another_instance(cluster, github, anthropic,
                                                                                 store) -> None:
    sc.seed(github)
    roles = sc.anthropic_roles()
    arrived, never = asyncio.Event(), asyncio.Event()

    async def planner(body: dict[str, Any]) -> Any:
        if not arrived.is_set():
            arrived.set()
            await never.wait()
        return roles(body)

    anthropic.responder = planner
    await cluster.start(2, ROUTE_ME_SHUTDOWN_GRACE="3")
    assert await cluster.send(cluster.instances[0], "issues", labeled(sc.ISSUE), delivery_id="label-7") == 202
    await asyncio.wait_for(arrived.wait(), 30)
    victim = cluster.by_name(owner_of_running(store))
    victim.terminate()
    stopped_at = time.monotonic()
    assert await victim.wait(15) == 0
    assert time.monotonic() - stopped_at < 3 + 3  # the grace, then release and exit
    took = await until(lambda: plan_comments(github, sc.ISSUE) and settled(store), timeout=30,
                       what="the plan from the other instance")
    never.set()
    assert took < float(LEASE)  # released, not left for its lease to run out
    assert len(plan_comments(github, sc.ISSUE)) == 1
    (job,) = [j for j in store_jobs(store)]
    assert job["attempts"] == 1  # a release is not an interrupted attempt


def store_jobs(store) -> list[dict[str, Any]]:
    with store._connect() as execute:
        rows = execute("SELECT id, status, attempts FROM jobs ORDER BY id").fetchall()
    return [{"id": r[0], "status": r[1], "attempts": r[2]} for r in rows]


async def test_a_daily_budget_cap_holds_across_instances(cluster, github, anthropic, store) -> None:
    sc.seed(github)
    github.add_issue(sc.OWNER, sc.REPO, number=8, title="issue 8", body=sc.ISSUE_BODY)
    roles = sc.anthropic_roles()
    arrived, release = asyncio.Event(), asyncio.Event()

    async def planner(body: dict[str, Any]) -> Any:
        arrived.set()
        await release.wait()  # the first call is in flight while the other instance asks
        return roles(body)

    anthropic.responder = planner
    # A planner call's worst case is ~$0.33 (16,000 output tokens at $20/M plus the input): one
    # fits under $0.50, two at once do not.  Alone, each instance would admit its own.
    first, second = await cluster.start(2, ROUTE_ME_DAILY_BUDGET_USD="0.5")
    assert await cluster.send(first, "issues", labeled(sc.ISSUE), delivery_id="label-7") == 202
    await asyncio.wait_for(arrived.wait(), 30)
    assert await cluster.send(second, "issues", labeled(8), delivery_id="label-8") == 202
    await until(lambda: any("daily budget" in c["body"] for c in github.comments(sc.OWNER, sc.REPO, 8)),
                timeout=30, what="issue 8 refused by the daily budget")
    assert anthropic.calls == 1
    release.set()
    await until(lambda: plan_comments(github, sc.ISSUE) and settled(store), timeout=30, what="issue 7's plan")
    spent = store.spent_usd(installation_id=42)
    assert 0 < spent <= 0.5
