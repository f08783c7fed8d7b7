"""Opening the pull request, and what happens when that fails or a cancel lands meanwhile.

Whatever happens, no branch is left without a pull request, and a pull request that
exists is recorded in the issue state.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from bot.core.plan import PlanVersion
from bot.github.gitdata import delete_branch, find_open_pull
from bot.stages.context import IssueContext
from bot.stages.errors import StageCancelled
from bot.stages.plan import show_plan

log = logging.getLogger(__name__)


async def drop_branch_after_cancel(ctx: IssueContext, branch: str) -> NoReturn:
    """A cancel landed before the pull request was opened: delete the branch and stop.

    A branch left behind would be taken by a later approval (of another plan version,
    perhaps) as "pushed, pull request still to open".
    """
    try:
        await delete_branch(ctx.gh, ctx.api, branch)
    except Exception:  # noqa: BLE001 - the cancel stands; the branch is only clutter
        log.exception("could not delete %s after the cancel of %s#%s", branch, ctx.repo, ctx.number)
    ctx.record_despite_cancel(branch=None, head_sha=None)
    raise StageCancelled()


async def keep_pull_after_cancel(ctx: IssueContext, version: PlanVersion, *, pr_number: int,
                                  branch: str, head: str) -> NoReturn:
    """A cancel landed while the pull request was being opened: remember it, say so, and stop.

    The state stays "cancelled", but it knows the pull request, so ``/fix`` on it is
    answered and closing it is handled; the judge does not run.
    """
    log.info("%s#%s was cancelled while #%s was opened; recording it", ctx.repo, ctx.number, pr_number)
    ctx.record_despite_cancel(pr_number=pr_number, branch=branch, head_sha=head)
    await show_plan(ctx, version, notes=(
        f"Cancelled while pull request #{pr_number} was being opened. The pull request stays open:"
        " close it if it is not wanted.",))
    raise StageCancelled()


async def pull_made_anyway(ctx: IssueContext, branch: str) -> dict[str, Any] | None:
    """After a failed pull-request call: the pull request GitHub opened anyway, if any.

    Otherwise the branch is deleted so no branch is left without a pull request (/retry
    starts the stage again).  When even looking fails, the branch is kept: deleting it could
    close a pull request that exists, and /retry completes a kept branch instead.
    """
    state, api = ctx.state, ctx.api
    assert state is not None
    try:
        existing = await find_open_pull(ctx.gh, api, owner=ctx.owner, branch=branch)
    except Exception:  # noqa: BLE001 - the original failure is what the job reports
        log.exception("could not look for a pull request from %s; keeping the branch", branch)
        return None
    if existing is not None:
        log.info("the pull request for %s was opened despite the error: #%s", branch, existing["number"])
        return existing
    log.warning("opening the pull request for %s#%s failed; deleting %s", ctx.repo, ctx.number, branch)
    try:
        await delete_branch(ctx.gh, api, branch)
        state.branch = state.head_sha = None
    except Exception:  # noqa: BLE001 - the retry path completes the branch instead
        log.exception("could not delete %s; /retry will open its pull request", branch)
    return None

