"""CI events on a route-me pull request: check suites, check runs and commit statuses.

Each one leads to ``bot/stages/ci_fix.py``, which reads the head commit's whole CI picture,
shows it in the review and, when everything is done and something failed, runs a fix round.
"""

from __future__ import annotations

from bot.core.events import App, CheckRun, CheckSuite
from bot.core.repo_config import ConfigError
from bot.handlers.common import Run
from bot.stages import ci_fix


async def _reported(run: Run, *, head_sha: str, suite: tuple[str, str | None, str | None] | None = None) -> None:
    if run.linked_issue is None:
        return  # no route-me pull request or branch
    ctx = run.context(run.linked_issue, ordered=False)
    if ctx.load_state() is None:
        return
    try:
        await ctx.load_config()
    except ConfigError:
        return  # the invalid file was reported when it was read for a command; no model call now
    await ci_fix.ci_reported(ctx, head_sha=head_sha, suite=suite)


async def check_suite_completed(run: Run) -> None:
    suite = run.delivery.check_suite or CheckSuite()
    app = suite.app or App()
    await _reported(run, head_sha=str(suite.head_sha),
                    suite=(app.name or app.slug or "an unnamed app", suite.status, suite.conclusion))


async def check_run_completed(run: Run) -> None:
    await _reported(run, head_sha=str((run.delivery.check_run or CheckRun()).head_sha))


async def status_reported(run: Run) -> None:
    await _reported(run, head_sha=str(run.delivery.sha))
