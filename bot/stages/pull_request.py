"""Opening the pull request, and what happens when that fails.

Whatever happens, no branch is left without a pull request.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.github.gitdata import delete_branch, find_open_pull
from bot.stages.context import IssueContext

log = logging.getLogger(__name__)


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

