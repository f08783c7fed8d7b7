"""A webhook delivery classified once: what it asks route-me to do, as data (pure, no I/O).

``classify(event, payload)`` reads the few parts of a delivery route-me uses (typed by the
pydantic models below, everything else ignored) and returns an ``Intent``, or None when the
delivery needs no work.  The webhook classifies at intake and stores the intent with the job
(as JSON); the job runner (``bot/runner.py``) reads it back to take the job's lock, pick its
one handler and answer its failure, and hands the handler the typed ``Delivery`` parts, so
nothing past intake reads the raw payload or decides again whether it is work:

- ``issue`` is the issue or pull request number the delivery names (``thread``: where a
  maintainer acted and where a failure is answered);
- ``pull_requests`` and ``branches`` say which route-me pull request a job may concern, so
  the worker can lock the issue behind it;
- ``bypasses_lock`` marks what must reach a stage that is still running (``/cancel``,
  removing the label, closing the issue).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.commands import parse_commands

# (event, action) pairs that can lead to work; everything else is acknowledged with 200.
WORK_EVENTS = frozenset({
    ("issues", "labeled"),
    ("issues", "unlabeled"),
    ("issues", "closed"),
    ("issue_comment", "created"),
    ("issue_comment", "edited"),
    ("check_suite", "completed"),
    ("check_run", "completed"),
    ("status", None),
    ("pull_request", "closed"),
})
# Cheap pre-checks so chatter never becomes a job: a new comment matters only if some line
# starts with "/word"; an edit only if it is of a plan comment (which carries our marker).
# It must pass every comment parse_commands finds a command in (it may pass more): the
# parser also splits lines at a lone \r and allows any Unicode space before the slash.
COMMAND_LINE = re.compile(r"(?:^|\r)[\s>]*/[A-Za-z]", re.MULTILINE)
PLAN_MARKER = "<!-- route-me:plan "
# CI reports that can lead to work: a failed check run (its suite may never report, e.g. another
# app's), and a finished commit status on a branch named like route-me's ("<prefix>issue-N").
FAILED_RUNS = frozenset({"failure", "timed_out", "startup_failure"})
# The bot names its branches "<prefix>issue-N"; a branch that already existed gets "-2", "-3" …;
# issue numbers never contain "-", so "issue-7-2" can only be issue 7.
ISSUE_BRANCH = re.compile(r"(?:^|/)issue-(\d+)(?:-\d+)?$")


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Part):
    login: str = ""
    type: str = ""


class Named(_Part):
    name: str | None = None


class Repository(_Part):
    full_name: str = ""
    name: str = ""
    owner: Account | None = None
    default_branch: str | None = None


class Installation(_Part):
    id: int


class IssueRef(_Part):
    number: int | None = None
    pull_request: dict[str, Any] | None = None
    title: str | None = None
    body: str | None = None
    labels: list[Named] = []


class Comment(_Part):
    id: int | None = None
    body: str | None = None
    user: Account | None = None


class Head(_Part):
    ref: str | None = None


class PullRef(_Part):
    number: int | None = None
    head: Head | None = None
    merged: bool | None = None


class App(_Part):
    name: str | None = None
    slug: str | None = None


class CheckSuite(_Part):
    head_branch: str | None = None
    head_sha: str | None = None
    status: str | None = None
    conclusion: str | None = None
    app: App | None = None
    pull_requests: list[PullRef] = []


class CheckRun(_Part):
    conclusion: str | None = None
    head_sha: str | None = None
    check_suite: CheckSuite | None = None
    pull_requests: list[PullRef] = []


class Delivery(_Part):
    """The parts of a delivery's payload route-me reads, whatever the event (handlers get
    this, typed, never the raw payload)."""

    action: str | None = None
    installation: Installation | None = None
    repository: Repository | None = None
    sender: Account | None = None
    issue: IssueRef | None = None
    label: Named | None = None
    comment: Comment | None = None
    pull_request: PullRef | None = None
    check_suite: CheckSuite | None = None
    check_run: CheckRun | None = None
    state: str | None = None
    sha: str | None = None
    branches: list[Named] = []


@dataclass(frozen=True)
class Intent:
    """What a delivery asks for, decided once at intake and stored with its job."""

    event: str
    action: str | None
    repo: str
    installation_id: int
    issue: int | None
    on_pull_request: bool = False
    pull_requests: tuple[int, ...] = ()
    branches: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    bypasses_lock: bool = False

    @property
    def thread(self) -> int | None:
        """Where the maintainer acted (the issue, or the pull request a command was typed on)."""
        return self.issue

    def issue_from_branches(self) -> int | None:
        """The issue a route-me branch named in the delivery belongs to, if any."""
        for branch in self.branches:
            match = ISSUE_BRANCH.search(branch)
            if match:
                return int(match.group(1))
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Intent:
        data = json.loads(text)
        for name in ("pull_requests", "branches", "commands"):
            data[name] = tuple(data.get(name) or ())
        # A field a newer instance added (instances of two versions share one database during
        # a deploy) is not this version's business.
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})


def is_bot(account: Account | None) -> bool:
    return account is not None and account.type == "Bot"


def classify(event: str, payload: dict[str, Any], *, trigger_label: str | None = None) -> Intent | None:
    """The work a delivery asks for, or None.

    ``trigger_label`` is the repository's trigger label when its config was read recently
    (else None): a label event for another label is then known to need nothing, which is
    most label traffic.
    """
    if (event, payload.get("action")) not in WORK_EVENTS:
        return None
    try:
        delivery = Delivery.model_validate(payload)
    except ValidationError:
        return None  # not the shape GitHub sends for this event: nothing to act on
    if delivery.installation is None or delivery.repository is None:
        # A delivery to a GitHub App always names its installation; without one there is
        # no token to act with.
        return None
    if not _asks_for_work(event, delivery, trigger_label):
        return None
    return _describe(event, delivery, repo=delivery.repository.full_name,
                     installation_id=delivery.installation.id)


def describe(event: str, payload: dict[str, Any] | Delivery, *, repo: str, installation_id: int | None) -> Intent:
    """The intent of a payload (or its parts, already read) known to be work (a job recorded
    before intents were stored): what it concerns, without intake's checks."""
    if isinstance(payload, Delivery):
        delivery = payload
    else:
        try:
            delivery = Delivery.model_validate(payload)
        except ValidationError:
            delivery = Delivery()
    return _describe(event, delivery, repo=repo, installation_id=installation_id or 0)


