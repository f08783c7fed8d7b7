"""Pull request events: a route-me pull request closed without merging hands the issue back to its plan."""

from __future__ import annotations

from bot.handlers.common import Run
from bot.stages import flow


async def pull_request_closed(run: Run) -> None:
    pull = run.delivery.pull_request
    if pull is None or pull.number is None or pull.merged or run.linked_issue is None:
        return
    ctx = run.context(run.linked_issue, ordered=False)
    if ctx.load_state() is None or ctx.state is None or ctx.state.pr_number != pull.number:
        return
    await flow.pull_request_abandoned(ctx, pr_number=pull.number)
