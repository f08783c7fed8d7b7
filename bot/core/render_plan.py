"""The plan comment: one comment per issue, edited in place from "planning…" to the plan.

It shows the plan, who wrote it, the models of the split, the cost so far and still to
come, what to do next and the commands that apply in the issue's current state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.markers import make_marker, plan_body_markers
from bot.core.plan import REASONING_SUFFIX, PlanVersion, code_span, plan_text
from bot.core.render import (
    MAX_BODY_CHARS,
    STATE_LABELS,
    _author,
    _clip,
    _commands_list,
    _defuse,
    _models_line,
    _short,
    cost_line,
    format_usd,
    render_reply,
    usd_digits,
)
from bot.core.usage import StageCost

# The one way to start over after a cancellation, said alike in the comment and in replies.
CANCELLED_RESTART = (
    "Comment `/revise <feedback>` for a new plan version or `/edit` with your own plan;"
    " to plan from scratch, remove the label and add it again."
)

# The issue commands that do something in each state (the rest would only be refused).
STATE_COMMANDS: dict[str, tuple[str, ...]] = {
    "planned": ("approve", "revise", "edit", "variant", "cancel", "status", "help"),
    "failed": ("retry", "approve", "revise", "edit", "variant", "cancel", "status", "help"),
    "cancelled": ("revise", "edit", "variant", "status", "help"),
    "planning": ("cancel", "status", "help"),
    "implementing": ("cancel", "status", "help"),
}
WHILE_PR_OPEN = ("status", "help")


def render_cancelled_reply() -> str:
    """The reply to a command that needs a live issue, e.g. `/approve` after `/cancel`."""
    return render_reply("cancelled", f"route-me: work on this issue was cancelled. {CANCELLED_RESTART}")


def _plan_marker(*, version: int, state: str, base_sha: str | None, planner: str,
                 implementer: str, variant: str, **extra: object) -> str:
    data = {"version": version, "state": state, "base_sha": base_sha, "planner": planner,
            "implementer": implementer, "variant": variant, **extra}
    return make_marker("plan", data)


def render_plan_progress(*, state_line: str, issue_number: int, variant: str, planner: str,
                         implementer: str, version: int, base_sha: str | None,
                         state: str = "planning") -> str:
    """The plan comment while work is under way ("planning…", "implementing… (turn 3/30)")."""
    marker = _plan_marker(version=version, state=state, base_sha=base_sha, planner=planner,
                          implementer=implementer, variant=variant, issue=issue_number)
    footer = (f"_{CANCELLED_RESTART}_" if state == "cancelled"
              else "_This comment is updated in place as the work goes on._")
    return (
        f"{marker}\n**route-me · plan v{version} · {_defuse(state_line)}**\n"
        f"{_models_line(variant=variant, planner=planner, implementer=implementer)}"
        f" · issue #{issue_number} · base {_short(base_sha)}\n\n{footer}\n"
    )


def render_checklist(*, version: int, approved: bool, working: str | None, pull_request: int | None,
                     ci: str | None, score: float | None, scored: bool, failed_stage: str | None) -> str:
    """The stage checklist at the top of the plan comment: planned → approved → implementing → PR → CI → scored.

    ``working`` is what the implementer is doing now ("turn 3 of 30, 2 files touched");
    ``ci`` is the CI box as ``bot/core/render_ci.py`` words it (None: nothing to show yet).
    """
    def box(text: str, *, done: bool, now: bool = False, failed: bool = False) -> str:
        return f"{'❌' if failed else '✅' if done else '⏳' if now else '⬜'} {text}"

    implemented = pull_request is not None
    steps = [
        box("planned", done=version > 0),
        box("approved", done=approved),
        box(f"implementing: {_defuse(working)}" if working else "implemented" if implemented else "implementing",
            done=implemented, now=working is not None, failed=failed_stage == "implement" and not implemented),
        box(f"PR #{pull_request}" if implemented else "PR", done=implemented),
        ci or box("CI", done=False),
        box(f"scored {score:.1f}/5" if scored and score is not None else "scored", done=scored,
            failed=failed_stage == "judge"),
    ]
    return " → ".join(steps)


def _next_step(*, state: str, require_approval: bool, pull_request: int | None) -> str:
    if pull_request is not None and state == "cancelled":
        # Cancelling does not close the pull request, and /revise is refused while it is open.
        return (f"Work on this issue was cancelled; pull request #{pull_request} stays open for you to"
                " merge or close. `/fix <feedback>` and `/rescore` still work there.")
    if pull_request is not None:
        return f"Pull request: #{pull_request}. Comment `/fix <feedback>` or `/rescore` there."
    if state == "planned" and not require_approval:
        return (
            "This repository does not require approval (`require_approval: false`):"
            " implementation starts on its own."
        )
    return {
        "planned": "Comment `/approve` to implement this plan, `/revise <feedback>` for a new"
        " version, or `/edit` followed by your own plan.",
        "failed": "Something failed; comment `/retry` to try again.",
        "cancelled": f"Work on this issue was cancelled. {CANCELLED_RESTART}",
    }.get(state, "")


def _estimates_line(variant: str, estimates: Mapping[str, float | None]) -> str:
    """What implementing and judging would cost with each implementer.

    The plan is paid for, so only the implementer letter changes what is still to come.
    """
    choices = [(f"{variant[0]}K", "a cheap implementer (K)"), (f"{variant[0]}O", "a strong implementer (O)")]
    digits = usd_digits([estimates.get(split) for split, _ in choices])
    shown = [
        f"with {label} {format_usd(estimates.get(split), digits=digits)}{' (chosen)' * (split == variant)}"
        for split, label in choices if split in estimates
    ]
    return "**Estimated cost still to come (implement + judge):** " + " · ".join(shown) if shown else ""


def render_plan_comment(*, version: PlanVersion, state: str, variant: str, planner: str,
                        implementer: str, judge: str, costs: Sequence[StageCost],
                        split_estimates: Mapping[str, float | None], fallback_note: str | None,
                        notes: Sequence[str] = (), require_approval: bool,
                        pull_request: int | None = None, next_planner: str | None = None,
                        state_line: str | None = None, checklist: str | None = None) -> str:
    """The plan comment for ``version``.

    ``planner`` is the model that wrote this version (for a human version, the split's
    planner); ``next_planner`` is the one the current split would use for a `/revise`.
    ``state_line`` replaces the state's label in the title while work is under way
    ("implementing… (turn 3/30)"): the plan being implemented stays readable meanwhile.
    """
    marker = _plan_marker(version=version.number, state=state, base_sha=version.base_sha,
                          planner=planner.partition(REASONING_SUFFIX)[0], implementer=implementer, variant=variant,
                          author=version.author, pull_request=pull_request)
    label = _defuse(state_line) if state_line else STATE_LABELS.get(state, state)
    head = [
        marker,
        f"**route-me · plan v{version.number} by {_author(version)} · {label}**",
        f"Split {code_span(variant)} · implementer {code_span(implementer)} · judge {code_span(judge)}"
        f" · base {_short(version.base_sha)}",
    ]
    # A planner named with its reasoning ("spec (reasoning: high)") is still the same model.
    if next_planner and not version.human and next_planner != planner.partition(REASONING_SUFFIX)[0]:
        head[-1] += f" · the next `/revise` is planned by {code_span(next_planner)}"
    if checklist:
        head.append(f"\n{checklist}")
    # A fallback note says which model wrote the plan: it means nothing on a human's version.
    quoted = [f"**Fallback:** {fallback_note}"] if fallback_note and not version.human else []
    quoted += list(notes)
    if quoted:
        head.append("\n" + "\n>\n".join("> " + _defuse(n).replace("\n", "\n> ") for n in quoted))
    start, end = plan_body_markers(version.number)
    where = " The pull request's review has the full table." if pull_request is not None else ""
    tail = [f"Tokens and cost so far: {cost_line(costs)}.{where}"]
    estimates = _estimates_line(variant, split_estimates) if pull_request is None else ""
    if estimates:
        tail.append(estimates)
    step = _next_step(state=state, require_approval=require_approval, pull_request=pull_request)
    if step:
        tail.append(step)
    names = WHILE_PR_OPEN if pull_request is not None else STATE_COMMANDS.get(state, WHILE_PR_OPEN)
    tail.append(f"<details><summary>Commands</summary>\n\n{_commands_list('issue', names)}\n\n</details>")
    head_text, tail_text = "\n".join(head), "\n\n".join(tail)
    room = MAX_BODY_CHARS - len(head_text) - len(tail_text) - len(start) - len(end) - 16
    body = _clip(_defuse(plan_text(version)), room)
    return f"{head_text}\n\n{start}\n{body}\n{end}\n\n{tail_text}\n"