def _asks_for_work(event: str, delivery: Delivery, trigger_label: str | None) -> bool:
    action = delivery.action
    if event == "issues":
        if action == "labeled" and is_bot(delivery.sender):
            return False  # a label only starts a paid plan when a maintainer adds it; bots never do
        name = delivery.label.name if delivery.label else None
        if action in ("labeled", "unlabeled") and trigger_label is not None and isinstance(name, str):
            return name.lower() == trigger_label
        return True
    if event == "issue_comment":
        if is_bot(delivery.sender):
            return False  # never answer ourselves or another bot
        # A new comment by a bot is never a command; an edit is judged by who edited it,
        # since a maintainer editing the bot's own plan comment is how plans get edited.
        comment = delivery.comment or Comment()
        text = comment.body or ""
        if action == "created":
            return not is_bot(comment.user) and bool(COMMAND_LINE.search(text))
        return PLAN_MARKER in text
    if event == "check_run":
        run = delivery.check_run or CheckRun()
        return run.conclusion in FAILED_RUNS  # a green run: its suite's completion reports the outcome
    if event == "status":
        # Still running, or a commit on no branch route-me made: nothing to do.
        return delivery.state != "pending" and any(ISSUE_BRANCH.search(b.name or "") for b in delivery.branches)
    return True


def _describe(event: str, delivery: Delivery, *, repo: str, installation_id: int) -> Intent:
    pulls: list[int] = []
    branches: list[str] = []
    commands: tuple[str, ...] = ()
    bypasses = False
    on_pull_request = False
    if event == "issues":
        bypasses = delivery.action in ("unlabeled", "closed")
    elif event == "issue_comment":
        if delivery.action == "created":
            text = (delivery.comment or Comment()).body or ""
            commands = tuple(command.name for command in parse_commands(text))
            bypasses = bool(commands) and all(name == "cancel" for name in commands)
        issue = delivery.issue
        if issue is not None and issue.pull_request and isinstance(issue.number, int):
            on_pull_request = True
            pulls.append(issue.number)
    elif event == "pull_request":
        _add_pull(delivery.pull_request or PullRef(), pulls, branches)
    elif event == "status":
        branches += [b.name for b in delivery.branches if b.name]
    elif event in ("check_suite", "check_run"):
        suite = delivery.check_suite or CheckSuite()
        if event == "check_run":
            run = delivery.check_run or CheckRun()
            suite = run.check_suite or CheckSuite()
            for pull in run.pull_requests:
                _add_pull(pull, pulls, branches)
        for pull in suite.pull_requests:
            _add_pull(pull, pulls, branches)
        if suite.head_branch:
            branches.append(suite.head_branch)
    number = delivery.issue.number if delivery.issue is not None else None
    return Intent(
        event=event, action=delivery.action, repo=repo, installation_id=installation_id,
        issue=number if isinstance(number, int) else None, on_pull_request=on_pull_request,
        pull_requests=tuple(pulls), branches=tuple(branches), commands=commands, bypasses_lock=bypasses,
    )


def _add_pull(pull: PullRef, pulls: list[int], branches: list[str]) -> None:
    if isinstance(pull.number, int):
        pulls.append(pull.number)
    if pull.head is not None and pull.head.ref:
        branches.append(pull.head.ref)
