"""bot/core/events.py: each delivery classified once, from GitHub's real example payloads.

The intent decides, at intake, whether a delivery is work, which issue or pull request it
concerns and whether it may skip the issue lock; the worker reads it back from the job.
"""

from __future__ import annotations

import pytest

from bot.core.events import Intent, classify, describe
from bot.store import NewJob, open_store
from tests.fakes.deliveries import issue_comment, issue_labeled, load_payload, retarget

OWNER, REPO = "octo-org", "calc"


def labeled(label: str = "route-me", sender_type: str = "User") -> dict:
    data = issue_labeled(owner=OWNER, repo=REPO, number=7, label=label, sender="alice")
    data["sender"]["type"] = sender_type
    return data


def test_a_maintainers_label_is_work_on_its_issue():
    intent = classify("issues", labeled())
    assert intent == Intent(event="issues", action="labeled", repo=f"{OWNER}/{REPO}", installation_id=42, issue=7)
    assert not intent.bypasses_lock and intent.thread == 7


def test_removing_the_label_or_closing_skips_the_issue_lock():
    for action in ("unlabeled", "closed"):
        intent = classify("issues", dict(labeled(), action=action))
        assert intent is not None and intent.bypasses_lock, action


@pytest.mark.parametrize("case", ["bot label", "other label", "opened", "no installation", "bad installation"])
def test_what_is_not_work(case: str):
    data = labeled()
    trigger = None
    if case == "bot label":
        data = labeled(sender_type="Bot")
    elif case == "other label":
        data, trigger = labeled(label="bug"), "route-me"
    elif case == "opened":
        data["action"] = "opened"
    elif case == "no installation":
        del data["installation"]
    else:
        data["installation"] = {"id": "forty-two"}
    assert classify("issues", data, trigger_label=trigger) is None


def test_commands_and_where_they_were_typed():
    cancel = classify("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=7, body="/cancel"))
    assert cancel is not None and cancel.commands == ("cancel",) and cancel.bypasses_lock
    mixed = classify("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=7, body="/cancel\n/approve"))
    assert mixed is not None and not mixed.bypasses_lock  # an /approve must wait its turn
    on_pull = classify("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=12, body="/fix tests",
                                                      on_pull_request=True))
    assert on_pull is not None and on_pull.on_pull_request and on_pull.pull_requests == (12,)
    assert classify("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=7, body="thanks!")) is None
    by_bot = issue_comment(owner=OWNER, repo=REPO, number=7, body="/approve", user_type="Bot")
    assert classify("issue_comment", by_bot) is None


def test_ci_reports_name_the_branch_and_pull_request_they_concern():
    base = retarget(load_payload("issues.labeled.0"), owner=OWNER, repo=REPO)
    suite = {**base, "action": "completed",
             "check_suite": {"head_branch": "route-me/issue-7", "pull_requests": [
                 {"number": 12, "head": {"ref": "route-me/issue-7"}}]}}
    intent = classify("check_suite", suite)
    assert intent is not None and intent.pull_requests == (12,) and intent.issue_from_branches() == 7
    green_run = {**base, "action": "completed", "check_run": {"conclusion": "success"}}
    assert classify("check_run", green_run) is None
    pending = {**base, "action": None, "state": "pending", "branches": [{"name": "route-me/issue-7"}]}
    assert classify("status", pending) is None
    foreign = {**base, "action": None, "state": "failure", "branches": [{"name": "feature-x"}]}
    assert classify("status", foreign) is None


def test_a_job_recorded_before_intents_is_described_from_its_payload():
    payload = {"check_suite": {"head_branch": "bot/issue-9", "pull_requests": []}}
    intent = describe("check_suite", payload, repo="o/r", installation_id=None)
    assert intent.issue_from_branches() == 9 and intent.repo == "o/r"


def test_the_intent_is_stored_with_its_job(store_url):
    intent = classify("issue_comment", issue_comment(owner=OWNER, repo=REPO, number=12, body="/cancel",
                                                     on_pull_request=True))
    assert intent is not None
    store = open_store(store_url)
    try:
        job_id = store.record_delivery("d", "issue_comment", NewJob("issue_comment", 42, intent.repo, 12, b"{}",
                                                                    intent=intent.to_json()))
        assert Intent.from_json(store.job(job_id).intent) == intent
    finally:
        store.close()


def test_an_intent_stored_by_a_newer_instance_still_reads():
    # Instances of two versions share one database during a deploy: a field this version does
    # not know must not make every job the newer one recorded fail here.
    intent = classify("issues", labeled())
    assert intent is not None
    stored = intent.to_json()[:-1] + ',"added_later":true}'
    assert Intent.from_json(stored) == intent
