"""Signed webhook deliveries built from GitHub's real example payloads (tests/fixtures/payloads).

Tests take a real payload and change only the fields a scenario needs (the repository it
names, the label, the comment body, a Bot sender…), as ../shared/github/README.md advises.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
INDEX = json.loads((PAYLOADS / "index.json").read_text())


def load_payload(name: str) -> dict[str, Any]:
    """A real example, e.g. ``load_payload("issues.labeled.0")``."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def event_name(name: str) -> str:
    """The X-GitHub-Event header for a payload file (the body never says it)."""
    for entry in INDEX["payloads"]:
        if entry["file"] == f"{name}.json":
            return entry["x_github_event"]
    raise KeyError(name)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_for(event: str, body: bytes, *, secret: str | None, delivery_id: str | None = None,
                signature: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": "1234",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers


def retarget(payload: dict[str, Any], *, owner: str, repo: str, installation_id: int = 42,
             default_branch: str = "main") -> dict[str, Any]:
    """Point a real payload at the fake repository and give it an App installation."""
    data = copy.deepcopy(payload)
    data["installation"] = {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
    repository = data.setdefault("repository", {})
    repository.update(name=repo, full_name=f"{owner}/{repo}", default_branch=default_branch)
    repository.setdefault("owner", {})["login"] = owner
    return data


def issue_labeled(*, owner: str, repo: str, number: int, label: str = "route-me", title: str = "",
                  body: str = "", sender: str = "octocat", sender_type: str = "User",
                  action: str = "labeled") -> dict[str, Any]:
    """A real ``issues.labeled`` example carrying our label and issue."""
    data = retarget(load_payload("issues.labeled.0"), owner=owner, repo=repo)
    data["action"] = action
    data["label"] = dict(data["label"], name=label)
    data["issue"].update(number=number, title=title, body=body)
    data["sender"] = dict(data["sender"], login=sender, type=sender_type)
    return data


def issue_comment(*, owner: str, repo: str, number: int, body: str, user: str = "octocat",
                  user_type: str = "User", comment_id: int = 9001, action: str = "created",
                  on_pull_request: bool = False, old_body: str | None = None) -> dict[str, Any]:
    """A real ``issue_comment`` example with our comment (on an issue or a pull request)."""
    source = "issue_comment.edited.0" if action == "edited" else "issue_comment.created.0"
    data = retarget(load_payload(source), owner=owner, repo=repo)
    data["action"] = action
    data["issue"]["number"] = number
    if on_pull_request:
        # Real payloads for comments on pull requests carry issue.pull_request (schema).
        base = f"https://api.github.com/repos/{owner}/{repo}/pulls/{number}"
        data["issue"]["pull_request"] = {"url": base, "html_url": base, "diff_url": base + ".diff",
                                         "patch_url": base + ".patch", "merged_at": None}
    else:
        data["issue"].pop("pull_request", None)
    comment = data["comment"]
    comment.update(id=comment_id, body=body)
    comment["user"] = dict(comment["user"], login=user, type=user_type)
    data["sender"] = dict(data["sender"], login=user, type=user_type)
    if action == "edited":
        data["changes"] = {"body": {"from": old_body or ""}}
    return data
