"""The issue workflow as a pure state machine: what a maintainer's command does in each state.

``decide(workflow, intent)`` looks only at a frozen snapshot of the issue (``Workflow``) and
the command (``Intent``) and answers a ``Decision``: a reply to send instead of doing
anything, or the action the stages carry out (``bot/stages/commands.py``).  The rules are
the ``RULES`` table, one row per command, read top to bottom by ``decide``; no I/O here,
so every refusal and every route is tested without GitHub or a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from bot.core.commands import COMMAND_SCOPE, KNOWN_COMMANDS, Where, parse_variant

State = Literal["planning", "planned", "implementing", "pr_open", "scoring", "failed", "cancelled"]
STATES: frozenset[str] = frozenset(get_args(State))


def check_state(value: str) -> str:
    """``value`` if it is one of ``State``; a typo'd state is a bug, raised at once."""
    if value not in STATES:
        raise ValueError(f"unknown workflow state {value!r}; expected one of {sorted(STATES)}")
    return value


@dataclass(frozen=True)
class Workflow:
    """What ``decide`` may look at: the issue's state, whether a plan and a pull request exist, what failed."""

    state: State | None
    """None: route-me holds nothing for the issue yet (its label job may still be starting)."""
    has_plan: bool = False
    pr_number: int | None = None
    failed_stage: str | None = None

    def __post_init__(self) -> None:
        if self.state is not None:
            check_state(self.state)


@dataclass(frozen=True)
class Intent:
    """One maintainer command, where it was typed, and its text (argument plus the lines that belong to it)."""

    command: str
    where: Where
    text: str = ""
    argument: str = ""


@dataclass(frozen=True)
class Decision:
    """``action`` for the stages to carry out, or ``reply`` (and nothing else) when ``action`` is "reply"."""

    action: str
    reply: str | None = None
    stage: str | None = None
    """For "retry": the stage to run again."""


@dataclass(frozen=True)
class Rule:
    """How one command is checked before it runs (a row of the command table)."""

    usage: str | None = None
    """Refused with this text when the command's text is empty (it needs feedback or a plan)."""
    refused_with_pull: bool = False
    """Refused while a pull request exists (the plan is fixed once implemented)."""
    refused_when_cancelled: bool = False
    """Answered with the cancelled reply when the issue was cancelled."""
    valid: tuple[str, ...] = ()
    """The accepted arguments (``/variant``); anything else gets ``usage``."""


NO_PLAN_YET = "route-me has no plan for this issue yet. Add the trigger label to start."
NOTHING_TO_RETRY = "Nothing has failed here; there is nothing to retry."

RULES: dict[str, Rule] = {
    "approve": Rule(),
    "revise": Rule(usage="`/revise` needs feedback, e.g. `/revise keep the public API`.", refused_with_pull=True),
    "edit": Rule(usage="`/edit` needs the new plan below the `/edit` line."),
    "variant": Rule(usage="`/variant` takes one of `OO`, `OK`, `KO`, `KK` (planner letter first; O strong, K cheap).",
                    valid=("OO", "OK", "KO", "KK")),
    "cancel": Rule(),
    "retry": Rule(),
    "status": Rule(),
    "fix": Rule(usage="`/fix` needs feedback, e.g. `/fix also handle empty input`.", refused_when_cancelled=True),
    "rescore": Rule(refused_when_cancelled=True),
    "help": Rule(),
}
assert set(RULES) == set(KNOWN_COMMANDS), "every command has a rule"


def _reply(text: str) -> Decision:
    return Decision(action="reply", reply=text)


def decide(workflow: Workflow, intent: Intent) -> Decision:
    """What ``intent`` does to the issue in ``workflow`` (pure)."""
    name = intent.command
    rule = RULES[name]
    if intent.where not in COMMAND_SCOPE[name]:
        other = "pull request" if intent.where == "issue" else "issue"
        return _reply(f"`/{name}` works on the {other}, not here. Comment `/help` for the list.")
    if name == "help":
        return Decision(action="help")
    if workflow.state is None:
        # The label job has not saved its state yet: a cancel is recorded for it to find.
        return Decision(action="cancel") if name == "cancel" else _reply(NO_PLAN_YET)
    if rule.refused_with_pull and workflow.pr_number is not None:
        return _reply(f"A pull request (#{workflow.pr_number}) already exists; comment `/fix <feedback>` there.")
    if rule.refused_when_cancelled and workflow.state == "cancelled":
        return Decision(action="cancelled")
    if rule.usage and not (intent.argument if rule.valid else intent.text):
        return _reply(rule.usage)
    if rule.valid and parse_variant(intent.argument) is None:
        return _reply(rule.usage or "")
    if name == "retry":
        if workflow.state != "failed" or workflow.failed_stage is None:
            return _reply(NOTHING_TO_RETRY)
        return Decision(action="retry", stage=workflow.failed_stage)
    return Decision(action=name)
