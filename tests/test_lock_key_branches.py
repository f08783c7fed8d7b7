"""Which issue a pull-request job locks when the store has no link yet: the branch name decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.runner import lock_key_for
from bot.store import Job, SqliteStore


def suite_job(head_branch: str) -> Job:
    payload = {"check_suite": {"head_branch": head_branch, "pull_requests": []}}
    return Job(id=1, delivery_id="d", event="check_suite", installation_id=1, repo="o/r", issue=None,
               payload=json.dumps(payload).encode(), status="pending", attempts=0)


@pytest.mark.parametrize("branch,issue", [
    ("route-me/issue-7", 7),
    # create_branch adds "-2", "-3" … when the name is taken; issue numbers have no "-".
    ("route-me/issue-7-2", 7),
    ("issue-12-3", 12),
    ("bots/issue-40", 40),
    ("route-me/issue-7-x", None),
    ("route-me/tissue-7", None),
    ("feature/issue-7/more", None),
])
def test_branch_fallback_finds_the_issue(tmp_path: Path, branch: str, issue: int | None) -> None:
    store = SqliteStore(tmp_path / "db")
    try:
        assert lock_key_for(store)(suite_job(branch)) == ("o/r", issue)
    finally:
        store.close()
