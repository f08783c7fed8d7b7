"""The workflow of one issue: what a label, an approval and a cancel start, and how a failure is reported.

Each `/command` is dispatched in `bot/stages/commands.py`; the meaning of "cancelled" is in
`bot/stages/state.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import gidgethub

from bot.core.archive import UnsafeArchive
from bot.core.changes import FileChange
from bot.core.markers import extract_plan_body
from bot.core.money import format_usd
from bot.core.plan import PlanVersion, plan_text
from bot.core.render import render_reply
from bot.core.render_plan import render_cancelled_reply, render_plan_progress
from bot.github.client import is_transient
from bot.github.tarball import TarballError
from bot.models.errors import (
    AllModelsFailed,
    AuthFailed,
    BudgetExceeded,
    ModelError,
    PriceUnknown,
    SpendLimited,
)
from bot.stages.context import IssueContext
from bot.stages.errors import FailureReported, StageCancelled, StageFailed
from bot.stages.implement import run_implement
from bot.stages.plan import run_plan, show_plan
from bot.stages.score import post_judged_review, run_judge
from bot.stages.state import IssueState

log = logging.getLogger(__name__)

RETRY = "Comment `/retry` to try again."


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """What to tell maintainers about ``exc``, and what they can do about it."""
    if isinstance(exc, BudgetExceeded):
        return (f"The next model call would exceed the {exc.budget_name}: it is estimated at "
                f"{format_usd(exc.estimated_usd)} and {format_usd(exc.remaining_usd)} is left. No call was made.",
                "Raise `budget_usd` in `.github/route-me.yml` (or the daily cap), then comment `/retry`.")
    if isinstance(exc, AuthFailed):
        return (f"The provider of `{exc.spec}` refused our credentials (HTTP {exc.status}).",
                "An operator must fix the API key; then comment `/retry`.")
    if isinstance(exc, SpendLimited):
        return (f"The provider of `{exc.spec}` reports a spend or credit limit (HTTP {exc.status}).",
                "An operator must raise the limit or add credit; then comment `/retry`.")
    if isinstance(exc, PriceUnknown):
        return (f"`{exc.spec}` has no known price, so the {exc.budget_name} cannot be enforced; no call was made.",
                "An operator must add its price to the `ROUTE_ME_PRICES` file (or choose a priced model);"
                " then comment `/retry`.")
    if isinstance(exc, AllModelsFailed):
        tried = "\n".join(f"- `{spec}`: {reason}" for spec, reason in exc.attempts)
        return f"Every model in the chain failed:\n{tried}", "Comment `/retry` later, or add `ROUTE_ME_FALLBACKS`."
    if isinstance(exc, ModelError):
        return f"`{exc.spec}` failed: {exc}", RETRY
    if isinstance(exc, UnsafeArchive):
        return f"The repository snapshot was refused as unsafe: {exc}", "Nothing was extracted or changed."
    if isinstance(exc, TarballError):
        return f"Could not download the repository snapshot: {exc}", RETRY
    if isinstance(exc, gidgethub.HTTPException):
        return f"GitHub answered {int(exc.status_code)}: {exc}", RETRY
    if isinstance(exc, StageFailed):
        return str(exc), exc.hint or RETRY
    return (f"An unexpected error stopped the stage ({type(exc).__name__}). The service log has the details.",
            RETRY)


async def guarded(ctx: IssueContext, stage: str, work: Callable[[], Awaitable[object]], *,
                  report_on: int | None = None) -> bool:
    """Run one stage; any failure becomes a comment.  Returns whether it succeeded.

    The comment goes on the issue, or on ``report_on`` (the pull request a command was
    typed on), so the maintainer reads the answer where they asked.  An unexpected error
    (a bug) still ends the job failed: it is raised again as ``FailureReported``, which
    tells the job runner the issue has had its answer.
    """
    try:
        await work()
    except StageCancelled:
        log.info("%s stage on %s#%s stopped: the issue was cancelled", stage, ctx.repo, ctx.number)
        return False
    except Exception as exc:
        what, hint = describe_failure(exc)
        log.warning("%s stage failed on %s#%s: %s", stage, ctx.repo, ctx.number, exc,
                    exc_info=not is_transient(exc))  # a network hiccup needs no traceback
        await ctx.report_failure(stage, what, hint=hint, number=report_on)
        if type(exc) is Exception or not isinstance(
            exc, (ModelError, StageFailed, gidgethub.HTTPException, TarballError, UnsafeArchive)
        ):
            # A bug: the job must end failed, and the runner must know the issue was told.
            raise FailureReported(stage, exc) from exc
        return False
    await ctx.resolve_failure(stage)
    return True


async def start_plan(ctx: IssueContext) -> None:
    """A trigger label: plan the issue unless a plan is already under way or done.

    A label recorded before the latest cancel (removed again while this job waited) is ignored.
    """
    state = ctx.load_state()
    if state is not None and state.state == "cancelled" and not ctx.came_after_cancel(state):
        log.info("%s#%s: the label (job %s) was removed again (job %s); ignored",
                 ctx.repo, ctx.number, ctx.job_id, state.cancelled_by_job)
        return
    if state is not None and state.state not in ("cancelled", "failed"):
        if state.state == "planning":
            # Only an interrupted job leaves "planning" behind (label jobs run one at a time
            # per issue), with or without its progress comment: plan again.
            log.info("resuming planning on %s#%s", ctx.repo, ctx.number)
        else:
            log.info("%s#%s already has a plan (state %s); label ignored", ctx.repo, ctx.number, state.state)
            return
    if state is None:
        state = IssueState(repo=ctx.repo, number=ctx.number)
    ctx.state = state
    state.state = "planning"
    if not ctx.save_state():
        return  # cancelled while this job checked the sender
    if await guarded(ctx, "plan", lambda: run_plan(ctx)) and not ctx.config.require_approval:
        await approve(ctx)


async def implement_and_score(ctx: IssueContext) -> None:
    made: list[list[FileChange] | None] = []

    async def implement() -> None:
        made.append(await run_implement(ctx))

    if await guarded(ctx, "implement", implement):
        await guarded(ctx, "judge", lambda: run_judge(ctx, changes=made[0]))
        await show_after_pull_request(ctx)


async def show_after_pull_request(ctx: IssueContext) -> None:
    """The plan comment once the pull request is open and judged (or the judge failed): one edit."""
    state = ctx.load_state()
    if state is None or state.pr_number is None or state.approved_version is None:
        return
    version = ctx.plan_version(state.approved_version)
    note = state.fallback_notes.get("implement")
    if version is not None:
        await show_plan(ctx, version, notes=(f"**Implementer fallback:** {note}",) if note else ())


async def approve(ctx: IssueContext, *, resumed: bool = False) -> None:
    """Implement the current plan version, once; ``resumed`` re-runs a job a restart interrupted."""
    state = ctx.state
    assert state is not None
    if resumed and state.state == "implementing" and state.approved_version is not None:
        log.info("resuming the implementation of %s#%s", ctx.repo, ctx.number)
        await implement_and_score(ctx)
        return
    if resumed and state.state == "scoring":
        await guarded(ctx, "judge", lambda: run_judge(ctx))
        return
    if resumed and state.state == "pr_open" and state.review_id is None and state.review_inputs:
        # Judged, then interrupted while posting the review: post (or find) it, no second judge call.
        await guarded(ctx, "judge", lambda: post_judged_review(ctx))
        return
    if state.pr_number is not None or state.state in ("implementing", "scoring"):
        log.info("%s#%s: approve ignored, already %s (PR %s)", ctx.repo, ctx.number, state.state, state.pr_number)
        return
    if state.state == "cancelled":
        await ctx.post_comment(render_cancelled_reply())
        return
    if state.version < 1 or state.state not in ("planned", "failed"):
        await ctx.post_comment(render_reply("approve", "route-me: there is no finished plan to approve yet."))
        return
    state.approved_version = state.version
    if not ctx.save_state():
        return  # a /cancel overtook this /approve: the cancel is the last word
    await implement_and_score(ctx)


async def cancel(ctx: IssueContext, *, reason: str) -> None:
    """Store "cancelled" with this job's id, and say so on the plan comment.

    The state is read again here, just before the write: this job may have waited on
    GitHub since it loaded it, and the cancel must neither undo a stage's later save nor
    be lost.  An issue with no state yet (its label job still checking the sender) gets a
    bare cancelled state; an issue cancelled already records the later cancel's id only.
    """
    stored = ctx.load_state()
    was = stored.state if stored is not None else None
    state = stored or IssueState(repo=ctx.repo, number=ctx.number)
    state.state = "cancelled"
    if ctx.job_id is not None:
        state.cancelled_by_job = max(state.cancelled_by_job or 0, ctx.job_id)
    ctx.state = state
    ctx.save_state()
    if was in (None, "cancelled"):
        return
    version = ctx.plan_version() if state.version else None
    if version is not None:
        await show_plan(ctx, version, notes=(f"Cancelled: {reason}",))
    elif state.plan_comment_id is not None:
        # No plan yet: the progress comment says so, keeping its marker to be found again.
        models = ctx.models()
        await ctx.edit_comment(state.plan_comment_id, render_plan_progress(
            state_line=f"cancelled ({reason})", issue_number=ctx.number, variant=models.variant,
            planner=models.planner, implementer=models.implementer, version=1,
            base_sha=state.base_sha, state="cancelled"))


async def pull_request_abandoned(ctx: IssueContext, *, pr_number: int) -> None:
    """The pull request was closed unmerged: the issue is back at its plan, ready for /approve."""
    state = ctx.state
    assert state is not None
    state.pr_number = state.branch = state.head_sha = state.review_id = state.branch_wanted = None
    state.approved_version = None
    state.review_inputs = None
    state.ci_failing, state.ci_tests, state.ci_round_log = [], [], []
    state.ci_rounds, state.ci_round_head, state.ci_phase = 0, None, None
    state.state = "planned"
    ctx.save_state()
    version = ctx.plan_version()
    if version is not None:
        await show_plan(ctx, version, notes=(f"Pull request #{pr_number} was closed without merging. "
                                             "Comment `/approve` to implement this plan again, or "
                                             "`/revise <feedback>` first.",))


async def new_human_version(ctx: IssueContext, *, text: str, login: str) -> None:
    """A maintainer's own plan (`/edit` or an edit of the plan comment) becomes the next version."""
    state = ctx.state
    assert state is not None
    version = PlanVersion(number=state.version + 1, plan=None, markdown=text.strip(), author=f"@{login}",
                          base_sha=state.base_sha or "", created_at=time.time())
    ctx.save_version(version)
    state.version = version.number
    if state.state in ("failed", "cancelled", "planning"):
        state.state = "planned"
    ctx.save_state()
    await show_plan(ctx, version)


async def plan_comment_edited(ctx: IssueContext, *, body: str, login: str) -> None:
    """The plan comment was edited by a maintainer: its plan text becomes a new version if it changed."""
    state = ctx.state
    assert state is not None
    edited = extract_plan_body(body)
    current = ctx.plan_version()
    if edited is None or current is None or edited.strip() == plan_text(current).strip():
        return
    if state.pr_number is not None:
        return  # the pull request exists; /fix on it is the way to change course
    await new_human_version(ctx, text=edited, login=login)
