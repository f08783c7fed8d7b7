"""Scorecard end to end: one COMMENT review with seven scores, measured facts and costs; /rescore; CI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes.deliveries import load_payload, retarget
from tests.test_implement_stage import pr_comment
from tests.test_plan_stage import comment, label


async def run_to_review(make_bot, github, anthropic, openai, *, turns=sc.IMPLEMENTER_TURNS, scorecard=None):
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles(scorecard=scorecard)
    openai.responder = sc.implementer_replies(turns)
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    return bot, pull, github.reviews(sc.OWNER, sc.REPO, pull["number"])


async def test_one_review_with_seven_dimensions_facts_and_costs(make_bot, github, anthropic, openai):
    _, pull, reviews = await run_to_review(make_bot, github, anthropic, openai)
    assert len(reviews) == 1
    review = reviews[0]
    assert review["state"] == "COMMENTED"
    body = review["body"]
    assert find_marker(body, "review")["pr"] == pull["number"]
    for title in ("Root-cause soundness", "Fidelity to plan", "Surgical scope", "Correctness", "Tests",
                  "Code quality", "Safety"):
        assert title in body, title
    assert "4.6/5" in body  # mean of 5,5,4,5,4,4,5
    assert "2 planned, 2 touched" in body
    repo = github.repo(sc.OWNER, sc.REPO)
    numstat = repo.git("diff", "--numstat", pull["base"]["sha"], pull["head"]["sha"]).split()
    added, removed = sum(map(int, numstat[0::3])), sum(map(int, numstat[1::3]))
    assert f"+{added} / −{removed}" in body  # the same counts as git's
    assert "Saving vs all-strong" in body
    for stage in ("plan", "implement", "judge"):
        assert f"| {stage} |" in body
    # the judge saw the diff and the measured facts
    judge_request = anthropic.message_bodies[-1]
    text = str(judge_request["messages"])
    assert "raise ValueError" in text and "calc/ops.py" in text


async def test_an_undeclared_import_and_a_file_outside_the_plan_are_flagged(make_bot, github, anthropic, openai):
    extra = ("write_file", {"path": "calc/http.py", "content": "import requests\n\nSESSION = requests.Session()\n"})
    turns = [*sc.IMPLEMENTER_TURNS[:-1], extra, sc.IMPLEMENTER_TURNS[-1]]
    _, _, reviews = await run_to_review(make_bot, github, anthropic, openai, turns=turns)
    body = reviews[0]["body"]
    assert "Possibly invented dependencies" in body and "`requests`" in body
    assert "Touched outside the plan" in body and "calc/http.py" in body


async def test_malformed_judge_output_is_retried_once_then_reported_honestly(make_bot, github, anthropic, openai):
    partial = copy.deepcopy(sc.SCORECARD)
    partial["scores"] = [s for s in partial["scores"] if s["dimension"] not in ("tests", "safety")]
    partial["scores"][0]["score"] = 9  # out of range too
    _, _, reviews = await run_to_review(make_bot, github, anthropic, openai, scorecard=partial)
    judge_calls = [b for b in anthropic.message_bodies if any(t["name"] == "submit_scorecard" for t in b["tools"])]
    assert len(judge_calls) == 2  # the first answer and exactly one retry
    retry_results = sc.anthropic_tool_results(judge_calls[1])
    assert retry_results[-1]["is_error"] and "missing dimensions" in str(retry_results[-1]["content"])
    body = reviews[0]["body"]
    assert body.count("not scored") >= 3  # root_cause (invalid), tests, safety: never invented
    assert "did not return a complete, valid scorecard" in body


async def test_rescore_updates_the_review(make_bot, github, anthropic, openai):
    bot, pull, reviews = await run_to_review(make_bot, github, anthropic, openai)
    better = copy.deepcopy(sc.SCORECARD)
    for score in better["scores"]:
        score["score"] = 5
    anthropic.responder = sc.anthropic_roles(scorecard=better)
    await pr_comment(bot, github, "/rescore")
    reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
    assert len(reviews) == 1  # updated in place, not a second review
    assert "5.0/5" in reviews[0]["body"]


async def test_completed_check_suite_records_the_ci_outcome(make_bot, github, anthropic, openai):
    bot, pull, _ = await run_to_review(make_bot, github, anthropic, openai)
    judge_calls = anthropic.calls
    payload = retarget(load_payload("pull_request.opened.1"), owner=sc.OWNER, repo=sc.REPO)
    suite_event = {
        "action": "completed",
        "check_suite": {"id": 5, "head_sha": pull["head"]["sha"], "head_branch": pull["head"]["ref"],
                        "status": "completed", "conclusion": "failure",
                        "pull_requests": [{"number": pull["number"], "id": pull["id"],
                                           "head": {"ref": pull["head"]["ref"], "sha": pull["head"]["sha"]},
                                           "base": {"ref": "main", "sha": pull["base"]["sha"]}}]},
        "repository": payload["repository"], "installation": payload["installation"],
        "sender": {"login": "github-actions[bot]", "type": "Bot"},
    }
    response = await bot.send("check_suite", suite_event)
    await bot.settle()
    assert response.status == 202
    reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
    assert len(reviews) == 1
    assert "**CI:** ❌ failure" in reviews[0]["body"]
    assert anthropic.calls == judge_calls  # recording CI needs no model call


async def test_a_human_plan_is_scored_against_the_files_its_markdown_names(start_planned, github):
    bot = await start_planned()
    await comment(bot, "/edit\n## Plan by hand\n\n1. In calc/ops.py raise ValueError when b == 0.\n")
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    body = github.reviews(sc.OWNER, sc.REPO, pull["number"])[0]["body"]
    assert "1 planned, 2 touched" in body
    assert "**Touched outside the plan:** `tests/test_ops.py`" in body  # only the file it does not name


async def test_a_human_plan_naming_no_files_flags_none_as_outside_it(start_planned, github, anthropic):
    bot = await start_planned()
    await comment(bot, "/edit\nMake divide raise ValueError for a zero divisor, with a test.\n")
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    body = github.reviews(sc.OWNER, sc.REPO, pull["number"])[0]["body"]
    assert "2 touched; the plan lists no files" in body
    assert "outside the plan" not in body
    assert "the plan lists no files" in str(anthropic.message_bodies[-1]["messages"])  # the judge is told too


CHECK_SUITE_SCHEMA = Path("/work/shared/github/schemas/openapi/check_suite.completed.schema.json")
ACTIONS_APP = {"id": 15368, "slug": "github-actions", "name": "GitHub Actions", "node_id": "MDM6QXBwMTUzNjg=",
               "client_id": "Iv1.05c79e9ad1f6bdfa", "description": "Automate your workflow from idea to production",
               "external_url": "https://help.github.com/en/actions", "html_url": "https://github.com/apps/github-actions",
               "created_at": "2018-07-30T09:30:17Z", "updated_at": "2019-12-10T19:04:12Z",
               "owner": {"login": "github", "id": 9919, "node_id": "MDEyOk9yZ2FuaXphdGlvbjk5MTk=", "type": "Organization",
                         "site_admin": False},
               "permissions": {"checks": "write", "contents": "write"}, "events": ["check_run", "push"]}


def check_suite_completed(pull, *, conclusion, app=ACTIONS_APP, suite_id=5):
    """A check_suite.completed delivery shaped as GitHub documents it.

    Built from the real pull_request.opened payload (repository, installation, sender are
    its own); only the check_suite object is assembled here, with every field the
    webhook schema requires, and the result is validated against that schema.
    """
    real = retarget(load_payload("pull_request.opened.1"), owner=sc.OWNER, repo=sc.REPO)
    api = real["repository"]["url"]
    head, base = pull["head"], pull["base"]
    event = {
        "action": "completed",
        "check_suite": {
            "id": suite_id, "node_id": f"CS_{suite_id}", "head_branch": head["ref"], "head_sha": head["sha"],
            "status": "completed", "conclusion": conclusion, "url": f"{api}/check-suites/{suite_id}",
            "before": base["sha"], "after": head["sha"], "app": app,
            "pull_requests": [{"url": pull["url"], "id": pull["id"], "number": pull["number"],
                               "head": {"ref": head["ref"], "sha": head["sha"],
                                        "repo": {"id": real["repository"]["id"], "url": api, "name": sc.REPO}},
                               "base": {"ref": base["ref"], "sha": base["sha"],
                                        "repo": {"id": real["repository"]["id"], "url": api, "name": sc.REPO}}}],
            "created_at": "2026-11-25T00:00:00Z", "updated_at": "2026-11-25T00:05:00Z",
            "latest_check_runs_count": 1, "check_runs_url": f"{api}/check-suites/{suite_id}/check-runs",
            "head_commit": {"id": head["sha"], "tree_id": "0" * 40, "message": "route-me",
                            "timestamp": "2026-11-25T00:00:00Z",
                            "author": {"name": "route-me", "email": "bot@example.com"},
                            "committer": {"name": "GitHub", "email": "noreply@github.com"}},
        },
        "repository": real["repository"], "installation": real["installation"], "sender": real["sender"],
    }
    jsonschema.validate(event, json.loads(CHECK_SUITE_SCHEMA.read_text()))
    return event


async def test_ci_shows_the_worst_of_several_suites_whatever_order_they_finish_in(make_bot, github, anthropic,
                                                                                   openai):
    bot, pull, _ = await run_to_review(make_bot, github, anthropic, openai)
    body = github.reviews(sc.OWNER, sc.REPO, pull["number"])[0]["body"]
    assert "**CI:** no checks reported yet" in body and "⏳" not in body
    other_app = {**ACTIONS_APP, "id": 254, "slug": "codecov", "name": "Codecov", "node_id": "MDM6QXBwMjU0"}
    await bot.send("check_suite", check_suite_completed(pull, conclusion="failure", suite_id=5))
    await bot.send("check_suite", check_suite_completed(pull, conclusion="success", app=other_app, suite_id=6))
    await bot.settle()
    reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
    assert len(reviews) == 1
    assert "**CI:** ❌ failure (Codecov: ✅ success · GitHub Actions: ❌ failure)" in reviews[0]["body"]
    assert find_marker(reviews[0]["body"], "review")["ci"] == "failure"


async def test_rescore_failure_is_reported_on_the_pull_request(make_bot, github, anthropic, openai):
    from tests.fakes import anthropic_server

    bot, pull, _ = await run_to_review(make_bot, github, anthropic, openai)
    anthropic.responder = lambda body: anthropic_server.failure(401, "authentication_error")
    await pr_comment(bot, github, "/rescore")
    on_pull = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, pull["number"])]
    assert any("judge stage failed" in b and "refused our credentials" in b for b in on_pull), on_pull
    assert not any("judge stage failed" in c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE))


async def _forget_review_id(bot, review_id):
    from bot.stages.state import IssueState

    store = bot.services.store
    state = IssueState.load(store, f"{sc.OWNER}/{sc.REPO}", sc.ISSUE)
    state.review_id = review_id
    state.save(store)


async def test_rescore_finds_its_review_by_marker_when_the_stored_id_is_lost_or_stale(make_bot, github, anthropic,
                                                                                      openai):
    bot, pull, reviews = await run_to_review(make_bot, github, anthropic, openai)
    original = reviews[0]["id"]
    better = copy.deepcopy(sc.SCORECARD)
    for score in better["scores"]:
        score["score"] = 5
    anthropic.responder = sc.anthropic_roles(scorecard=better)
    for stored in (None, 987654):  # no id at all; an id GitHub answers 404 for
        await _forget_review_id(bot, stored)
        await pr_comment(bot, github, "/rescore", comment_id=9200 + (stored or 0) % 97)
        reviews = github.reviews(sc.OWNER, sc.REPO, pull["number"])
        assert [r["id"] for r in reviews] == [original], stored  # updated in place, no second review
        assert "5.0/5" in reviews[0]["body"]
    assert github.count("GET", f"/pulls/{pull['number']}/reviews") >= 2  # the marker was looked for


async def test_pr_body_and_review_show_the_same_figures_and_the_implementers_summary(make_bot, github, anthropic,
                                                                                     openai):
    _, pull, reviews = await run_to_review(make_bot, github, anthropic, openai)
    body, review = github.pulls(sc.OWNER, sc.REPO)[0]["body"], reviews[0]["body"]
    assert "**What the implementer did:** Guarded divide() against b == 0 and added a test." in body
    plan_tokens = f"{sc.PLANNER_USAGE.input_tokens / 1000:.1f}k"  # 12,000 input tokens → "12.0k"
    assert plan_tokens in review and "12,000" not in review  # tokens are in the review's full table
    # The PR body is written before the judge runs: one line of cost there, the full table in the review.
    assert "Saving vs all-strong: **$" in review and "| Stage |" in review
    assert "less than the same tokens at the strong model's prices" in body and "| Stage |" not in body
