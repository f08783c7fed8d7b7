"""CI fix rounds: when the pull request's checks fail, the implementer pushes one commit from what CI said.

Any CI report on the pull request's head (a check suite, a check run, a commit status)
leads here.  The whole picture is read from GitHub (every check run and status of the
head): while anything still runs, nothing is done; once all are done and something failed,
the failing checks' output, annotations and trimmed Actions log go to the implementer on
the same branch, which pushes exactly one commit (``bot/stages/fix.py``).  At most
``ci_fix_rounds`` rounds per pull request, one per head commit, within ``budget_usd`` (the
model calls count against it as every stage's do); each round is its own ledger stage
(``ci_fix``).  When the rounds are spent, the pull request gets one comment saying so and
what can help.  ``ci_fix_rounds: 0`` records the failure in the review and calls no model.
"""

from __future__ import annotations

import logging

from bot.core.ci_report import render_ci_report
from bot.core.plan_paths import planned_paths
from bot.core.render_ci import CIView, render_rounds_spent
from bot.github.ci_reads import CIPicture, failing_checks, read_ci
from bot.stages.context import IssueContext
from bot.stages.fix import run_fix
from bot.stages.flow import guarded
from bot.stages.plan import refresh_checklist
from bot.stages.score import record_ci, rerender_review

log = logging.getLogger(__name__)

STAGE = "ci_fix"


async def ci_reported(ctx: IssueContext, *, head_sha: str,
                      suite: tuple[str, str | None, str | None] | None = None) -> None:
    """CI reported on ``head_sha``; ``suite`` is (app, status, conclusion) when a check suite did."""
    state = ctx.state
    if state is None or state.pr_number is None or state.state == "cancelled":
        return
    if state.head_sha is not None and state.head_sha != head_sha:
        return  # CI of an older commit; the newer one will report
    if suite is not None:
        app, status, conclusion = suite
        await record_ci(ctx, app=app, head_sha=head_sha, status=status, conclusion=conclusion, render=False)
    picture = await read_ci(ctx.gh, ctx.api, head_sha)
    _record_picture(ctx, picture)
    if picture.pending or not picture.failed or state.ci_round_head == head_sha:
        # Still running, green, or this head's failure was answered already (another
        # suite or status of the same commit reporting later).
        if not picture.failed and state.ci_phase in ("running", "pushed") and not picture.pending:
            state.ci_phase = "passed"
        ctx.save_state()
        await rerender_review(ctx)
        await refresh_checklist(ctx)
        return
    limit = ctx.config.ci_fix_rounds
    state.ci_round_head = head_sha
    if limit == 0 or state.ci_rounds >= limit:
        state.ci_phase = "off" if limit == 0 else "exhausted"
        ctx.save_state()
        await rerender_review(ctx)
        await refresh_checklist(ctx)
        if limit > 0:
            view = CIView.of(state, rounds=limit)
            await ctx.post_comment(render_rounds_spent(view, issue_number=ctx.number, head_sha=head_sha),
                                   number=state.pr_number)
        return
    await run_round(ctx, picture=picture, limit=limit)


def _record_picture(ctx: IssueContext, picture: CIPicture) -> None:
    """The head's overall CI and its failing checks, as the review's verdict shows them."""
    state = ctx.state
    assert state is not None
    if picture.reported == 0:
        return  # nothing readable (e.g. suites without runs): keep what the suites said
    state.ci_head = picture.sha
    state.ci = "in_progress" if picture.pending else "failure" if picture.failed else "success"
    state.ci_failing = ([[str(run.get("name")), run.get("html_url")] for run in picture.failing_runs]
                        + [[str(s.get("context")), s.get("target_url")] for s in picture.failing_statuses])
    if not picture.failed:
        state.ci_tests = []


async def run_round(ctx: IssueContext, *, picture: CIPicture, limit: int) -> None:
    """One fix round: read why CI failed, have the implementer push one commit, show it in the review."""
    state = ctx.state
    assert state is not None and state.pr_number is not None
    checks = await failing_checks(ctx.gh, ctx.api, picture)
    state.ci_tests = list(dict.fromkeys(t for check in checks for t in check.tests))
    state.ci_rounds += 1
    state.ci_phase = "running"
    round_number = state.ci_rounds
    ctx.save_state()
    await rerender_review(ctx)
    await refresh_checklist(ctx)
    log.info("%s#%s: CI fix round %s of %s on %s", ctx.repo, ctx.number, round_number, limit, picture.sha[:7])
    report = render_ci_report(checks)
    pushed = []

    async def work() -> None:
        pushed.append(await run_fix(ctx, feedback=report, stage=STAGE, ci_round=(round_number, limit)))

    if not await guarded(ctx, STAGE, work, report_on=state.pr_number):
        state = ctx.load_state()
        if state is not None and state.state != "cancelled":
            state.ci_phase = "exhausted" if state.ci_rounds >= limit else None
            ctx.save_state()
            await rerender_review(ctx)
            await refresh_checklist(ctx)
        return
    commit = pushed[0]
    version = ctx.plan_version(state.approved_version)
    planned: list[str] = []
    if version is not None:
        snapshot = await ctx.snapshot(version.base_sha)
        planned = planned_paths(version, exists=snapshot.has_file)
    state.ci_round_log.append({
        "round": round_number, "commit": commit.sha, "files": list(commit.paths),
        "outside_plan": [p for p in commit.paths if planned and p not in planned]})
    # The new head has no CI yet: what the verdict shows is the wait for it.
    state.ci, state.ci_head, state.ci_suites, state.ci_failing, state.ci_tests = None, None, {}, [], []
    state.ci_phase = "pushed"
    if state.state == "failed" and state.failed_stage == STAGE:
        state.state, state.failed_stage = "pr_open", None
    ctx.save_state()
    await rerender_review(ctx)
    await refresh_checklist(ctx)
