"""CI fix rounds end to end: a failing check on the pull request leads, with no human command,
to one implementer commit made from what CI said; the review's verdict puts CI first."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes.deliveries import load_payload, retarget
from tests.test_plan_stage import comment
from tests.test_score_stage import check_suite_completed

CHECK_RUN_SCHEMA = Path("/work/shared/github/schemas/openapi/check_run.completed.schema.json")
BRANCH = f"route-me/issue-{sc.ISSUE}"
TOKEN = "ZEBRA-4242-UNIQUE"
# An Actions log as GitHub serves it: a timestamp on every line, setup noise, then pytest's failure.
FAILED_LOG = "".join(f"2026-11-25T10:00:{i % 60:02d}.0000000Z {line}\n" for i, line in enumerate(
    ["##[group]Run actions/checkout@v4", *[f"  setup line {n}" for n in range(400)], "##[endgroup]",
     "============================= test session starts ==============================",
     "tests/test_ops.py .F                                                     [100%]",
     "=================================== FAILURES ===================================",
     "_____________________________ test_divide_by_zero ______________________________",
     "    def test_divide_by_zero():",
     ">       assert divide(1, 0) is None",
     f"E       ValueError: b must not be zero ({TOKEN})",
     "tests/test_ops.py:9: ValueError",
     "=========================== short test summary info ============================",
     "FAILED tests/test_ops.py::test_divide_by_zero - ValueError: b must not be zero",
     "========================= 1 failed, 1 passed in 0.03s ==========================",
     "##[error]Process completed with exit code 1."]))
FIX_TURNS = [("replace_in_file", {"path": "calc/ops.py", "old": '    """a divided by b."""\n',
                                  "new": '    """a divided by b; b must not be zero."""\n'}),
             ("finish", {"summary": "Documented the zero rule."})]


def check_run_completed(run: dict, pull: dict) -> dict:
    """A check_run.completed delivery: the fake's own check run JSON, with the suite and pull request
    GitHub adds in the webhook, validated against GitHub's webhook schema."""
    real = retarget(load_payload("pull_request.opened.1"), owner=sc.OWNER, repo=sc.REPO)
    api = real["repository"]["url"]
    head, base = pull["head"], pull["base"]
    ref = {"id": real["repository"]["id"], "url": api, "name": sc.REPO}
    pull_ref = {"url": pull["url"], "id": pull["id"], "number": pull["number"],
                "head": {"ref": head["ref"], "sha": head["sha"], "repo": ref},
                "base": {"ref": base["ref"], "sha": base["sha"], "repo": ref}}
    check_run = copy.deepcopy(run)
    check_run["pull_requests"] = [pull_ref]
    check_run["check_suite"] = {
        "id": run["check_suite"]["id"], "node_id": "CS_x", "head_branch": head["ref"], "head_sha": run["head_sha"],
        "status": "completed", "conclusion": run["conclusion"], "url": f"{api}/check-suites/1",
        "before": base["sha"], "after": run["head_sha"], "app": copy.deepcopy(run["app"]), "pull_requests": [pull_ref],
        "created_at": "2026-11-25T00:00:00Z", "updated_at": "2026-11-25T00:05:00Z"}
    event = {"action": "completed", "check_run": check_run, "repository": real["repository"],
             "installation": real["installation"], "sender": real["sender"]}
    jsonschema.validate(event, json.loads(CHECK_RUN_SCHEMA.read_text()))
    return event


def status_event(github, sha: str, *, state: str, context: str = "ci/jenkins",
                 description: str = "") -> dict:
    """A status delivery as GitHub documents it (webhook events: status), for a status the fake also serves."""
    status = github.add_status(sc.OWNER, sc.REPO, sha, context=context, state=state, description=description,
                               target_url="https://ci.example.com/build/17")
    real = retarget(load_payload("pull_request.opened.1"), owner=sc.OWNER, repo=sc.REPO)
    return {"id": status["id"], "sha": sha, "name": f"{sc.OWNER}/{sc.REPO}", "target_url": status["target_url"],
            "avatar_url": None, "context": context, "description": description, "state": state,
            "commit": {"sha": sha}, "branches": [{"name": BRANCH, "commit": {"sha": sha}, "protected": False}],
            "created_at": status["created_at"], "updated_at": status["updated_at"],
            "repository": real["repository"], "installation": real["installation"], "sender": real["sender"]}


