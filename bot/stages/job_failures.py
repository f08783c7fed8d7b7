"""Failures of a whole job rather than of one stage: a job that failed before any stage began
(reading the config, checking permissions) and a job the worker gave up on after restarts.

The job runner (``bot/runner.py``) calls ``report_unhandled`` and ``report_abandoned``.  Each
ends in a comment where the maintainer acted: on the issue, or on the pull request a command
was typed on.  A job that concerns no route-me issue is only logged, so a hiccup on someone
else's label or pull request never becomes noise there.  Whether to answer, where, and with
which hint is decided purely from the job's intent and one lookup of the issue's state
(``answered_issue``, ``scene_of``, ``try_again_hint``, ``stage_of_job``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.commands import parse_commands
from bot.core.events import Delivery, Intent
from bot.core.render import render_job_failure
from bot.services import Services
from bot.stages.context import STAGE_OF_STATE, IssueContext, issue_context
from bot.stages.flow import describe_failure
from bot.stages.runtime import known_trigger_label

log = logging.getLogger(__name__)

# The stage a command runs (``/retry`` runs the stage that failed).
STAGE_OF_COMMAND = {"revise": "plan", "approve": "implement", "fix": "fix", "rescore": "judge"}


@dataclass(frozen=True)
class Scene:
    """Where a failed job is answered: its route-me ``issue``, the ``thread`` the maintainer
    acted on (the issue, or the pull request a command was typed on) and what they did."""

    issue: int
    thread: int
    action: str | None
    commands: tuple[str, ...] = ()
    label: str | None = None

    @property
    def on_pull_request(self) -> bool:
        return self.thread != self.issue


def answered_issue(intent: Intent, *, linked_issue: int | None) -> int | None:
    """The route-me issue a failed job concerns, or None when there is no thread to answer on
    (pull-request and CI jobs, a command on someone else's pull request)."""
    if intent.issue is None:
        return None
    if intent.on_pull_request:
        return linked_issue
    return intent.issue


def scene_of(intent: Intent, *, issue: int, tracked: bool, label: str | None, trigger_label: str) -> Scene | None:
    """Whether a failed job is route-me's to answer (``tracked``: route-me has state for
    ``issue``; ``label``: the label the delivery names), and where; the handlers ignore the
    same jobs."""
    if intent.thread is None:
        return None
    if intent.event == "issue_comment" and intent.action == "created":
        if not intent.commands or (not tracked and "help" not in intent.commands):
            return None
    elif intent.event == "issues" and intent.action in ("labeled", "unlabeled"):
        # The config may be what failed to load: the label it named a minute ago, or the default.
        if not tracked and (label or "").lower() != trigger_label:
            return None
    elif not tracked:
        return None
    return Scene(issue=issue, thread=intent.thread, action=intent.action, commands=intent.commands, label=label)


def try_again_hint(scene: Scene) -> str:
    """How the maintainer repeats what they did."""
    if scene.commands:
        names = ", ".join(f"`/{name}`" for name in dict.fromkeys(scene.commands))
        return f"Comment {names} again to try once more."
    if scene.action == "labeled":
        return f"Remove the `{scene.label or 'route-me'}` label and add it again to try once more."
    if scene.action == "edited":
        return "Edit the plan comment again to try once more."
    return "Try again in a few minutes; `/status` shows where the issue stands."


def stage_of_job(scene: Scene, *, state: str | None, failed_stage: str | None) -> str | None:
    """The stage the job was running: the one under way in the stored ``state``, else the one
    its command starts; None for a cancel, /status, /help and the like."""
    if state is None:
        return None
    if scene.action in ("unlabeled", "closed", "edited"):
        return None  # a cancel or a maintainer's plan edit, not a stage
    under_way = STAGE_OF_STATE.get(state)
    if under_way is not None:
        return under_way
    for name in scene.commands:
        if name == "retry" and state == "failed":
            return failed_stage
        if name in STAGE_OF_COMMAND:
            return STAGE_OF_COMMAND[name]
    return None


def _load_scene(services: Services, intent: Intent, delivery: Delivery, *,
                linked_issue: int | None) -> tuple[IssueContext, Scene] | None:
    """The failed job's issue, its state loaded (the one lookup), and where to answer; None
    when the job is not route-me's to answer."""
    issue = answered_issue(intent, linked_issue=linked_issue)
    if issue is None or delivery.repository is None or delivery.repository.owner is None \
            or delivery.installation is None:
        return None
    # A client of its own: the job's client says whether the job changed anything.
    ctx = issue_context(services, services.installation_client(delivery.installation.id), delivery, number=issue)
    state = ctx.load_state()
    scene = scene_of(intent, issue=issue, tracked=state is not None,
                     label=delivery.label.name if delivery.label else None,
                     trigger_label=known_trigger_label(services, intent.repo))
    return (ctx, scene) if scene is not None else None


async def report_abandoned(services: Services, intent: Intent, delivery: Delivery, *, linked_issue: int | None,
                           what: str) -> None:
    """Tell the maintainers about a job the worker gave up on (``what`` says why), typically
    one interrupted too often to trust another automatic run.

    When the job ran a stage, the issue is marked failed at that stage so `/retry` resumes
    it; the comment goes where the command was typed.
    """
    found = _load_scene(services, intent, delivery, linked_issue=linked_issue)
    if found is None:
        log.warning("abandoned job (%s) concerns no route-me issue; nobody told", intent.event)
        return
    ctx, scene = found
    state = ctx.state
    stage = stage_of_job(scene, state=state.state if state else None,
                         failed_stage=state.failed_stage if state else None)
    if stage is None or state is None:
        await ctx.post_comment(render_job_failure(what=what, hint=try_again_hint(scene)), number=scene.thread)
        return
    if "fix" in scene.commands and delivery.comment is not None:
        fix = next((c for c in parse_commands(delivery.comment.body) if c.name == "fix" and c.text), None)
        if fix is not None:
            state.pending_feedback = fix.text  # what `/retry` will send to the fix stage
    await ctx.report_failure(stage, what, number=scene.thread if scene.on_pull_request else None)


async def report_unhandled(services: Services, intent: Intent, delivery: Delivery, *, linked_issue: int | None,
                           exc: Exception) -> None:
    """A job failed outside any stage's own reporting: say what failed and how to try again.

    The issue's state is left alone: no stage ran, so there is nothing for `/retry` to redo.
    """
    found = _load_scene(services, intent, delivery, linked_issue=linked_issue)
    if found is None:
        return
    ctx, scene = found
    what, _ = describe_failure(exc)
    await ctx.post_comment(render_job_failure(what=what, hint=try_again_hint(scene)), number=scene.thread)
