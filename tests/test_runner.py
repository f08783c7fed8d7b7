"""bot/runner.py: one handler per classified intent, the lock from the intent alone, and the
decision (made once, by the runner) whether and where a failed job is answered.

The decisions are pure and tested without a network; the end-to-end tests at the bottom show
the runner reads a job's payload once and records what really failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3

import orjson
import pytest

from bot.core.events import WORK_EVENTS, Intent, classify
from bot.handlers import HANDLERS
from bot.runner import lock_key_for
from bot.stages.job_failures import Scene, answered_issue, scene_of, stage_of_job, try_again_hint
from bot.store import Job, SqliteStore
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, issue_labeled, load_payload, retarget

REPO = f"{sc.OWNER}/{sc.REPO}"


def labeled(label: str = "route-me", action: str = "labeled") -> dict:
    return issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label=label, title=sc.ISSUE_TITLE,
                         body=sc.ISSUE_BODY, sender=sc.MAINTAINER, action=action)


def commented(body: str, *, number: int = sc.ISSUE, on_pull_request: bool = False, cid: int = 9001) -> dict:
    return issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=sc.MAINTAINER,
                         on_pull_request=on_pull_request, comment_id=cid)


def intent_of(event: str, payload: dict) -> Intent:
    intent = classify(event, payload)
    assert intent is not None, "this delivery would not have become a job"
    return intent


def job_of(event: str, payload: dict) -> Job:
    intent = intent_of(event, payload)
    return Job(id=1, delivery_id="d", event=event, installation_id=intent.installation_id, repo=intent.repo,
               issue=intent.issue, payload=json.dumps(payload).encode(), status="pending", attempts=0,
               intent=intent.to_json())


# dispatch -------------------------------------------------------------------------------

def test_every_kind_of_work_has_exactly_one_handler():
    # Work classify() can make with no handler would be recorded and silently dropped; a
    # handler for work it never makes is dead code.
    assert set(HANDLERS) == set(WORK_EVENTS)


@pytest.mark.parametrize("event,payload,handler", [
    ("issues", labeled(), "issue_labeled"),
    ("issues", labeled(action="unlabeled"), "issue_unlabeled_or_closed"),
    ("issue_comment", commented("/approve"), "comment_created"),
    ("issue_comment", commented("/fix tests", number=12, on_pull_request=True), "comment_created"),
])
def test_the_intent_names_its_handler(event: str, payload: dict, handler: str):
    intent = intent_of(event, payload)
    assert HANDLERS[(intent.event, intent.action)].__name__ == handler


# the lock -------------------------------------------------------------------------------

def test_the_lock_comes_from_the_intent(tmp_path):
    store = SqliteStore(tmp_path / "db")
    try:
        store.link_pull_request(REPO, 12, sc.ISSUE)
        key = lock_key_for(store)
        assert key(job_of("issues", labeled())) == (REPO, sc.ISSUE)
        # What must reach a running stage takes no lock at all.
        assert key(job_of("issues", labeled(action="unlabeled"))) is None
        assert key(job_of("issue_comment", commented("/cancel"))) is None
        # A command on the pull request waits for its issue.
        assert key(job_of("issue_comment", commented("/fix x", number=12, on_pull_request=True))) == (REPO, sc.ISSUE)
        assert key(job_of("issue_comment", commented("/cancel", number=12, on_pull_request=True))) is None
    finally:
        store.close()


def test_the_lock_ignores_a_payload_that_contradicts_the_stored_intent(tmp_path):
    # The stored intent decides: the payload is not read again to take the lock.
    store = SqliteStore(tmp_path / "db")
    try:
        job = dataclasses.replace(job_of("issue_comment", commented("/cancel")), payload=b"not json at all")
        assert lock_key_for(store)(job) is None
    finally:
        store.close()


# failure decisions ----------------------------------------------------------------------

def test_the_issue_a_failure_is_answered_on():
    on_issue = intent_of("issue_comment", commented("/approve"))
    on_pull = intent_of("issue_comment", commented("/fix x", number=12, on_pull_request=True))
    assert answered_issue(on_issue, linked_issue=None) == sc.ISSUE
    assert answered_issue(on_pull, linked_issue=sc.ISSUE) == sc.ISSUE
    assert answered_issue(on_pull, linked_issue=None) is None  # someone else's pull request
    base = retarget(load_payload("issues.labeled.0"), owner=sc.OWNER, repo=sc.REPO)
    suite = {"installation": base["installation"], "repository": base["repository"], "action": "completed",
             "check_suite": {"head_branch": "route-me/issue-7", "pull_requests": []}}
    assert answered_issue(intent_of("check_suite", suite), linked_issue=7) is None  # no thread to answer on


@pytest.mark.parametrize("event,payload,tracked,answered", [
    ("issue_comment", commented("/approve"), True, True),
    ("issue_comment", commented("/approve"), False, False),       # an issue route-me never saw
    ("issue_comment", commented("/help"), False, True),           # /help is answered anywhere
    ("issue_comment", commented("/bogus"), True, False),          # no command: nothing was asked
    ("issues", labeled(), False, True),                            # the trigger label starts route-me
    ("issues", labeled("bug"), False, False),                      # someone else's label
    ("issues", labeled("bug"), True, True),
    ("issues", labeled(action="closed"), False, False),
    ("issues", labeled(action="closed"), True, True),
])
def test_whether_a_failed_job_is_answered(event: str, payload: dict, tracked: bool, answered: bool):
    intent = intent_of(event, payload)
    label = (payload.get("label") or {}).get("name")
    scene = scene_of(intent, issue=sc.ISSUE, tracked=tracked, label=label, trigger_label="route-me")
    assert (scene is not None) is answered


def test_a_command_on_the_pull_request_is_answered_there():
    intent = intent_of("issue_comment", commented("/fix x\n/fix y", number=12, on_pull_request=True))
    scene = scene_of(intent, issue=sc.ISSUE, tracked=True, label=None, trigger_label="route-me")
    assert scene == Scene(issue=sc.ISSUE, thread=12, action="created", commands=("fix", "fix"))
    assert scene.on_pull_request
    assert try_again_hint(scene) == "Comment `/fix` again to try once more."


@pytest.mark.parametrize("scene,hint", [
    (Scene(issue=7, thread=7, action="labeled", label="Route-Me"),
     "Remove the `Route-Me` label and add it again to try once more."),
    (Scene(issue=7, thread=7, action="edited"), "Edit the plan comment again to try once more."),
    (Scene(issue=7, thread=7, action="created", commands=("approve", "status")),
     "Comment `/approve`, `/status` again to try once more."),
    (Scene(issue=7, thread=7, action="closed"), "Try again in a few minutes; `/status` shows where the issue stands."),
])
def test_how_to_try_again(scene: Scene, hint: str):
    assert try_again_hint(scene) == hint


@pytest.mark.parametrize("action,commands,state,failed_stage,stage", [
    ("created", ("approve",), "implementing", None, "implement"),   # the stage under way
    ("created", ("approve",), "planned", None, "implement"),        # else the one the command starts
    ("created", ("retry",), "failed", "judge", "judge"),
    ("created", ("status",), "planned", None, None),
    ("labeled", (), "planning", None, "plan"),
    ("unlabeled", (), "planning", None, None),                      # a cancel is not a stage
    ("created", ("approve",), None, None, None),
])
def test_the_stage_an_abandoned_job_was_running(action, commands, state, failed_stage, stage):
    scene = Scene(issue=7, thread=7, action=action, commands=commands)
    assert stage_of_job(scene, state=state, failed_stage=failed_stage) == stage


# end to end -----------------------------------------------------------------------------

def count_parses(monkeypatch: pytest.MonkeyPatch, body: bytes) -> list[int]:
    """Count the JSON parses of one delivery's body, whichever parser (and module) does them."""
    seen: list[int] = []
    real_orjson, real_json = orjson.loads, json.loads

    def same(data: object) -> bool:
        if isinstance(data, str):
            return data.encode() == body
        return isinstance(data, bytes | bytearray | memoryview) and bytes(data) == body

    def counting_orjson(data):
        if same(data):
            seen.append(1)
        return real_orjson(data)

    def counting_json(data, *args, **kwargs):
        if same(data):
            seen.append(1)
        return real_json(data, *args, **kwargs)

    monkeypatch.setattr(orjson, "loads", counting_orjson)
    monkeypatch.setattr(json, "loads", counting_json)
    return seen


