"""Comment events: maintainer commands on issues and pull requests, and edits of the plan comment."""

from __future__ import annotations

import logging

import gidgethub

from bot.core.commands import parse_commands, suggest, unknown_commands
from bot.core.markers import find_marker
from bot.core.render import render_unknown_command
from bot.handlers.common import Run
from bot.handlers.issues import load_config_or_report, load_config_quietly, maintainer_or_reply
from bot.stages import flow
from bot.stages.commands import run_command
from bot.stages.context import IssueContext
from bot.stages.runtime import known_trigger_label

log = logging.getLogger(__name__)
# Commands that work with the default config when .github/route-me.yml is invalid.
CONFIG_FREE_COMMANDS = frozenset({"cancel", "help"})
# The reaction that says "seen, working on it" on a command's comment.
ACK_REACTION = "eyes"


async def comment_created(run: Run) -> None:
    """A maintainer's commands, on an issue or on a route-me pull request (a bot's comment,
    or one with no command line, never became a job)."""
    issue, comment = run.delivery.issue, run.delivery.comment
    if issue is None or issue.number is None or comment is None:
        return
    body = comment.body or ""
    commands, unknown = parse_commands(body), unknown_commands(body)
    if not commands and not unknown:
        return
    on_pull = run.intent.on_pull_request
    thread = issue.number  # where replies go: the issue or the pull request commented on
    if on_pull and run.linked_issue is None:
        return  # not a route-me pull request
    ctx = run.context(run.linked_issue if on_pull and run.linked_issue is not None else thread)
    state = ctx.load_state()
    if state is None:
        # Not an issue route-me works on: `/lgtm`, `/retest` or "/tmp is full" are someone
        # else's business. Only /help is answered (and no permission is looked up otherwise),
        # and /cancel on a labelled issue: its label job may still be checking who added the
        # label, and the cancel it records stops that job from planning.
        trigger = known_trigger_label(run.services, ctx.repo)
        labelled = not on_pull and any((label.name or "").lower() == trigger for label in issue.labels)
        commands = [c for c in commands if c.name == "help" or (c.name == "cancel" and labelled)]
        unknown = []
        if not commands:
            return
    login = comment.user.login if comment.user else ""
    if not await maintainer_or_reply(ctx, login, reply_to=thread):
        return
    if all(command.name in CONFIG_FREE_COMMANDS for command in commands) and not unknown:
        await load_config_quietly(ctx)  # a broken config must not stop /cancel
    elif not await load_config_or_report(ctx, label=None):
        return
    if commands and comment.id is not None:
        await acknowledge(ctx, comment.id)
    if on_pull and state is not None:
        await _load_issue_text(ctx)

    async def reply(text: str) -> None:
        await ctx.post_comment(text, number=thread)

    if unknown:  # one short reply per comment, however many unknown words it has
        await reply(render_unknown_command(unknown[0], suggest(unknown[0])))
    for command in commands:
        await run_command(ctx, command, where="pr" if on_pull else "issue", login=login, reply=reply,
                          resumed=run.attempt > 1)
        ctx.load_state()


async def acknowledge(ctx: IssueContext, comment_id: int) -> None:
    """A reaction on the command's comment, at once: the maintainer sees it was taken before any work.

    GitHub answers 200 for a reaction that already exists, so a resumed job adds none twice.
    A refused reaction is logged; it must not stop the command itself.
    """
    try:
        await ctx.gh.post(f"{ctx.api}/issues/comments/{comment_id}/reactions", data={"content": ACK_REACTION})
    except gidgethub.HTTPException as exc:
        log.warning("could not acknowledge comment %s on %s: %s", comment_id, ctx.repo, exc)


async def _load_issue_text(ctx: IssueContext) -> None:
    """A command on the pull request needs the original issue's text for the models."""
    issue = await ctx.gh.getitem(f"{ctx.api}/issues/{ctx.number}")
    ctx.issue_title, ctx.issue_body = issue.get("title") or "", issue.get("body") or ""


async def comment_edited(run: Run) -> None:
    """A maintainer edited the plan comment: the edited plan becomes a new version."""
    delivery, issue, comment = run.delivery, run.delivery.issue, run.delivery.comment
    if issue is None or issue.number is None or comment is None or not find_marker(comment.body, "plan"):
        return
    ctx = run.context(issue.number, ordered=False)
    state = ctx.load_state()
    if state is None or state.plan_comment_id != comment.id:
        return
    login = delivery.sender.login if delivery.sender else ""
    if not await maintainer_or_reply(ctx, login, reply_to=ctx.number):
        return
    await flow.plan_comment_edited(ctx, body=comment.body or "", login=login)
