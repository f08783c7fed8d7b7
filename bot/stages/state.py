"""Per-issue workflow state, persisted in the store so a restarted bot knows where each issue stands."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from bot.store import Store

State = Literal[
    "planning", "planned", "implementing", "pr_open", "scoring", "failed", "cancelled"
]
Stage = Literal["plan", "implement", "judge", "fix"]


@dataclass
class IssueState:
    """Everything the stages remember about one issue (or the issue behind a pull request)."""

    repo: str
    number: int
    state: str = "planning"
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