@pytest.fixture
def opened(start_planned, github):
    """``bot, pull = await opened(config=...)``: planned, approved, pull request open and scored."""
    async def open_(config: str | None = None):
        bot = await start_planned(config=config)
        await comment(bot, "/approve")
        return bot, github.pulls(sc.OWNER, sc.REPO)[0]
    return open_


def review(github, pull) -> str:
    reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
    assert len(reviews) == 1
    return reviews[0]["body"]


def first_line(body: str) -> str:
    return [line for line in body.splitlines() if line and not line.startswith("<!--")][0]


async def fail_ci(bot, github, pull, head: str, *, log: str = FAILED_LOG) -> dict:
    run = github.add_ci_run(sc.OWNER, sc.REPO, head, check_name="test (3.12)", title="1 failed, 1 passed",
                            summary="pytest", log=log)
    response = await bot.send("check_run", check_run_completed(run, {**pull, "head": {**pull["head"], "sha": head}}))
    await bot.settle()
    assert response.status == 202
    return run


async def test_a_failing_check_leads_to_one_commit_made_from_its_log_with_no_human_command(opened, github, openai):
    bot, pull = await opened()
    repo = github.repo(sc.OWNER, sc.REPO)
    head = repo.head_sha(BRANCH)
    openai.responder = sc.implementer_replies(FIX_TURNS)
    calls_before, commits_before = openai.calls, github.count("POST", "/git/commits")
    run = await fail_ci(bot, github, pull, head)
    round_requests = openai.completion_bodies[calls_before:]
    assert round_requests and TOKEN in json.dumps(round_requests[0])  # the log line reached the implementer
    assert "setup line 10" not in json.dumps(round_requests[0])  # the noise did not
    assert "tests/test_ops.py::test_divide_by_zero" in json.dumps(round_requests[0])
    assert github.count("POST", "/git/commits") == commits_before + 1
    new_head = repo.head_sha(BRANCH)
    assert repo.text("rev-parse", f"{new_head}^") == head  # exactly one commit on top
    assert "CI on #" in repo.text("log", "-1", "--format=%s", new_head)
    body = review(github, pull)
    assert first_line(body).startswith("⏳ **CI:** waiting for checks on fix round 1's commit")
    assert "Round 1 of 2: commit" in body and "outside the plan" not in body.split("### CI fix rounds")[1]
    # The round's model calls are their own ledger stage.
    assert "| ci_fix |" in body
    # CI goes green on the new head: the verdict says so, with no model call.
    github.add_ci_run(sc.OWNER, sc.REPO, new_head, check_name="test (3.12)", conclusion="success")
    calls = openai.calls
    green = check_suite_completed({**pull, "head": {**pull["head"], "sha": new_head}}, conclusion="success")
    await bot.send("check_suite", green)
    await bot.settle()
    assert first_line(review(github, pull)) == "✅ **CI passing** after 1 fix round · judge's score 4.6/5"
    assert openai.calls == calls
    assert run["html_url"] not in first_line(review(github, pull))


async def test_the_verdict_links_the_failing_check_while_the_round_runs(opened, github, openai):
    bot, pull = await opened()
    head = github.repo(sc.OWNER, sc.REPO).head_sha(BRANCH)
    seen: list[str] = []
    script = sc.implementer_replies(FIX_TURNS)

    def respond(body):
        seen.append(review(github, pull))
        return script(body)

    openai.responder = respond
    run = await fail_ci(bot, github, pull, head)
    verdict = first_line(seen[0])
    assert verdict.startswith(f"⚠️ **CI failing:** [`test (3.12)`]({run['html_url']}) "
                              "(`tests/test_ops.py::test_divide_by_zero`) — fix round 1 of 2 running")
    assert verdict.endswith("· judge's score 4.6/5")
    assert seen[0].index("CI failing") < seen[0].index("## route-me scorecard")


