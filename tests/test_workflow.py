"""The issue workflow's pure rules: every refusal and route of a command, without GitHub or a model."""

from __future__ import annotations

import pytest

from bot.core.commands import KNOWN_COMMANDS
from bot.core.workflow import NO_PLAN_YET, NOTHING_TO_RETRY, RULES, Decision, Intent, Workflow, decide
from bot.stages.state import IssueState

PLANNED = Workflow(state="planned", has_plan=True)
OPEN = Workflow(state="pr_open", has_plan=True, pr_number=8)


def test_the_state_literal_is_enforced_in_the_snapshot_and_the_stored_state():
    with pytest.raises(ValueError, match="unknown workflow state 'aproved'"):
        Workflow(state="aproved")  # type: ignore[arg-type]
    state = IssueState(repo="o/r", number=1)
    with pytest.raises(ValueError):
        state.state = "done"
    with pytest.raises(ValueError):
        IssueState(repo="o/r", number=1, state="merged")
    with pytest.raises(AttributeError):
        PLANNED.state = "failed"  # type: ignore[misc]  # frozen


def test_every_command_has_a_rule_and_an_action():
    from bot.stages.commands import ACTIONS

    assert set(RULES) == set(KNOWN_COMMANDS)
    for name in KNOWN_COMMANDS:
        where = "pr" if name in ("fix", "rescore") else "issue"
        decision = decide(OPEN if where == "pr" else PLANNED, Intent(name, where, text="x", argument="OO"))
        assert decision.action == "reply" or decision.action in ACTIONS, (name, decision)


@pytest.mark.parametrize(("workflow", "intent", "expected"), [
    (PLANNED, Intent("fix", "issue", text="x"), "`/fix` works on the pull request, not here."),
    (OPEN, Intent("approve", "pr"), "`/approve` works on the issue, not here."),
    (Workflow(state=None), Intent("approve", "issue"), NO_PLAN_YET),
    (OPEN, Intent("revise", "issue", text="more"), "A pull request (#8) already exists;"),
    (PLANNED, Intent("revise", "issue"), "`/revise` needs feedback"),
    (PLANNED, Intent("edit", "issue"), "`/edit` needs the new plan"),
    (PLANNED, Intent("variant", "issue", argument="XO"), "`/variant` takes one of"),
    (PLANNED, Intent("variant", "issue"), "`/variant` takes one of"),
    (OPEN, Intent("fix", "pr"), "`/fix` needs feedback"),
    (PLANNED, Intent("retry", "issue"), NOTHING_TO_RETRY),
    (Workflow(state="failed", has_plan=True), Intent("retry", "issue"), NOTHING_TO_RETRY),  # no stage known
])
def test_refusals_are_replies_and_nothing_else(workflow, intent, expected):
    decision = decide(workflow, intent)
    assert decision.action == "reply" and decision.reply is not None and decision.reply.startswith(expected)


def test_routes():
    assert decide(Workflow(state=None), Intent("cancel", "issue")) == Decision("cancel")
    assert decide(Workflow(state=None), Intent("help", "pr")) == Decision("help")
    assert decide(PLANNED, Intent("variant", "issue", argument="oo")) == Decision("variant")
    failed = Workflow(state="failed", has_plan=True, failed_stage="implement")
    assert decide(failed, Intent("retry", "issue")) == Decision("retry", stage="implement")
    cancelled = Workflow(state="cancelled", has_plan=True, pr_number=8)
    assert decide(cancelled, Intent("fix", "pr")) == Decision("cancelled")  # even without feedback
    assert decide(cancelled, Intent("rescore", "pr")) == Decision("cancelled")
    assert decide(cancelled, Intent("revise", "issue", text="x")).reply.startswith("A pull request (#8)")
    assert decide(OPEN, Intent("fix", "pr", text="also test 0")) == Decision("fix")
