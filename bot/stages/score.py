"""The judge stage: measured facts + the judge's seven scores → one COMMENT review, updated in place."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gidgethub

from bot.core.changes import FileChange
from bot.core.ci import record_suite, suite_outcome, worst_outcome
from bot.core.diff import unified_diff
from bot.core.facts import Facts, compute_facts, facts_for_prompt
from bot.core.markers import find_marker, make_marker
from bot.core.plan import PlanVersion, plan_text
from bot.core.plan_paths import planned_paths
from bot.core.render_ci import CIView
from bot.core.render_review import render_review
from bot.core.scorecard import (
    TOOL_NAME,
    Scorecard,
    accept_partial,
    check_scorecard,
)
from bot.core.secrets_scan import SecretHit
from bot.core.snapshot_diff import snapshot_changes
from bot.core.validate import syntax_status
from bot.github.gitdata import MAYBE_DONE
from bot.models.model import CallInfo
from bot.models.port import ModelSpec, ToolCall
from bot.stages.context import IssueContext
from bot.stages.errors import StageFailed
from bot.stages.loop import Answer, run_tool_loop
from bot.stages.roles import JUDGE
from bot.stages.runtime import stage_costs

log = logging.getLogger(__name__)

MAX_DIFF_CHARS = 120_000


async def current_changes(ctx: IssueContext, version: PlanVersion) -> tuple[list[FileChange], str]:
    """The pull request's change against the plan's base, read from the branch head."""
    assert ctx.state is not None and ctx.state.pr_number is not None
    pull = await ctx.gh.getitem(f"{ctx.api}/pulls/{ctx.state.pr_number}")
    head_sha = pull["head"]["sha"]
    base = await ctx.snapshot(version.base_sha)
    head = await ctx.snapshot(head_sha)
    return await asyncio.to_thread(snapshot_changes, base, head), head_sha


@dataclass(frozen=True)
class Judgement:
    """What the judge stage produced, before anything is posted."""

    scorecard: Scorecard | None
    facts: Facts
    judge_error: str | None
    last_submission: Any
    served: str
    fallback: str | None


async def judge_change(ctx: IssueContext, *, version: PlanVersion, changes: list[FileChange],
                       pr_number: int | None, ci: str | None = None,
                       ci_suites: Sequence[tuple[str, str]] = (), stage: str = "judge") -> Judgement:
    """Measure the facts of ``changes`` and have the judge score them (one retry on bad output)."""
    snapshot = await ctx.snapshot(version.base_sha)
    planned = planned_paths(version, exists=snapshot.has_file)
    facts = await asyncio.to_thread(lambda: compute_facts(
        snapshot=snapshot, changes=changes, planned_files=planned, syntax=syntax_status, ci=ci,
        ci_suites=ci_suites))
    models = ctx.models(planned_paths=planned)
    diff = unified_diff(changes)
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS] + "\n… (diff truncated)"
    prompts = ctx.runtime.prompts
    user = prompts.render(
        JUDGE.user_prompt, pr_number=pr_number if pr_number is not None else "(not opened)",
        issue_number=ctx.number, repo=ctx.repo, issue_title=ctx.issue_title,
        issue_body=ctx.issue_body or "(no description)", plan_version=version.number,
        plan=plan_text(version), facts=facts_for_prompt(facts), diff=diff,
    )
    attempts: list[Any] = []
    problems_seen: list[str] = []

    def answer(call: ToolCall) -> Answer:
        if call.name != TOOL_NAME:
            return Answer(f"error: unknown tool {call.name!r}; call {TOOL_NAME}", is_error=True)
        attempts.append(call.arguments)
        parsed, problems = check_scorecard(call.arguments)
        if parsed is not None:
            return Answer("Scorecard received.", done=True, value=accept_partial(call.arguments))
        problems_seen[:] = problems
        return Answer("error: the scorecard is invalid; fix these and call submit_scorecard again:\n- "
                      + "\n- ".join(problems), is_error=True)

    request = JUDGE.request(prompts, user=user, reasoning=ctx.role_reasoning(JUDGE.reasoning_key))
    model = ctx.runtime.models.model(ModelSpec.parse(models.judge),
                                     ctx.fallbacks_for(models.judge, models, strong_role=True))
    result = await run_tool_loop(JUDGE, model, request=request, call=CallInfo(ctx.call_context(stage), ctx.budgets()),
                                 answer=answer)
    judge_error = None
    if result.finished:
        scorecard: Scorecard | None = result.value
    else:
        # Two invalid answers: show the valid part honestly, never invent the rest.
        scorecard = accept_partial(attempts[-1]) if attempts else None
        judge_error = "; ".join(problems_seen) or "the judge did not call submit_scorecard"
    served = result.served_label(models.judge)
    fallback = "; ".join(result.fallback_notes) or None
    return Judgement(scorecard=scorecard, facts=facts, judge_error=judge_error,
                     last_submission=attempts[-1] if attempts else None, served=served,
                     fallback=f"{fallback}; scored by {served}." if fallback else None)


async def run_judge(ctx: IssueContext, *, changes: list[FileChange] | None = None) -> int:
    """Score the pull request and post (or update) the review; returns the review id."""
    state = ctx.state
    assert state is not None and state.pr_number is not None and state.approved_version is not None
    version = ctx.plan_version(state.approved_version)
    if version is None:
        raise StageFailed(f"Plan v{state.approved_version} is not in the state store.")
    if changes is None:
        changes, state.head_sha = await current_changes(ctx, version)
    state.state = "scoring"
    ctx.save_or_stop()  # cancelled meanwhile: no judge call, no review
    current_ci = state.ci_head is not None and state.ci_head == state.head_sha
    judged = await judge_change(ctx, version=version, changes=changes, pr_number=state.pr_number,
                                ci=state.ci if current_ci else None,
                                ci_suites=sorted(state.ci_suites.items()) if current_ci else ())
    state.served["judge"] = judged.served
    state.fallback_notes["judge"] = judged.fallback or ""
    state.review_inputs = {"scorecard": judged.last_submission, "judge_error": judged.judge_error,
                           "facts": dataclasses.asdict(judged.facts)}
    state.state = "pr_open"
    ctx.save_state()
    return await post_review(ctx, scorecard=judged.scorecard, facts=judged.facts,
                             judge_error=judged.judge_error)


def _scorecard_from_inputs(inputs: dict[str, Any]) -> Scorecard | None:
    return accept_partial(inputs["scorecard"]) if inputs.get("scorecard") is not None else None


def _facts_from_inputs(inputs: dict[str, Any], *, ci: str | None, ci_suites: Sequence[tuple[str, str]]) -> Facts:
    data = dict(inputs["facts"])
    for key in ("files_planned", "files_touched", "outside_plan", "planned_not_touched", "tests_changed"):
        data[key] = tuple(data[key])
    data["unknown_imports"] = tuple(tuple(pair) for pair in data["unknown_imports"])
    data["secrets"] = tuple(SecretHit(**hit) for hit in data["secrets"])
    data["ci"] = ci
    data["ci_suites"] = tuple(ci_suites)
    return Facts(**data)


async def post_review(ctx: IssueContext, *, scorecard: Scorecard | None, facts: Facts,
                      judge_error: str | None) -> int:
    """Create the bot's review, or update it in place when one exists."""
    state = ctx.state
    assert state is not None and state.pr_number is not None
    models = ctx.models()
    body = render_review(
        scorecard=scorecard, facts=facts, costs=stage_costs(ctx.services.store, ctx.repo, ctx.number),
        models={"plan": state.served.get("plan", models.planner),
                "implement": state.served.get("implement", models.implementer),
                "fix": state.served.get("fix", models.implementer),
                "judge": state.served.get("judge", models.judge)},
        marker=make_marker("review", {"issue": ctx.number, "pr": state.pr_number, "ci": facts.ci}),
        judge_error=judge_error, fallback_note=state.fallback_notes.get("judge") or None,
        ci_view=CIView.of(state, rounds=ctx.config.ci_fix_rounds),
    )
    reviews = f"{ctx.api}/pulls/{state.pr_number}/reviews"
    if state.review_id is not None and await _update_review(ctx, f"{reviews}/{state.review_id}", body):
        return state.review_id
    if state.review_id is not None or state.review_intent_pr == state.pr_number:
        # The stored id is stale (review gone), or an earlier attempt may have made the review
        # without recording it: our marker finds it.  A first review needs no look (one call less).
        found = await find_own_review(ctx, reviews, pr_number=state.pr_number)
        if found is not None and found != state.review_id and await _update_review(ctx, f"{reviews}/{found}", body):
            state.review_id = found
            ctx.save_state()
            return found
    state.review_intent_pr = state.pr_number
    ctx.save_state()  # the intent, before the call: a restart after it looks for the review first
    try:
        made = await ctx.gh.post(reviews, data={"body": body, "event": "COMMENT"})
        state.review_id, state.review_url = int(made["id"]), made.get("html_url")
    except MAYBE_DONE:
        # GitHub may have made the review and lost only the answer: a second POST would make
        # a second review, and reporting a failure would be false.  The marker tells.
        found = await find_own_review(ctx, reviews, pr_number=state.pr_number)
        if found is None:
            raise
        log.info("%s#%s: the review was made despite the error; found it", ctx.repo, ctx.number)
        state.review_id = found
    ctx.save_state()
    return state.review_id