async def test_one_round_then_the_next_steps_are_stated_plainly(opened, github, openai):
    bot, pull = await opened(config="ci_fix_rounds: 1\n")
    repo = github.repo(sc.OWNER, sc.REPO)
    openai.responder = sc.implementer_replies(FIX_TURNS)
    await fail_ci(bot, github, pull, repo.head_sha(BRANCH))
    after_round = repo.head_sha(BRANCH)
    calls, commits = openai.calls, github.count("POST", "/git/commits")
    await fail_ci(bot, github, pull, after_round)
    await fail_ci(bot, github, pull, after_round)  # a second report of the same head: said once
    assert openai.calls == calls and github.count("POST", "/git/commits") == commits
    notices = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, pull["number"]) if find_marker(c["body"], "ci")]
    assert len(notices) == 1
    assert "**CI still fails after 1 fix round (the repository allows 1)**" in notices[0]
    for step in ("`/fix <hint>`", "`/revise <feedback>`", "`/variant OO`"):
        assert step in notices[0]
    assert "still failing after 1 fix round; see the next steps" in first_line(review(github, pull))


async def test_rounds_off_records_the_failure_and_calls_no_model(opened, github, openai, anthropic):
    bot, pull = await opened(config="ci_fix_rounds: 0\n")
    calls, judge_calls = openai.calls, anthropic.calls
    commits = github.count("POST", "/git/commits")
    await fail_ci(bot, github, pull, github.repo(sc.OWNER, sc.REPO).head_sha(BRANCH))
    assert openai.calls == calls and anthropic.calls == judge_calls
    assert github.count("POST", "/git/commits") == commits
    assert "automatic fix rounds are off (`ci_fix_rounds: 0`)" in first_line(review(github, pull))
    assert github.count("GET", "/actions/jobs/") == 0  # nothing read that nobody will use


async def test_a_failing_commit_status_counts_as_ci(opened, github, openai):
    bot, pull = await opened()
    repo = github.repo(sc.OWNER, sc.REPO)
    head = repo.head_sha(BRANCH)
    openai.responder = sc.implementer_replies(FIX_TURNS)
    calls = openai.calls
    assert (await bot.send("status", status_event(github, head, state="pending"))).status == 200  # no job
    await bot.send("status", status_event(github, head, state="failure",
                                          description=f"2 tests failed: {TOKEN}"))
    await bot.settle()
    assert TOKEN in json.dumps(openai.completion_bodies[calls])
    assert repo.text("rev-parse", f"{repo.head_sha(BRANCH)}^") == head


async def test_nothing_runs_while_another_check_is_still_running(opened, github, openai):
    bot, pull = await opened()
    head = github.repo(sc.OWNER, sc.REPO).head_sha(BRANCH)
    github.add_ci_run(sc.OWNER, sc.REPO, head, check_name="slow e2e", status="in_progress", conclusion=None)
    calls = openai.calls
    await fail_ci(bot, github, pull, head)
    assert openai.calls == calls
    assert first_line(review(github, pull)).startswith("⏳ **CI running**")


async def test_a_round_that_touches_a_file_outside_the_plan_is_flagged(opened, github, openai):
    bot, pull = await opened()
    openai.responder = sc.implementer_replies([
        ("write_file", {"path": "NOTES.md", "content": "why the test failed\n"}), FIX_TURNS[0], FIX_TURNS[1]])
    await fail_ci(bot, github, pull, github.repo(sc.OWNER, sc.REPO).head_sha(BRANCH))
    rounds = review(github, pull).split("### CI fix rounds")[1]
    assert "⚠️ **outside the plan:** `NOTES.md`" in rounds


async def test_a_fix_pushed_after_green_ci_does_not_keep_the_old_verdict(opened, github, openai):
    bot, pull = await opened()
    head = github.repo(sc.OWNER, sc.REPO).head_sha(BRANCH)
    github.add_ci_run(sc.OWNER, sc.REPO, head, check_name="test (3.12)", conclusion="success")
    await bot.send("check_suite", check_suite_completed(pull, conclusion="success"))
    await bot.settle()
    assert first_line(review(github, pull)).startswith("✅ **CI passing**")
    openai.responder = sc.implementer_replies(FIX_TURNS)
    await comment(bot, "/fix document the zero rule", number=pull["number"], on_pull_request=True)
    assert first_line(review(github, pull)).startswith("**CI:** no checks reported yet")  # the new head's CI
