"""``/fix``: one more commit on the pull request's branch, made by the implementer from feedback.

The implementer works on the pull request's whole change against the plan's base, so the
repository's ``max_files`` and ``max_changed_lines`` bound the pull request, not each
``/fix`` alone.  The branch is only ever fast-forwarded: when someone pushed to it while
the implementer worked, nothing is committed and the maintainer is told to ask again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import gidgethub

from bot.core.changes import changes_between
from bot.core.diff import unified_diff
from bot.core.paths import Refused
from bot.core.snapshot_diff import snapshot_changes
from bot.core.workspace import Workspace
from bot.github.gitdata import advance_branch, fetch_tree, ref_sha
from bot.stages.context import IssueContext
from bot.stages.errors import StageFailed
from bot.stages.implement import ci_guards, commit_against_tree, run_implementer

MAX_DIFF_CHARS_IN_PROMPT = 60_000
FIX_AGAIN = "Comment `/fix <feedback>` again to work on the new head of the branch."
NEXT_STEPS_HINT = ("Comment `/fix <hint>` here with what you know about the failure, or close the pull request "
                   "and `/revise <feedback>` the plan on the issue, or `/variant OO` there to let the strong model "
                   "implement it.")


class NothingToFix(StageFailed):
    """A CI fix round ended without a change: an empty commit would only run the same CI again."""

    hint = NEXT_STEPS_HINT


class BranchMoved(StageFailed):
    """Someone pushed to the pull request's branch while ``/fix`` was working; nothing was committed."""

    hint = FIX_AGAIN

    def __init__(self, *, branch: str, started_at: str, now_at: str | None) -> None:
        where = f"`{now_at[:7]}`" if now_at else "a commit route-me cannot see"
        super().__init__(
            f"The branch `{branch}` moved since `/fix` started: it was at `{started_at[:7]}` and is now "
            f"at {where}, so someone pushed to it meanwhile. route-me only fast-forwards the branch, "
            "so nothing was committed and no one's work was overwritten."
        )


@dataclass(frozen=True)
class FixCommit:
    """The commit a fix pushed and the paths it changed."""

    sha: str
    paths: tuple[str, ...]


async def run_fix(ctx: IssueContext, *, feedback: str, stage: str = "fix",
                  ci_round: tuple[int, int] | None = None) -> FixCommit:
    """One more commit on the pull request's branch, made by the implementer from ``feedback``.

    ``ci_round`` (round, rounds) makes it a CI fix round: ``feedback`` is then the failing
    checks' report and the implementer is told so (``prompts/implementer_ci.md``).
    """
    state = ctx.state
    assert state is not None and state.pr_number is not None and state.approved_version is not None
    version = ctx.plan_version(state.approved_version)
    if version is None:
        raise StageFailed(f"Plan v{state.approved_version} is not in the state store.")
    models = ctx.models(planned_paths=version.plan.planned_paths() if version.plan else None)
    api = ctx.api
    pull = await ctx.gh.getitem(f"{api}/pulls/{state.pr_number}")
    if pull.get("state") != "open":
        raise StageFailed(f"Pull request #{state.pr_number} is {pull.get('state')}; `/fix` only works on an open one.")
    branch, head_sha = pull["head"]["ref"], pull["head"]["sha"]
    base = await ctx.snapshot(version.base_sha)
    head = await ctx.snapshot(head_sha)
    base_tree = await fetch_tree(ctx.gh, api, version.base_sha)
    head_tree = await fetch_tree(ctx.gh, api, head_sha)
    committed = await asyncio.to_thread(snapshot_changes, base, head)
    # The tarballs differ where the commits do not (export-subst expands each commit's own id):
    # a file whose blob is the same in both trees is not part of the pull request's change.
    committed = [c for c in committed
                 if c.path not in base_tree.items or base_tree.items.get(c.path) != head_tree.items.get(c.path)]
    diff = unified_diff(committed)
    if len(diff) > MAX_DIFF_CHARS_IN_PROMPT:
        diff = diff[:MAX_DIFF_CHARS_IN_PROMPT] + "\n… (diff truncated; read the files for the rest)"
    if ci_round is None:
        extra = ctx.runtime.prompts.render("implementer_fix", current_diff=diff or "(no changes yet)",
                                           feedback=feedback)
    else:
        extra = ctx.runtime.prompts.render("implementer_ci", current_diff=diff or "(no changes yet)",
                                           ci_report=feedback, round=ci_round[0], rounds=ci_round[1])
    config = ctx.config
    deny, deny_edit = ci_guards(ctx, base)
    try:
        workspace = Workspace.from_changes(
            base, committed, deny=deny, deny_edit=deny_edit, tree=base_tree,
            max_files=config.max_files, max_changed_lines=config.max_changed_lines)
    except (ValueError, Refused) as exc:
        raise StageFailed(f"The pull request's change could not be loaded on top of the plan's base: {exc}") from exc
    implementation = await run_implementer(ctx, version=version, models=models, workspace=workspace,
                                           stage=stage, extra=extra, committed=committed)
    state.served[stage] = implementation.served
    added = changes_between(committed, implementation.changes)
    if not added and ci_round is not None:
        raise NothingToFix(f"CI fix round {ci_round[0]} of {ci_round[1]} changed nothing, so nothing was pushed. "
                           f"The implementer said: {implementation.summary.strip()[:1000] or '(nothing)'}")
    now_at = await ref_sha(ctx.gh, api, branch)
    if now_at != head_sha:
        raise BranchMoved(branch=branch, started_at=head_sha, now_at=now_at)
    what = (f"Fix failing CI on #{state.pr_number} (round {ci_round[0]} of {ci_round[1]})" if ci_round
            else f"Address review feedback on #{state.pr_number}")
    message = f"{what}\n\n{implementation.summary.strip()}\n"
    commit = await commit_against_tree(ctx, parent=head_sha, tree=head_tree, changes=added, message=message)
    try:
        await advance_branch(ctx.gh, api, branch=branch, sha=commit)
    except gidgethub.BadRequest as exc:
        # 422 "Update is not a fast forward": a push landed between the check and the update.
        if int(exc.status_code) != 422:
            raise
        now_at = await ref_sha(ctx.gh, api, branch)
        if now_at == head_sha:
            raise
        raise BranchMoved(branch=branch, started_at=head_sha, now_at=now_at) from exc
    state.head_sha = commit
    ctx.save_state()
    return FixCommit(sha=commit, paths=tuple(change.path for change in added))