async def test_a_failed_job_reads_its_payload_once_after_intake(make_bot, github, anthropic, monkeypatch):
    sc.seed(github)
    bot = await make_bot()
    payload = labeled()
    parses = count_parses(monkeypatch, json.dumps(payload).encode())
    github.fail_next("GET", r"/contents/\.github/route-me\.yml", status=502, times=10)
    assert (await bot.send("issues", payload)).status == 202
    await bot.settle()
    assert bot.worker.failed == 1
    comments = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert len(comments) == 1 and "GitHub answered 502" in comments[0]
    # Once at intake (verify, classify), once by the runner, which dispatched the job, took
    # the failure and answered it from that one read.
    assert len(parses) == 2


async def test_a_stage_that_broke_after_answering_records_the_original_error(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    # The progress comment comes back without an id: a bug-like error inside the plan stage,
    # which the stage answers itself and the runner must not answer again.
    github.fail_next("POST", rf"/issues/{sc.ISSUE}/comments$", status=201, body={"unexpected": True})
    response = await bot.send("issues", labeled())
    await bot.settle()
    job_id = (await response.json())["job"]
    with contextlib.closing(sqlite3.connect(bot.env["ROUTE_ME_DB"])) as db:
        status, error = db.execute("SELECT status, error FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert status == "failed"
    assert error.startswith("KeyError"), error  # what broke, not the runner's wrapper
    assert [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
            if "could not finish handling" in c["body"]] == []
