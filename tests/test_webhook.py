"""Webhook intake end to end: the real app, signed real payloads, the fake GitHub behind it."""

from __future__ import annotations

import json
import logging

import pytest

from bot.github.client import MAX_ATTEMPTS
from bot.store import NewJob
from bot.webhook import job_for, verify_signature
from tests.fakes.deliveries import (
    event_name,
    issue_comment,
    issue_labeled,
    load_payload,
    sign,
)
from tests.fakes.harness import WEBHOOK_SECRET, leave_interrupted_job

OWNER, REPO = "octo-org", "widgets"


@pytest.fixture
def repo(github):
    github.create_repo(OWNER, REPO, {"README.md": "# widgets\n", "src/app.py": "print('hi')\n"})
    github.add_issue(OWNER, REPO, number=1, title="A bug", body="It breaks.")
    return github


def untouched(github, anthropic, openai) -> None:
    assert github.requests == []
    assert anthropic.calls == 0 and openai.calls == 0


async def test_signed_real_ping_gets_200(make_bot, github, anthropic, openai):
    bot = await make_bot()
    for name in ("ping.0", "ping.3"):
        response = await bot.send(event_name(name), load_payload(name))
        assert response.status == 200
        assert (await response.json())["status"] == "pong"
    untouched(github, anthropic, openai)


@pytest.mark.parametrize("signature", [
    None,                                                   # missing
    "sha256=" + "0" * 64,                                   # wrong
    "sha1=0123456789abcdef0123456789abcdef01234567",        # sha1 only: refused
    "sha256=",                                              # empty digest
])
async def test_bad_signatures_get_401_and_cause_no_calls(make_bot, repo, anthropic, openai, signature):
    bot = await make_bot()
    payload = issue_labeled(owner=OWNER, repo=REPO, number=1)
    headers_signature = signature if signature is not None else ""
    response = await bot.send("issues", payload, secret=None, signature=headers_signature or None)
    assert response.status == 401
    await bot.settle()
    untouched(repo, anthropic, openai)


async def test_signature_with_another_secret_is_refused(make_bot, repo, anthropic, openai):
    bot = await make_bot()
    response = await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1), secret="not the secret")
    assert response.status == 401
    untouched(repo, anthropic, openai)


async def test_non_json_body_gets_400(make_bot, github, anthropic, openai):
    bot = await make_bot()
    for body in (b"this is not json", b"[1, 2, 3]", b""):
        response = await bot.send("issues", None, body=body)
        assert response.status == 400, body
    untouched(github, anthropic, openai)


async def test_a_comment_with_a_lone_surrogate_escape_is_still_read(make_bot, repo):
    """orjson refuses "\\ud83d" without its pair; json takes it, as GitHub may send such text."""
    bot = await make_bot()
    payload = issue_comment(owner=OWNER, repo=REPO, number=1, body="/help")
    body = json.dumps(payload).replace('"/help"', '"/help \\ud83d"').encode()
    assert b"\\ud83d" in body
    response = await bot.send("issue_comment", None, body=body)
    assert response.status == 202