async def post_judged_review(ctx: IssueContext) -> int:
    """Post the review of a judgement already stored (``review_inputs``): after a crash between
    the judge's answer and the review, the review is found or made without calling the judge again."""
    state = ctx.state
    assert state is not None and state.review_inputs is not None
    inputs = state.review_inputs
    current_ci = state.ci_head is not None and state.ci_head == state.head_sha
    facts = _facts_from_inputs(inputs, ci=state.ci if current_ci else None,
                               ci_suites=sorted(state.ci_suites.items()) if current_ci else ())
    return await post_review(ctx, scorecard=_scorecard_from_inputs(inputs), facts=facts,
                             judge_error=inputs.get("judge_error"))


async def _update_review(ctx: IssueContext, url: str, body: str) -> bool:
    """Edit a review's body; False when GitHub no longer has it (404) or refuses the edit (422)."""
    try:
        await ctx.gh.put(url, data={"body": body})
        return True
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) not in (404, 422):
            raise
        return False


async def find_own_review(ctx: IssueContext, reviews_url: str, *, pr_number: int) -> int | None:
    """The id of the latest review by a bot carrying our review marker for ``pr_number``."""
    found = None
    async for review in ctx.gh.getiter(reviews_url):
        if (review.get("user") or {}).get("type") != "Bot":
            continue  # anyone can paste a marker into their own review
        marker = find_marker(review.get("body"), "review")
        if marker is not None and marker.get("pr") == pr_number:
            found = int(review["id"])
    return found


async def record_ci(ctx: IssueContext, *, app: str, head_sha: str, status: str | None,
                    conclusion: str | None, render: bool = True) -> None:
    """A check suite of ``app`` reported: re-render the existing review with the CI outcome (no model call).

    Each app's suite is kept; the review shows the worst and names every app.
    """
    state = ctx.state
    assert state is not None
    state.ci_suites = record_suite(state.ci_suites, suites_head=state.ci_head, head_sha=head_sha, app=app,
                                   outcome=suite_outcome(status, conclusion))
    state.ci_head = head_sha
    state.ci = worst_outcome(state.ci_suites)
    ctx.save_state()
    if render:
        await rerender_review(ctx)


async def rerender_review(ctx: IssueContext) -> None:
    """Draw the existing review again from its stored inputs and the current CI state (no model call)."""
    state = ctx.state
    assert state is not None
    inputs = state.review_inputs
    if not inputs or state.review_id is None:
        return  # no scorecard yet: the judge will include the outcome when it runs
    facts = _facts_from_inputs(inputs, ci=state.ci, ci_suites=sorted(state.ci_suites.items()))
    await post_review(ctx, scorecard=_scorecard_from_inputs(inputs), facts=facts,
                      judge_error=inputs.get("judge_error"))
