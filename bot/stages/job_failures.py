"""Failures of a whole job rather than of one stage: a job that failed before any stage began
(reading the config, checking permissions) and a job the worker gave up on after restarts.

Each ends in a comment where the maintainer acted: on the issue, or on the pull request a
command was typed on.  A job that concerns no route-me issue is only logged, so a hiccup on
someone else's label or pull request never becomes noise there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.core.commands import Command, parse_commands
from bot.core.json_body import parse_json
from bot.core.render import render_job_failure
from bot.services import Services
from bot.stages.context import STAGE_OF_STATE, IssueContext, context_from_payload
from bot.stages.flow import describe_failure
from bot.stages.runtime import known_trigger_label
from bot.store import Job

log = logging.getLogger(__name__)

# The stage a command runs (``/retry`` runs the stage that failed).
STAGE_OF_COMMAND = {"revise": "plan", "approve": "implement", "fix": "fix", "rescore": "judge"}


@dataclass
class JobScene:
    """Where a job happened: its issue (``ctx.number``, state loaded) and the thread to answer on."""

    ctx: IssueContext
    thread: int
    payload: dict[str, Any]
    commands: list[Command]

    @property
    def on_pull_request(self) -> bool:
        return self.thread != self.ctx.number


def job_scene(services: Services, job: Job) -> JobScene | None:
    """The issue a job concerns, when route-me works on it (or is being asked to start)."""
    payload = parse_json(job.payload)
    issue = payload.get("issue")
    if job.installation_id is None or not isinstance(issue, dict) or not isinstance(issue.get("number"), int):
        return None  # pull_request and check_suite jobs: no thread to answer on
    ctx = context_from_payload(services, services.installation_client(job.installation_id), payload)
    thread = ctx.number
    if issue.get("pull_request"):
        linked = services.store.issue_for_pull_request(ctx.repo, thread)
        if linked is None:
            return None  # not a route-me pull request
        ctx.number = linked
    state = ctx.load_state()
    action = payload.get("action")
    commands: list[Command] = []
    if job.event == "issue_comment" and action == "created":
        commands = parse_commands((payload.get("comment") or {}).get("body"))
        if not commands or (state is None and all(c.name != "help" for c in commands)):
            return None  # the handler would have ignored it too
    elif job.event == "issues" and action in ("labeled", "unlabeled"):
        if state is None and not _is_trigger_label(services, ctx.repo, payload):
            return None
    elif state is None:
        return None
    return JobScene(ctx=ctx, thread=thread, payload=payload, commands=commands)


def _is_trigger_label(services: Services, repo: str, payload: dict[str, Any]) -> bool:
    # The config may be what failed to load: the label it named a minute ago, or the default.
    return str((payload.get("label") or {}).get("name", "")).lower() == known_trigger_label(services, repo)


def try_again_hint(scene: JobScene) -> str:
    """How the maintainer repeats what they did."""
    if scene.commands:
        names = ", ".join(f"`/{name}`" for name in dict.fromkeys(c.name for c in scene.commands))
        return f"Comment {names} again to try once more."
    if scene.payload.get("action") == "labeled":
        label = str((scene.payload.get("label") or {}).get("name", "route-me"))
        return f"Remove the `{label}` label and add it again to try once more."
    if scene.payload.get("action") == "edited":
        return "Edit the plan comment again to try once more."
    return "Try again in a few minutes; `/status` shows where the issue stands."


def stage_of_job(scene: JobScene) -> str | None:
    """The stage the job was running: the one under way in the stored state, else the one its
    command starts; None for a cancel, /status, /help and the like."""
    state = scene.ctx.state
    if state is None:
        return None
    action = scene.payload.get("action")
    if action in ("unlabeled", "closed", "edited"):
        return None  # a cancel or a maintainer's plan edit, not a stage
    under_way = STAGE_OF_STATE.get(state.state)
    if under_way is not None:
        return under_way
    for command in scene.commands:
        if command.name == "retry" and state.state == "failed":
            return state.failed_stage
        if command.name in STAGE_OF_COMMAND:
            return STAGE_OF_COMMAND[command.name]
    return None


async def report_abandoned(services: Services, job: Job, *, what: str) -> None:
    """Tell the maintainers about a job the worker gave up on (``what`` says why), typically
    one interrupted too often to trust another automatic run.

    When the job ran a stage, the issue is marked failed at that stage so `/retry` resumes
    it; the comment goes where the command was typed.
    """
    scene = job_scene(services, job)
    if scene is None:
        log.warning("abandoned job %s (%s) concerns no route-me issue; nobody told", job.id, job.event)
        return
    ctx, state = scene.ctx, scene.ctx.state
    stage = stage_of_job(scene)
    if stage is None or state is None:
        await ctx.post_comment(render_job_failure(what=what, hint=try_again_hint(scene)),
                               number=scene.thread)
        return
    fix = next((c for c in scene.commands if c.name == "fix" and c.text), None)
    if fix is not None:
        state.pending_feedback = fix.text  # what `/retry` will send to the fix stage
    await ctx.report_failure(stage, what, number=scene.thread if scene.on_pull_request else None)


async def report_unhandled(services: Services, job: Job, exc: Exception) -> None:
    """A job failed outside any stage's own reporting: say what failed and how to try again.

    The issue's state is left alone: no stage ran, so there is nothing for `/retry` to redo.
    """
    scene = job_scene(services, job)
    if scene is None:
        return
    what, _ = describe_failure(exc)
    await scene.ctx.post_comment(render_job_failure(what=what, hint=try_again_hint(scene)), number=scene.thread)
