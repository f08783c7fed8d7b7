"""Per-issue workflow state, persisted in the store so a restarted bot knows where each issue stands.

How "cancelled" works.  Cancels (removing the trigger label, closing the issue, ``/cancel``)
skip the issue lock, so they reach a stage that is still running, and they can overtake
jobs that were recorded before them.  So:

- A cancel always records itself: it stores state "cancelled" and its job id in
  ``cancelled_by_job`` (even on an issue with no state yet, e.g. while the label job is
  still checking permissions), re-read from the store at the moment it writes.
- A running stage re-reads the store before each model call and before each step that
  makes something on GitHub (``IssueContext.cancelled``), and its saves are refused once
  the issue is cancelled (``IssueContext.save_state``); it then stops (``StageCancelled``).
- Only a job that was recorded after the latest cancel may move the issue out of
  "cancelled": job ids increase, so a job whose id is below ``cancelled_by_job`` came
  before the cancel and must not undo it (a parked label job, a slow ``/approve``).
  Per command: a new label or ``/revise`` restarts planning, ``/edit`` makes a plan version;
  ``/approve``, ``/fix`` and ``/rescore`` are answered that the issue was cancelled.
- What GitHub already made when the cancel landed (a pull request opened meanwhile) is
  still recorded, with the state left "cancelled" (``IssueContext.record_despite_cancel``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from bot.core.workflow import State, check_state
from bot.store import Store

Stage = Literal["plan", "implement", "judge", "fix"]


@dataclass
class IssueState:
    """Everything the stages remember about one issue (or the issue behind a pull request)."""

    repo: str
    number: int
    state: State = "planning"
    plan_comment_id: int | None = None
    version: int = 0
    approved_version: int | None = None
    base_sha: str | None = None
    variant: str | None = None
    failed_stage: str | None = None
    failure: str | None = None
    pr_number: int | None = None
    branch: str | None = None
    head_sha: str | None = None
    review_id: int | None = None
    served: dict[str, str] = field(default_factory=dict)
    fallback_notes: dict[str, str] = field(default_factory=dict)
    replied_outsiders: list[str] = field(default_factory=list)
    pending_feedback: str | None = None
    ci: str | None = None
    """The worst outcome of ``ci_suites``: what the scorecard's marker carries."""
    ci_suites: dict[str, str] = field(default_factory=dict)
    """App name → its check suite's outcome, for the commit ``ci_head``."""
    ci_head: str | None = None
    review_inputs: dict[str, Any] | None = None
    plan_comment_url: str | None = None
    """The plan comment's html_url as GitHub gave it, for comments that link it."""
    failure_comment: list[Any] | None = None
    """[thread, comment id, stage] of the last failure comment, marked resolved when that stage succeeds."""
    checklist_shown: str | None = None
    """The stage checklist the plan comment shows now: it is edited only when that would change."""
    review_url: str | None = None
    """The review's html_url as GitHub gave it, for replies that link it."""
    review_intent_pr: int | None = None
    """The pull request a review POST was (about to be) sent for: a retry looks for that review first."""
    ci_failing: list[list[str | None]] = field(default_factory=list)
    """[name, link] of each failing check run or status on ``ci_head``, for the review's verdict."""
    ci_tests: list[str] = field(default_factory=list)
    """Failing test names found in ``ci_head``'s failing checks."""
    ci_rounds: int = 0
    """CI fix rounds started on the pull request (bounded by ``ci_fix_rounds``)."""
    ci_round_head: str | None = None
    """The head commit whose failure a round (or the notice that rounds are spent) answered."""
    ci_phase: str | None = None
    """Where the CI loop stands: running, pushed, exhausted, off (None before any failure)."""
    ci_round_log: list[dict[str, Any]] = field(default_factory=list)
    """One entry per pushed round: round, commit, files, outside_plan."""
    cancelled_by_job: int | None = None
    """The id of the job that last cancelled the issue; older jobs must not undo the cancel."""
    branch_wanted: str | None = None
    """The branch about to be created at ``head_sha`` (stored before the call): a job resumed
    after a crash mid-call reconciles it (the ref may exist) instead of implementing again."""
    plan_comment_posting: bool = False
    """Set just before the plan comment is posted: a job resumed after a crash looks for the
    comment by its marker before posting (GitHub may have made it and lost only the answer)."""

    def __setattr__(self, name: str, value: Any) -> None:
        # The State literal is enforced where states are written: a typo'd state fails at once.
        if name == "state":
            check_state(value)
        super().__setattr__(name, value)

    @classmethod
    def load(cls, store: Store, repo: str, number: int) -> IssueState | None:
        data = store.issue_state(repo, number)
        if data is None:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, store: Store, *, unless_stored: str | None = None) -> bool:
        """Persist; with ``unless_stored``, refuse to overwrite a stored state of that value."""
        return store.save_issue_state(self.repo, self.number, asdict(self), unless_state=unless_stored)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def came_after_cancel(job_id: int | None, stored: IssueState | None) -> bool:
    """Whether the job ``job_id`` was recorded after the cancel in ``stored`` (job ids increase).

    A job without an id (not run by the worker) or a cancel without one counts as later.
    """
    cancelled_by = stored.cancelled_by_job if stored is not None else None
    return job_id is None or cancelled_by is None or job_id > cancelled_by


def save_unless_cancelled_since(store: Store, state: IssueState, *, seen_state: str | None,
                                job_id: int | None) -> bool:
    """Save ``state`` unless that would undo a cancel this job did not see, or came before.

    Writing "cancelled" is always allowed.  Leaving a stored "cancelled" is allowed only to
    a job that loaded "cancelled" itself (``seen_state``) and is newer than the cancel.
    A later cancel's ``cancelled_by_job`` is never overwritten by an older copy.
    """
    # No await from the read to the write: no other job changes the row in between.
    stored = IssueState.load(store, state.repo, state.number)
    if stored is not None and (stored.cancelled_by_job or 0) > (state.cancelled_by_job or 0):
        state.cancelled_by_job = stored.cancelled_by_job
    may_leave = seen_state == "cancelled" and came_after_cancel(job_id, stored)
    keep = None if state.state == "cancelled" or may_leave else "cancelled"
    return state.save(store, unless_stored=keep)


def record_facts(store: Store, repo: str, number: int, facts: dict[str, Any]) -> IssueState:
    """Write ``facts`` into the stored state, keeping its state value; returns what was stored.

    A cancel can land while GitHub makes a branch or a pull request.  What was made must
    still be remembered, so a later ``/fix``, the pull request's events and a new approval
    see it; the stored "cancelled" and everything the canceller wrote are kept.
    """
    stored = IssueState.load(store, repo, number) or IssueState(repo=repo, number=number)
    for name, value in facts.items():
        setattr(stored, name, value)
    stored.save(store)
    return stored
