"""Maintainer commands: what each ``/command`` does to the issue, and where it is answered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.commands import COMMAND_SCOPE, Command, parse_variant
from bot.core.render import render_help, render_reply, render_status
from bot.core.render_plan import render_cancelled_reply
from bot.stages.context import IssueContext
from bot.stages.fix import run_fix
from bot.stages.flow import approve, cancel, guarded, implement_and_score, new_human_version
from bot.stages.plan import refresh_checklist, run_plan, show_plan
from bot.stages.runtime import stage_costs
from bot.stages.score import run_judge


async def run_command(ctx: IssueContext, command: Command, *, where: str, login: str,
                      reply: Callable[[str], Awaitable[object]], resumed: bool = False) -> None:
    """One maintainer command; the issue state was loaded by the caller.

    ``resumed`` is set when a restart interrupted this very job, so a stage it left
    half-done is continued rather than refused as already running.
    """
    if where not in COMMAND_SCOPE[command.name]:
        other = "pull request" if where == "issue" else "issue"
        await reply(render_reply(command.name, f"`/{command.name}` works on the {other}, not here."
                                               " Comment `/help` for the list."))
        return
    state = ctx.state
    name = command.name
    # Failures of a command typed on the pull request are answered there.
    report_on = state.pr_number if state is not None and where == "pr" else None
    if name == "help":
        await reply(render_help(where="pr" if where == "pr" else "issue"))
        return
    if state is None and name == "cancel":
        # The issue's label job has not saved its state yet: the cancel it will find stops it.
        await cancel(ctx, reason=f"/cancel by @{login}")
        return
    if state is None:
        await reply(render_reply(command.name, "route-me has no plan for this issue yet."
                                               " Add the trigger label to start."))
        return
    if name == "status":
        models = ctx.models()
        current = ctx.plan_version() if state.version else None
        await reply(render_status(
            state=state.state, issue_number=ctx.number, version=state.version or None,
            variant=models.variant, planner=state.served.get("plan", models.planner),
            implementer=models.implementer, judge=models.judge,
            costs=stage_costs(ctx.services.store, ctx.repo, ctx.number), pull_request=state.pr_number,
            budget_usd=ctx.config.budget_usd, plan_author=current.author if current else None))
    elif name == "approve":
        await approve(ctx, resumed=resumed)
    elif name == "revise":
        if state.pr_number is not None:
            await reply(render_reply(command.name, f"A pull request (#{state.pr_number}) already exists;"
                                                   " comment `/fix <feedback>` there."))
            return
        feedback = command.text
        if not feedback:
            await reply(render_reply(command.name, "`/revise` needs feedback, e.g. `/revise keep the public API`."))
            return
        state.pending_feedback = feedback
        await guarded(ctx, "plan", lambda: run_plan(ctx, feedback=feedback))
    elif name == "edit":
        if not command.text:
            await reply(render_reply(command.name, "`/edit` needs the new plan below the `/edit` line."))
            return
        await new_human_version(ctx, text=command.text, login=login)
    elif name == "variant":
        variant = parse_variant(command.argument)
        if variant is None:
            await reply(render_reply(command.name, "`/variant` takes one of `OO`, `OK`, `KO`, `KK`"
                                                   " (planner letter first; O strong, K cheap)."))
            return
        state.variant = variant
        ctx.save_state()
        version = ctx.plan_version() if state.version else None
        if version is not None:
            await show_plan(ctx, version)
    elif name == "cancel":
        await cancel(ctx, reason=f"/cancel by @{login}")
    elif name == "retry":
        await retry(ctx, reply=reply, report_on=report_on)
    elif name in ("fix", "rescore") and state.state == "cancelled":
        await reply(render_cancelled_reply())
    elif name == "fix":
        feedback = command.text
        if not feedback:
            await reply(render_reply(command.name, "`/fix` needs feedback, e.g. `/fix also handle empty input`."))
            return
        state.pending_feedback = feedback
        ctx.save_state()
        if await guarded(ctx, "fix", lambda: run_fix(ctx, feedback=feedback), report_on=report_on) \
                and await guarded(ctx, "judge", lambda: run_judge(ctx), report_on=report_on):
            await reply(review_updated_reply(ctx, "fix"))
            await refresh_checklist(ctx)
    elif name == "rescore":
        if await guarded(ctx, "judge", lambda: run_judge(ctx), report_on=report_on):
            await reply(review_updated_reply(ctx, "rescore"))
            await refresh_checklist(ctx)


def review_updated_reply(ctx: IssueContext, command: str) -> str:
    """The answer that ends `/fix` and `/rescore`: a review edit notifies no one, so say where it is."""
    state = ctx.state
    assert state is not None
    review = f"[the review]({state.review_url})" if state.review_url else "the review"
    pushed = f"Pushed `{state.head_sha[:7]}` and updated" if command == "fix" and state.head_sha else "Updated"
    return render_reply(command, f"{pushed} {review}.")


async def retry(ctx: IssueContext, *, reply: Callable[[str], Awaitable[object]],
                report_on: int | None = None) -> None:
    state = ctx.state
    assert state is not None
    stage = state.failed_stage
    if state.state != "failed" or stage is None:
        await reply(render_reply("retry", "Nothing has failed here; there is nothing to retry."))
        return
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