async def test_missing_event_headers_get_400(make_bot, github):
    bot = await make_bot()
    body = json.dumps(load_payload("ping.0")).encode()
    for header in ("X-GitHub-Event", "X-GitHub-Delivery"):
        assert bot.client is not None
        headers = {"X-Hub-Signature-256": sign(WEBHOOK_SECRET, body), "X-GitHub-Event": "ping",
                   "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
        del headers[header]
        response = await bot.client.post("/api/github/webhooks", data=body, headers=headers)
        assert response.status == 400


async def test_body_over_the_cap_gets_413(make_bot, github):
    bot = await make_bot(ROUTE_ME_MAX_BODY_BYTES="2048")
    payload = load_payload("ping.0")
    payload["padding"] = "x" * 4096
    response = await bot.send("ping", payload)
    assert response.status == 413
    assert github.requests == []


async def test_same_delivery_three_times_does_the_work_once_across_a_restart(make_bot, repo):
    bot = await make_bot()
    payload = issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug")
    first = await bot.send("issues", payload, delivery_id="same-delivery")
    second = await bot.send("issues", payload, delivery_id="same-delivery")
    await bot.settle()
    await bot.restart()
    third = await bot.send("issues", payload, delivery_id="same-delivery")
    await bot.settle()
    assert [first.status, second.status, third.status] == [202, 200, 200]
    assert (await third.json())["status"] == "duplicate"
    # The work for an unrelated label is reading the repo config: exactly once.
    assert repo.count("GET", "/contents/.github/route-me.yml") == 1


async def test_fifty_events_for_one_installation_fetch_one_token(make_bot, repo):
    repo.set_permission(OWNER, REPO, "octocat", "write")  # so each job answers its /help
    bot = await make_bot()
    for number in range(1, 51):  # fifty issues, so the jobs run side by side on every worker
        repo.add_issue(OWNER, REPO, number=100 + number, title=f"Issue {number}", body="")
        payload = issue_comment(owner=OWNER, repo=REPO, number=100 + number, body="/help", comment_id=number)
        assert (await bot.send("issue_comment", payload)).status == 202
    await bot.settle()
    assert repo.installation_tokens_issued == 1
    assert bot.worker.completed == 50
    assert sum(len(repo.comments(OWNER, REPO, 100 + n)) for n in range(1, 51)) == 50  # every job used it


async def test_label_events_for_another_label_are_not_jobs_once_the_trigger_label_is_known(make_bot, repo):
    bot = await make_bot()
    first = await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug"))
    assert first.status == 202  # the config is not known yet: the job reads it
    await bot.settle()
    config_reads = sum(1 for r in repo.requests if "/contents/" in r.path)
    assert config_reads == 1
    for label in ("enhancement", "Bug", "good first issue"):
        response = await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label=label))
        assert response.status == 200 and (await response.json())["status"] == "ignored"
    unlabeled = issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug")
    unlabeled["action"] = "unlabeled"  # a real labeled payload, only the action changed
    assert (await bot.send("issues", unlabeled)).status == 200
    trigger = await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="Route-Me"))
    assert trigger.status == 202  # the trigger label (compared case-insensitively) still becomes a job
    other_repo = issue_labeled(owner=OWNER, repo="gadgets", number=1, label="bug")
    assert (await bot.send("issues", other_repo)).status == 202  # another repository: its config is unknown


async def test_a_label_event_becomes_a_job_again_once_the_config_may_have_changed(make_bot, repo):
    from bot.stages.runtime import runtime

    bot = await make_bot()
    await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug"))
    await bot.settle()
    runtime(bot.services).trigger_labels.expire(time=float("inf"))  # the minute is over
    response = await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug"))
    assert response.status == 202


async def test_a_failing_background_job_is_logged_and_the_next_delivery_works(make_bot, repo, caplog):
    bot = await make_bot()
    repo.fail_next("GET", r"/contents/", status=500, times=MAX_ATTEMPTS)  # every retry fails
    caplog.set_level(logging.ERROR)
    await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug"),
                   delivery_id="doomed-delivery")
    await bot.settle()
    assert bot.worker.failed == 1
    failure = [r for r in caplog.records if "job failed" in r.getMessage()]
    assert failure and "doomed-delivery" in failure[0].getMessage()
    assert f"{OWNER}/{REPO}" in failure[0].getMessage()

    response = await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug"))
    await bot.settle()
    assert response.status == 202
    assert bot.worker.completed == 1
    health = await bot.client.get("/healthz")
    assert health.status == 200
    assert (await health.json())["failed"] == 1


async def test_comments_from_bots_never_become_work(make_bot, repo, anthropic, openai):
    bot = await make_bot()
    payload = issue_comment(owner=OWNER, repo=REPO, number=1, body="/approve", user="route-me[bot]",
                            user_type="Bot")
    response = await bot.send("issue_comment", payload)
    assert response.status == 200
    assert (await response.json())["status"] == "ignored"
    await bot.settle()
    untouched(repo, anthropic, openai)


