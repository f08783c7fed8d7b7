"""Failures of a whole job: before any stage began (config read, permission check), or a job
abandoned after restarts.  Each is answered where the maintainer acted, once."""

from __future__ import annotations

import pytest

from bot.store import SqliteStore
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, issue_labeled
from tests.fakes.harness import leave_interrupted_job

REPO = f"{sc.OWNER}/{sc.REPO}"


def labeled(label: str = "route-me") -> dict:
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label=label,
                         title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER)


def commented(body: str, *, number: int = sc.ISSUE, on_pull_request: bool = False, cid: int = 9001) -> dict:
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=sc.MAINTAINER,
                            on_pull_request=on_pull_request, comment_id=cid)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    return payload


def bodies(github, number: int = sc.ISSUE) -> list[str]:
    return [c["body"] for c in github.comments(sc.OWNER, sc.REPO, number)]


@pytest.mark.parametrize("route,fault", [
    (r"/contents/\.github/route-me\.yml", {"status": 502, "times": 10}),
    (r"/collaborators/.*/permission", {"status": 403, "times": 10, "headers": {"retry-after": "120"}}),
])
async def test_a_label_whose_preflight_fails_is_answered(make_bot, github, anthropic, route, fault) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    github.fail_next("GET", route, **fault)
    assert (await bot.send("issues", labeled())).status == 202
    await bot.settle()

    assert bot.worker.failed == 1 and anthropic.calls == 0
    (comment,) = bodies(github)
    assert "route-me could not finish handling this" in comment
    assert f"GitHub answered {fault['status']}" in comment
    assert "Remove the `route-me` label and add it again" in comment
    # No stage ran, so the issue is not marked failed (`/retry` would have nothing to redo).
    assert bot.services.store.issue_state(REPO, sc.ISSUE) is None


async def test_another_label_whose_config_read_fails_stays_quiet(make_bot, github, anthropic) -> None:
    sc.seed(github)
    bot = await make_bot()
    github.fail_next("GET", r"/contents/\.github/route-me\.yml", status=502, times=10)
    await bot.send("issues", labeled("bug"))
    await bot.settle()
    assert bot.worker.failed == 1
    assert bodies(github) == []  # not route-me's label: no noise on the issue


async def test_an_approve_whose_permission_check_fails_is_answered(make_bot, github, anthropic) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await bot.send("issues", labeled())
    await bot.settle()
    before = len(bodies(github))
    bot.services.extras["runtime"].permissions._cache.clear()
    github.fail_next("GET", r"/collaborators/.*/permission", status=502, times=10)
    await bot.send("issue_comment", commented("/approve", cid=801))
    await bot.settle()

    assert bot.worker.failed == 1
    new = bodies(github)[before:]
    assert len(new) == 1
    assert "GitHub answered 502" in new[0] and "Comment `/approve` again" in new[0]
    assert bot.services.store.issue_state(REPO, sc.ISSUE)["state"] == "planned"


async def test_a_failure_a_stage_reported_is_not_reported_twice(make_bot, github, anthropic) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    # The progress comment comes back without an id: an unexpected error inside the plan
    # stage, which the stage reports and re-raises.
    github.fail_next("POST", rf"/issues/{sc.ISSUE}/comments$", status=201, body={"unexpected": True})
    await bot.send("issues", labeled())
    await bot.settle()
    assert bot.worker.failed == 1  # the stage re-raised after reporting
    stage_reports = [b for b in bodies(github) if "stage failed" in b]
    job_reports = [b for b in bodies(github) if "could not finish handling" in b]
    assert len(stage_reports) == 1 and job_reports == []


async def test_an_abandoned_fix_on_the_pull_request_is_reported_as_fix_and_can_be_retried(
        start_planned, github) -> None:
    bot = await start_planned()
    await bot.send("issue_comment", commented("/approve", cid=1001))
    await bot.settle()
    pr = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    on_issue = len(bodies(github))

    await bot.stop()
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=pr, body="/fix also handle -0",
                            user=sc.MAINTAINER, on_pull_request=True, comment_id=1002)
    job_id = leave_interrupted_job(bot.env["ROUTE_ME_DB"], "issue_comment", payload, delivery_id="fix-crashy")
    store = SqliteStore(bot.env["ROUTE_ME_DB"])
    store.start_job(job_id)
    store.start_job(job_id)  # interrupted three times in all
    store.close()
    await bot.start()
    await bot.settle()

    (report,) = bodies(github, pr)
    assert "the fix stage failed" in report and "interrupted several times" in report
    assert len(bodies(github)) == on_issue  # answered on the pull request, not the issue
    state = bot.services.store.issue_state(REPO, sc.ISSUE)
    assert state["state"] == "failed" and state["failed_stage"] == "fix"
    assert state["pending_feedback"] == "also handle -0"

    fixes = len([r for r in github.requests if r.method == "POST" and r.path.endswith("/git/commits")])
    await bot.send("issue_comment", commented("/retry", number=pr, on_pull_request=True, cid=1003))
    await bot.settle()
    assert "Nothing has failed here" not in bodies(github, pr)[-1]
    # /retry ran the fix stage: a new commit was made on the pull request's branch.
    assert len([r for r in github.requests if r.method == "POST" and r.path.endswith("/git/commits")]) > fixes


async def test_an_abandoned_status_command_is_answered_without_failing_the_issue(make_bot, github,
                                                                                  anthropic) -> None:
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await bot.send("issues", labeled())
    await bot.settle()
    await bot.stop()
    payload = commented("/status", cid=1101)
    job_id = leave_interrupted_job(bot.env["ROUTE_ME_DB"], "issue_comment", payload, delivery_id="status-crashy")
    store = SqliteStore(bot.env["ROUTE_ME_DB"])
    store.start_job(job_id)
    store.start_job(job_id)
    store.close()
    await bot.start()
    await bot.settle()

    last = bodies(github)[-1]
    assert "interrupted several times" in last and "Comment `/status` again" in last
    assert bot.services.store.issue_state(REPO, sc.ISSUE)["state"] == "planned"
