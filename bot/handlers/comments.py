"""Comment events: maintainer commands on issues and pull requests, and edits of the plan comment."""

from __future__ import annotations

import logging
from typing import Any

import gidgethub
import gidgethub.routing
from gidgethub import sansio

from bot.core.commands import parse_commands, suggest, unknown_commands
from bot.core.markers import find_marker
from bot.core.render import render_unknown_command
from bot.github.client import GitHubClient
from bot.handlers.issues import load_config_or_report, load_config_quietly, maintainer_or_reply
from bot.services import Services
from bot.stages import flow
from bot.stages.commands import run_command
from bot.stages.context import IssueContext, context_from_payload
from bot.stages.runtime import known_trigger_label

log = logging.getLogger(__name__)
router = gidgethub.routing.Router()
# Commands that work with the default config when .github/route-me.yml is invalid.
CONFIG_FREE_COMMANDS = frozenset({"cancel", "help"})
# The reaction that says "seen, working on it" on a command's comment.
ACK_REACTION = "eyes"


def _is_bot(account: Any) -> bool:
    return isinstance(account, dict) and account.get("type") == "Bot"


@router.register("issue_comment", action="created")
async def comment_created(event: sansio.Event, gh: GitHubClient, *, services: Services, attempt: int = 1,
                          job_id: int | None = None, **_: Any) -> None:
    data = event.data
    comment = data["comment"]
    if _is_bot(comment.get("user")) or _is_bot(data.get("sender")):
        return
    body = comment.get("body") or ""
    commands, unknown = parse_commands(body), unknown_commands(body)
    if not commands and not unknown:
        return
    ctx = context_from_payload(services, gh, data, job_id=job_id)
    on_pull = bool(data["issue"].get("pull_request"))
    thread = ctx.number  # where replies go: the issue or the pull request commented on
    if on_pull:
        issue = services.store.issue_for_pull_request(ctx.repo, thread)
        if issue is None:
            return  # not a route-me pull request
        ctx.number = issue
        ctx.issue_title = ctx.issue_body = ""
    state = ctx.load_state()
    if state is None:
        # Not an issue route-me works on: `/lgtm`, `/retest` or "/tmp is full" are someone
        # else's business. Only /help is answered (and no permission is looked up otherwise),
        # and /cancel on a labelled issue: its label job may still be checking who added the
        # label, and the cancel it records stops that job from planning.
        trigger = known_trigger_label(services, ctx.repo)
        labelled = not on_pull and any(str(label.get("name", "")).lower() == trigger
                                       for label in data["issue"].get("labels") or ())
        commands = [c for c in commands if c.name == "help" or (c.name == "cancel" and labelled)]
        unknown = []
        if not commands:
            return
    login = (comment.get("user") or {}).get("login", "")
    if not await maintainer_or_reply(ctx, login, reply_to=thread):
        return
    if all(command.name in CONFIG_FREE_COMMANDS for command in commands) and not unknown:
        await load_config_quietly(ctx)  # a broken config must not stop /cancel
    elif not await load_config_or_report(ctx, label=None):
        return
    if commands:
        await acknowledge(ctx, int(comment["id"]))
    if on_pull and state is not None:
        await _load_issue_text(ctx)

    async def reply(text: str) -> None:
        await ctx.post_comment(text, number=thread)

    if unknown:  # one short reply per comment, however many unknown words it has
        await reply(render_unknown_command(unknown[0], suggest(unknown[0])))
    for command in commands:
        await run_command(ctx, command, where="pr" if on_pull else "issue", login=login, reply=reply,
                               resumed=attempt > 1)
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


@router.register("issue_comment", action="edited")
async def comment_edited(event: sansio.Event, gh: GitHubClient, *, services: Services, **_: Any) -> None:
    """A maintainer edited the plan comment: the edited plan becomes a new version."""
    data = event.data
    comment = data["comment"]
    if _is_bot(data.get("sender")) or not find_marker(comment.get("body"), "plan"):
        return
    ctx = context_from_payload(services, gh, data)
    state = ctx.load_state()
    if state is None or state.plan_comment_id != comment.get("id"):
        return
    login = (data.get("sender") or {}).get("login", "")
    if not await maintainer_or_reply(ctx, login, reply_to=ctx.number):
        return
    await flow.plan_comment_edited(ctx, body=comment.get("body") or "", login=login)
