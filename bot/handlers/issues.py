"""Issue events: the trigger label starts planning; removing it or closing the issue cancels."""

from __future__ import annotations

import logging

import yaml

from bot.core.events import IssueRef
from bot.core.render import render_config_error, render_not_allowed
from bot.core.repo_config import ConfigError, RepoConfig
from bot.handlers.common import Run
from bot.stages import flow
from bot.stages.context import IssueContext
from bot.stages.runtime import runtime

log = logging.getLogger(__name__)


def _declared_label(text: str | None) -> str | None:
    """The `label` an invalid config file asks for, when it can still be read."""
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return None
    label = data.get("label") if isinstance(data, dict) else None
    return label if isinstance(label, str) else None


async def load_config_or_report(ctx: IssueContext, *, label: str | None) -> bool:
    """Load the repo config; when invalid, say so once (if the event concerns us) and stop."""
    try:
        await ctx.load_config()
        return True
    except ConfigError as exc:
        ours = label is None or label.lower() in ("route-me", (_declared_label(ctx.config_text) or "").lower())
        log.info("invalid .github/route-me.yml in %s: %s", ctx.repo, exc.errors)
        if ours:
            await ctx.post_comment(render_config_error(exc.errors))
        return False


async def maintainer_or_reply(ctx: IssueContext, login: str, *, reply_to: int,
                              action: str = "run route-me commands") -> bool:
    """Whether ``login`` may run commands; an outsider gets one polite reply per issue."""
    if await runtime(ctx.services).permissions.is_maintainer(ctx.gh, repo=ctx.repo, login=login):
        return True
    state = ctx.state
    if state is not None and login.lower() not in state.replied_outsiders:
        state.replied_outsiders.append(login.lower())
        ctx.save_state()
        await ctx.post_comment(render_not_allowed(login, action=action), number=reply_to)
    log.info("%s may not run commands on %s", login, ctx.repo)
    return False


async def load_config_quietly(ctx: IssueContext) -> bool:
    """Load the repo config; when invalid, keep the defaults and say nothing (e.g. for /cancel)."""
    try:
        await ctx.load_config()
        return True
    except ConfigError as exc:
        log.info("invalid .github/route-me.yml in %s (ignored here): %s", ctx.repo, exc.errors)
        return False


async def trigger_label(ctx: IssueContext) -> str:
    """The repo's trigger label (lower case), even when the config file is invalid."""
    if await load_config_quietly(ctx):
        return ctx.config.label.lower()
    return (_declared_label(ctx.config_text) or RepoConfig().label).lower()


async def is_trigger_label(ctx: IssueContext, label: str) -> bool:
    return label.lower() == await trigger_label(ctx)


async def issue_labeled(run: Run) -> None:
    """A maintainer's trigger label starts planning (a bot's label never became a job)."""
    delivery, issue = run.delivery, run.delivery.issue
    if issue is None or issue.number is None or issue.pull_request:
        return
    label = (delivery.label.name if delivery.label else None) or ""
    ctx = run.context(issue.number)
    if not await load_config_or_report(ctx, label=label):
        return
    if label.lower() != ctx.config.label.lower():
        return
    # The label starts a paid strong-model run, so it counts only from a maintainer, not from
    # someone with triage rights.
    login = delivery.sender.login if delivery.sender else ""
    ctx.load_state()
    if not await maintainer_or_reply(ctx, login, reply_to=ctx.number,
                                     action="start route-me by adding its label"):
        return
    await flow.start_plan(ctx)


async def issue_unlabeled_or_closed(run: Run) -> None:
    """Removing the trigger label or closing a labelled issue cancels.

    The cancel is recorded even when the issue has no state yet or is cancelled already:
    a label job that is still waiting (on its permission check, or parked behind another
    job) must learn that the label was removed after it was added.
    """
    delivery, issue = run.delivery, run.delivery.issue
    if issue is None or issue.number is None:
        return
    ctx = run.context(issue.number)
    state = ctx.load_state()
    if run.intent.action == "unlabeled":
        label = (delivery.label.name if delivery.label else None) or ""
        # Removing a label never reports a config error: only the trigger label cancels.
        if not await is_trigger_label(ctx, label):
            return
        reason = "the label was removed"
    else:
        if state is not None and state.pr_number is not None:
            return  # closed by the merged pull request: nothing to stop
        if state is None and not await _carries_trigger_label(ctx, issue):
            return  # an issue route-me never saw
        reason = "the issue was closed"
    await flow.cancel(ctx, reason=reason)


async def _carries_trigger_label(ctx: IssueContext, issue: IssueRef) -> bool:
    names = {(label.name or "").lower() for label in issue.labels}
    return bool(names) and await trigger_label(ctx) in names
