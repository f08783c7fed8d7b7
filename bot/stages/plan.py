"""The plan stage: snapshot → context pack → planner (submit_plan) → the plan comment, edited in place."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from pydantic import ValidationError

from bot.core.context import build_context_pack
from bot.core.costs import estimate_split_costs
from bot.core.implementer_tools import ToolExecutor
from bot.core.plan import (
    Plan,
    PlanVersion,
    plan_text,
    validation_feedback,
)
from bot.core.plan_checks import limits_lines, plan_problems
from bot.core.render_ci import CIView, ci_box
from bot.core.render_plan import render_checklist, render_plan_comment, render_plan_progress
from bot.core.scorecard import accept_partial, overall
from bot.core.snapshot import Snapshot
from bot.core.usage import Usage
from bot.core.workspace import Workspace
from bot.models.model import CallInfo
from bot.models.port import ModelSpec, ToolCall
from bot.stages.context import IssueContext, Models
from bot.stages.errors import StageCancelled, StageFailed
from bot.stages.loop import Answer, run_tool_loop
from bot.stages.plan_budget import FittedToBudget, PlannerBudget, request_tokens
from bot.stages.roles import PLANNER, READ_ONLY_TOOLS
from bot.stages.runtime import stage_costs

log = logging.getLogger(__name__)

PLANNER_MAX_TURNS = PLANNER.max_turns
# Below this, a clipped tool result tells the model too little to be worth a turn.
MIN_USEFUL_RESULT_TOKENS = 200
# Rough sizes of the later stages, for the cost estimate shown with the plan.
TYPICAL_IMPLEMENT = Usage(input_tokens=40_000, output_tokens=8_000, cache_read_tokens=120_000)
TYPICAL_JUDGE = Usage(input_tokens=15_000, output_tokens=1_500)


def progress_body(ctx: IssueContext, models: Models, line: str, *, state: str = "planning",
                  working: str | None = None) -> str:
    """The plan comment while a stage runs: the plan itself once one exists, with ``line`` as its state."""
    assert ctx.state is not None
    version = ctx.plan_version() if state != "planning" and ctx.state.version else None
    if version is not None:
        # Implementing: the maintainer must still see which plan (and whose) is being built.
        return plan_comment_body(ctx, version, state=state, state_line=line, working=working)
    return render_plan_progress(
        state_line=line, issue_number=ctx.number, variant=models.variant, planner=models.planner,
        implementer=models.implementer, version=ctx.state.version + (1 if state == "planning" else 0),
        base_sha=ctx.state.base_sha, state=state,
    )


def split_estimates(ctx: IssueContext, models: Models) -> dict[str, float | None]:
    """What implementing and judging this plan would cost with each split's implementer.

    The plan is already paid for, so only the stages still to come are estimated, from
    typical sizes (the split's planner letter does not change them).
    """
    return estimate_split_costs(
        prices=ctx.runtime.prices, strong=models.strong, cheap=models.cheap, judge=models.judge,
        plan_usage=Usage(), implement_usage=TYPICAL_IMPLEMENT, judge_usage=TYPICAL_JUDGE,
    )


def checklist_for(ctx: IssueContext, *, working: str | None = None) -> str:
    """The plan comment's stage checklist from the issue's state."""
    state = ctx.state
    assert state is not None
    inputs = state.review_inputs or {}
    scorecard = accept_partial(inputs["scorecard"]) if inputs.get("scorecard") is not None else None
    return render_checklist(
        version=state.version, approved=state.approved_version is not None, working=working,
        pull_request=state.pr_number, ci=ci_box(CIView.of(state, rounds=ctx.config.ci_fix_rounds)),
        score=overall(scorecard) if scorecard else None, scored=state.review_id is not None,
        failed_stage=state.failed_stage if state.state == "failed" else None)


async def refresh_checklist(ctx: IssueContext) -> None:
    """Edit the plan comment when its checklist would read differently (one edit, else none)."""
    state = ctx.state
    if state is None or state.plan_comment_id is None or not state.version:
        return
    if checklist_for(ctx) == state.checklist_shown:
        return
    version = ctx.plan_version()
    if version is not None:
        await show_plan(ctx, version)


def plan_comment_body(ctx: IssueContext, version: PlanVersion, *, state: str | None = None,
                      notes: tuple[str, ...] = (), state_line: str | None = None, working: str | None = None) -> str:
    """The plan comment for ``version`` with the costs so far and the stage checklist."""
    assert ctx.state is not None
    checklist = checklist_for(ctx, working=working)
    ctx.state.checklist_shown = checklist
    models = ctx.models(planned_paths=version.plan.planned_paths() if version.plan else None)
    # The model that wrote this version, not the one a later /variant picked.
    writer = models.planner if version.human else version.author.removeprefix("planner:")
    return render_plan_comment(
        version=version, state=state or ctx.state.state, variant=models.variant, state_line=state_line,
        planner=writer, next_planner=models.planner, implementer=models.implementer,
        judge=models.judge, costs=stage_costs(ctx.services.store, ctx.repo, ctx.number),
        split_estimates=split_estimates(ctx, models),
        fallback_note=ctx.state.fallback_notes.get("plan"), notes=notes,
        require_approval=ctx.config.require_approval, pull_request=ctx.state.pr_number, checklist=checklist,
    )


async def show_plan(ctx: IssueContext, version: PlanVersion, *, state: str | None = None,
                    notes: tuple[str, ...] = ()) -> None:
    """Render the plan comment for ``version`` with the costs so far."""
    await ctx.show_on_plan_comment(plan_comment_body(ctx, version, state=state, notes=notes))


async def run_plan(ctx: IssueContext, *, feedback: str | None = None) -> PlanVersion:
    """Write a new plan version (the first, or a revision with ``feedback``) and show it."""
    state = ctx.state
    assert state is not None
    models = ctx.models()
    state.state = "planning"
    state.failed_stage = None
    ctx.save_or_stop()
    current = ctx.plan_version() if feedback and state.version else None
    if current is None:
        line = "revising the plan…" if feedback else "planning…"
        await ctx.show_on_plan_comment(progress_body(ctx, models, line))
        return await write_version(ctx, models, feedback=feedback, previous=None)
    # A revision keeps the current plan readable (and approvable) while the next is written.
    await show_plan(ctx, current, notes=(
        f"Revising: plan v{current.number + 1} is being written from the feedback;"
        f" plan v{current.number} below stays current until it is ready.",))
    try:
        return await write_version(ctx, models, feedback=feedback, previous=current)
    except StageCancelled:
        raise
    except Exception:
        try:
            await show_plan(ctx, current, state="failed", notes=(
                f"Revision failed (see the comment below); plan v{current.number} is still the"
                " current plan. Comment `/retry` to try the revision again, or `/approve` to"
                " implement this version.",))
        except Exception:  # noqa: BLE001 - the failure itself must still be reported
            log.exception("could not restore the plan comment on %s#%s", ctx.repo, ctx.number)
        raise


async def write_version(ctx: IssueContext, models: Models, *, feedback: str | None,
                        previous: PlanVersion | None) -> PlanVersion:
    """Snapshot, planner, new version: the part of run_plan that calls out and can fail."""
    state = ctx.state
    assert state is not None
    # A revision keeps the base commit of the plan it revises; a fresh plan takes the head.
    snapshot = await ctx.snapshot(state.base_sha if feedback and state.base_sha else ctx.default_branch)
    # The download takes a while: a /cancel may have arrived meanwhile.
    if ctx.cancelled():
        raise StageCancelled()
    state.base_sha = snapshot.sha
    ctx.save_or_stop()

    plan, served, fallback = await call_planner(ctx, models, snapshot, feedback=feedback, previous=previous)
    if ctx.cancelled():
        raise StageCancelled()
    version = PlanVersion(
        number=state.version + 1, plan=plan, markdown=None, author=f"planner:{served}",
        base_sha=snapshot.sha, created_at=time.time(),
    )
    ctx.save_version(version)
    state.version = version.number
    state.state = "planned"
    state.served["plan"] = served
    if fallback:
        state.fallback_notes["plan"] = fallback
    else:
        state.fallback_notes.pop("plan", None)
    ctx.save_or_stop()
    await show_plan(ctx, version)
    return version


async def call_planner(ctx: IssueContext, models: Models, snapshot: Snapshot, *,
                       feedback: str | None, previous: PlanVersion | None) -> tuple[Plan, str, str | None]:
    settings, prompts = ctx.services.settings, ctx.runtime.prompts
    budget = settings.planner_token_budget
    feedback_block = ""
    if feedback:
        feedback_block = prompts.render(
            "planner_feedback", previous_version=previous.number if previous else 0,
            previous_plan=plan_text(previous) if previous else "(none)", feedback=feedback,
        )
    user = prompts.render(
        PLANNER.user_prompt, issue_number=ctx.number, repo=ctx.repo, issue_title=ctx.issue_title,
        issue_body=ctx.issue_body or "(no description)", feedback=feedback_block, base_sha=snapshot.sha,
        **limits_lines(ctx.config),
    )
    request = PLANNER.request(prompts, user=user, reasoning=ctx.role_reasoning(PLANNER.reasoning_key))
    fixed = request_tokens(request)
    pack = build_context_pack(
        # Built from the issue alone, so a /revise sends the same context and hits the cache.
        snapshot, issue_title=ctx.issue_title, issue_body=ctx.issue_body,
        token_budget=max(2_000, budget - fixed - budget // 4),
    )
    request = replace(request, cached_context=pack.text)
    # Every request, the whole conversation counted, stays under the budget.
    spend = PlannerBudget(budget=budget)
    executor = ToolExecutor(Workspace(snapshot))
    invalid: list[str] = []

    async def answer(call: ToolCall) -> Answer:
        if call.name == "submit_plan":
            try:
                plan = Plan.model_validate(call.arguments)
                problems = "\n".join(plan_problems(plan, snapshot=snapshot, config=ctx.config))
            except ValidationError as exc:
                problems = validation_feedback(exc)
            if not problems:
                return Answer("Plan received.", done=True, value=plan)
            invalid.append(problems)
            if len(invalid) > 1:
                raise StageFailed("The planner's plan was refused twice:\n" + invalid[-1])
            return Answer(spend.take("error: the plan is invalid; fix these and call submit_plan again:\n"
                                     + invalid[-1], clip=False), is_error=True)
        if call.name not in READ_ONLY_TOOLS:
            return Answer(f"error: unknown tool {call.name!r}; use list_files, read_file, search or submit_plan",
                          is_error=True)
        if not spend.exploring or spend.result_room() < MIN_USEFUL_RESULT_TOKENS:
            return Answer(spend.take("error: " + spend.stop_note, clip=False), is_error=True)
        outcome = await asyncio.to_thread(executor.run, call.name, call.arguments)
        return Answer(spend.take(outcome.content), is_error=outcome.is_error)

    model = ctx.runtime.models.model(
        ModelSpec.parse(models.planner), ctx.fallbacks_for(models.planner, models, strong_role=models.variant[0] == "O"))
    result = await run_tool_loop(
        PLANNER, FittedToBudget(model, spend), request=request, call=CallInfo(ctx.call_context("plan"), ctx.budgets()),
        answer=answer, prompts=prompts, should_stop=ctx.cancelled,
    )
    if not result.finished:
        raise StageFailed(f"The planner did not call submit_plan within {PLANNER.max_turns} turns.")
    served = result.served_label(models.planner)
    fallback = "; ".join(result.fallback_notes) or None
    if fallback:
        fallback = f"{fallback}; the plan was written by {served}."
    return result.value, served, fallback