async def test_events_without_an_installation_are_acknowledged_without_work(make_bot, github):
    bot = await make_bot()
    payload = load_payload("issues.labeled.0")  # a repository webhook example: no installation
    response = await bot.send("issues", payload)
    assert response.status == 200
    assert github.requests == []


async def test_unfinished_jobs_resume_after_a_restart(make_bot, repo, tmp_path):
    # A job recorded and started by a process that then died: status 'running' in the store.
    bot = await make_bot()
    await bot.stop()
    payload = issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug")
    job_id = leave_interrupted_job(bot.env["ROUTE_ME_DB"], "issues", payload, delivery_id="crashed-delivery")
    await bot.start()
    await bot.settle()
    assert bot.worker.completed == 1
    assert repo.count("GET", "/contents/.github/route-me.yml") == 1
    assert bot.services.store.job(job_id).status == "done"


async def test_healthz(make_bot):
    bot = await make_bot()
    response = await bot.client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["queued"] == 0


def test_verify_signature_is_sha256_only():
    body = b'{"zen": "Keep it logically awesome."}'
    assert verify_signature(b"s3cret", body, sign("s3cret", body))
    assert not verify_signature(b"s3cret", body, sign("other", body))
    assert not verify_signature(b"s3cret", body, None)
    assert not verify_signature(b"s3cret", body, "sha1=" + "0" * 40)


def test_job_for_keeps_only_work_events():
    payload = issue_labeled(owner=OWNER, repo=REPO, number=7)
    job = job_for("issues", payload, b'{"raw": "body"}')
    assert isinstance(job, NewJob) and job.issue == 7 and job.installation_id == 42
    assert job.payload == b'{"raw": "body"}'  # the raw delivery is what the worker replays
    assert job.repo == f"{OWNER}/{REPO}"
    assert job_for("issues", dict(payload, action="opened"), b"{}") is None
    assert job_for("pull_request", dict(payload, action="opened"), b"{}") is None
    plan_body = '<!-- route-me:plan {"version":1} -->\nThe plan'
    edited_by_human = issue_comment(owner=OWNER, repo=REPO, number=7, body=plan_body, action="edited")
    edited_by_human["comment"]["user"] = {"login": "route-me[bot]", "type": "Bot"}
    assert job_for("issue_comment", edited_by_human, b"{}") is not None  # maintainer edits our plan
    edited_chatter = issue_comment(owner=OWNER, repo=REPO, number=7, body="typo fixed", action="edited")
    assert job_for("issue_comment", edited_chatter, b"{}") is None


def test_only_comments_with_a_command_line_become_jobs():
    def job(body: str):
        return job_for("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=7, body=body), b"{}")

    assert job("Thanks, looks good!\nSee /usr/bin for the binary.") is None
    assert job("Looks good.\n/approve") is not None
    assert job("  /revise keep the API") is not None
    assert job("/aprove") is not None  # unknown commands still get a helpful reply


async def test_log_lines_of_a_job_carry_its_delivery_id(make_bot, repo, caplog):
    from bot.logcontext import DeliveryFilter

    bot = await make_bot()
    caplog.handler.addFilter(DeliveryFilter())
    caplog.set_level(logging.INFO)
    await bot.send("issues", issue_labeled(owner=OWNER, repo=REPO, number=1, label="bug"),
                   delivery_id="traced-delivery")
    await bot.settle()
    traced = [r for r in caplog.records if getattr(r, "delivery", None) == "traced-delivery"]
    assert traced  # e.g. the GitHub calls the job made


@pytest.mark.parametrize("body", [
    "Looks good.\r/approve",  # an old-style lone CR line break
    "\u00a0/approve",  # a non-breaking space pasted before the command
    "\u2003/cancel",
    "text\r\n\x0c/status",
])
def test_the_prefilter_never_drops_a_comment_the_parser_takes_a_command_from(body):
    from bot.core.commands import parse_commands

    assert parse_commands(body), body  # the parser sees a command here ...
    job = job_for("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=7, body=body), b"{}")
    assert job is not None  # ... so the webhook must queue it
