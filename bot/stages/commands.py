"""Maintainer commands: carry out what ``bot/core/workflow.py`` decided for each ``/command``.

``decide`` (pure) says whether a command is refused with a reply or which action runs; the
``ACTIONS`` table maps each action to the stage that carries it out, and where it is answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.commands import Command, Where, parse_variant
from bot.core.render import render_help, render_reply, render_status
from bot.core.render_plan import render_cancelled_reply
from bot.core.workflow import Decision, Intent, Workflow, decide
from bot.stages.context import IssueContext
from bot.stages.fix import run_fix
from bot.stages.flow import approve, cancel, guarded, implement_and_score, new_human_version
from bot.stages.plan import refresh_checklist, run_plan, show_plan
from bot.stages.runtime import stage_costs
from bot.stages.score import run_judge

Reply = Callable[[str], Awaitable[object]]


@dataclass(frozen=True)
class Call:
    """One command being carried out: who typed it, where answers go, and what ``decide`` said."""

    ctx: IssueContext
    command: Command
    where: Where
    decision: Decision
    login: str
    reply: Reply
    report_on: int | None
    resumed: bool


def workflow_of(ctx: IssueContext) -> Workflow:
    """The frozen snapshot of the issue that ``decide`` reads."""
    state = ctx.state
    if state is None:
        return Workflow(state=None)
    return Workflow(state=state.state, has_plan=state.version > 0, pr_number=state.pr_number,  # type: ignore[arg-type]
                    failed_stage=state.failed_stage)


async def run_command(ctx: IssueContext, command: Command, *, where: str, login: str,
                      reply: Reply, resumed: bool = False) -> None:
    """One maintainer command; the issue state was loaded by the caller.

    ``resumed`` is set when a restart interrupted this very job, so a stage it left
    half-done is continued rather than refused as already running.
    """
    place: Where = "pr" if where == "pr" else "issue"
    decision = decide(workflow_of(ctx), Intent(command=command.name, where=place, text=command.text,
                                               argument=command.argument))
    if decision.reply is not None:
        await reply(render_reply(command.name, decision.reply))
        return
    state = ctx.state
    # Failures of a command typed on the pull request are answered there.
    report_on = state.pr_number if state is not None and place == "pr" else None
    await ACTIONS[decision.action](Call(ctx=ctx, command=command, where=place, decision=decision, login=login,
                                        reply=reply, report_on=report_on, resumed=resumed))


async def _help(call: Call) -> None:
    await call.reply(render_help(where=call.where))


async def _status(call: Call) -> None:
    ctx = call.ctx
    state = ctx.state
    assert state is not None
    models = ctx.models()
    current = ctx.plan_version() if state.version else None
    await call.reply(render_status(
        state=state.state, issue_number=ctx.number, version=state.version or None,
        variant=models.variant, planner=state.served.get("plan", models.planner),
        implementer=models.implementer, judge=models.judge,
        costs=stage_costs(ctx.services.store, ctx.repo, ctx.number), pull_request=state.pr_number,
        budget_usd=ctx.config.budget_usd, plan_author=current.author if current else None))


async def _approve(call: Call) -> None:
    await approve(call.ctx, resumed=call.resumed)


async def _revise(call: Call) -> None:
    ctx, feedback = call.ctx, call.command.text
    assert ctx.state is not None
    ctx.state.pending_feedback = feedback
    await guarded(ctx, "plan", lambda: run_plan(ctx, feedback=feedback))


async def _edit(call: Call) -> None:
    await new_human_version(call.ctx, text=call.command.text, login=call.login)


async def _variant(call: Call) -> None:
    ctx = call.ctx
    assert ctx.state is not None
    ctx.state.variant = parse_variant(call.command.argument)
    ctx.save_state()
    version = ctx.plan_version() if ctx.state.version else None
    if version is not None:
        await show_plan(ctx, version)


async def _cancel(call: Call) -> None:
    await cancel(call.ctx, reason=f"/cancel by @{call.login}")


async def _cancelled(call: Call) -> None:
    await call.reply(render_cancelled_reply())


async def _retry(call: Call) -> None:
    ctx, stage, report_on = call.ctx, call.decision.stage, call.report_on
    state = ctx.state
    assert state is not None
    if stage == "plan":
        feedback = state.pending_feedback if state.version else None
        await guarded(ctx, "plan", lambda: run_plan(ctx, feedback=feedback))
    elif stage == "implement":
        state.state = "planned"
        await implement_and_score(ctx)
    elif stage == "fix":
        feedback = state.pending_feedback or ""
        if await guarded(ctx, "fix", lambda: run_fix(ctx, feedback=feedback), report_on=report_on):
            await guarded(ctx, "judge", lambda: run_judge(ctx), report_on=report_on)
    else:
        await guarded(ctx, "judge", lambda: run_judge(ctx), report_on=report_on)


async def _fix(call: Call) -> None:
    ctx, feedback, report_on = call.ctx, call.command.text, call.report_on
    assert ctx.state is not None
    ctx.state.pending_feedback = feedback
    ctx.save_state()
    if await guarded(ctx, "fix", lambda: run_fix(ctx, feedback=feedback), report_on=report_on) \
            and await guarded(ctx, "judge", lambda: run_judge(ctx), report_on=report_on):
        await call.reply(review_updated_reply(ctx, "fix"))
        await refresh_checklist(ctx)


async def _rescore(call: Call) -> None:
    if await guarded(call.ctx, "judge", lambda: run_judge(call.ctx), report_on=call.report_on):
        await call.reply(review_updated_reply(call.ctx, "rescore"))
        await refresh_checklist(call.ctx)


def review_updated_reply(ctx: IssueContext, command: str) -> str:
    """The answer that ends `/fix` and `/rescore`: a review edit notifies no one, so say where it is."""
    state = ctx.state
    assert state is not None
    review = f"[the review]({state.review_url})" if state.review_url else "the review"
    pushed = f"Pushed `{state.head_sha[:7]}` and updated" if command == "fix" and state.head_sha else "Updated"
    return render_reply(command, f"{pushed} {review}.")


# Each action ``decide`` can answer, and the stage that carries it out.
ACTIONS: dict[str, Callable[[Call], Awaitable[None]]] = {
    "help": _help, "status": _status, "approve": _approve, "revise": _revise, "edit": _edit,
    "variant": _variant, "cancel": _cancel, "cancelled": _cancelled, "retry": _retry, "fix": _fix,
    "rescore": _rescore,
}
