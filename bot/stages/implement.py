"""The implement stage: the approved plan → implementer tool loop → validated change → branch and pull request.

``/fix`` (``bot/stages/fix.py``) runs the same loop to push one more commit.  Nothing from the repository is executed: the implementer only has file
tools over an in-memory overlay of the snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.core.changes import FileChange
from bot.core.ci_paths import ci_executed_in
from bot.core.costs import PriceTable
from bot.core.git_tree import GitTree, change_problems
from bot.core.implementer_tools import ToolExecutor
from bot.core.plan import PlanVersion, plan_text
from bot.core.plan_paths import planned_paths
from bot.core.preload import PRELOAD_TOKEN_BUDGET, PreloadChoice, choose_preloads, render_preloads
from bot.core.render import render_pr_body
from bot.core.repo_config import is_path_denied
from bot.core.snapshot import Snapshot
from bot.core.validate import make_validator
from bot.core.workspace import EditDeny, Workspace
from bot.github.gitdata import complete_tree, create_branch, create_commit, fetch_tree, open_pull_request
from bot.models.model import CallInfo
from bot.models.port import Message, ModelSpec, ToolCall
from bot.stages.advice import TOOL_NAME as ADVISOR_TOOL
from bot.stages.advice import Advisor, advisor_tool
from bot.stages.context import IssueContext, Models
from bot.stages.errors import StageCancelled, StageFailed
from bot.stages.history import TrimPolicy, trim_history, trim_pays
from bot.stages.loop import Answer, LoopResult, run_tool_loop
from bot.stages.plan import progress_body
from bot.stages.pull_request import drop_branch_after_cancel, keep_pull_after_cancel, pull_made_anyway
from bot.stages.rereads import PreloadedRereads
from bot.stages.roles import IMPLEMENTER
from bot.stages.runtime import stage_costs

log = logging.getLogger(__name__)

MAX_TOKENS_PER_RUN = 3_000_000  # a hard stop on runaway loops, whatever the price
PROGRESS_EVERY_SECONDS = 20.0
# Old and superseded read results are stubbed once the history passes ~24k tokens and ~8k can
# go: re-sent history stays bounded, and trims are rare enough that most turns hit the cache.
# Only for models whose cache prices make a trim pay (bot/stages/history.py: trim_pays).
HISTORY_TRIM = TrimPolicy(keep_recent_turns=4, trigger_tokens=24_000, min_savings_tokens=8_000)


class TurnLimitReached(StageFailed):
    """The implementer used all its turns; what helps depends on why, so all three ways are named."""

    def __init__(self, message: str, *, max_turns: int) -> None:
        super().__init__(message)
        self.hint = (f"What would help: raise `max_turns` in `.github/route-me.yml` (now {max_turns}) if it was "
                     "close, `/variant OO` to let the strong model implement, or a more specific "
                     "`/revise <feedback>` if the plan left it searching; then comment `/retry`.")


@dataclass(frozen=True)
class Implementation:
    changes: list[FileChange]
    summary: str
    served: str
    fallback: str | None
    turns: int


def make_workspace(ctx: IssueContext, snapshot: Snapshot, *, tree: GitTree | None = None) -> Workspace:
    """The implementer's workspace: the repository's path policy, what CI runs, its limits.

    ``tree`` is the base commit's real tree: paths the snapshot lacks or rewrote are refused.
    """
    config = ctx.config
    deny, deny_edit = ci_guards(ctx, snapshot)
    return Workspace(snapshot, deny=deny, deny_edit=deny_edit, tree=tree,
                     max_files=config.max_files, max_changed_lines=config.max_changed_lines)


def ci_guards(ctx: IssueContext, snapshot: Snapshot) -> tuple[Callable[[str], str | None], EditDeny]:
    """The workspace's two refusals, from one parse of the workflows: paths (``is_path_denied``
    and the files CI runs) and edits that change a package script or make target CI runs."""
    config = ctx.config
    executed = ci_executed_in(snapshot)

    def deny(path: str) -> str | None:
        return is_path_denied(config, path) or executed.denial(path, allowed_paths=config.allowed_paths)

    def deny_edit(path: str, old: str | None, new: str | None) -> str | None:
        return executed.edit_denial(path, old, new, allowed_paths=config.allowed_paths)

    return deny, deny_edit


async def commit_against_tree(ctx: IssueContext, *, parent: str, tree: GitTree,
                              changes: Sequence[FileChange], message: str) -> str:
    """One commit of ``changes`` on ``parent`` whose tree is ``tree`` plus only those changes.

    The change is checked against the real tree first (a truncated listing is completed for
    the paths it touches): a path the snapshot did not hold as committed is never overwritten.
    """
    tree = await complete_tree(ctx.gh, ctx.api, tree, [change.path for change in changes])
    problems = change_problems(changes, tree)
    if problems:
        raise StageFailed("The change does not fit the repository's committed files, so nothing "
                          "was committed:\n" + "\n".join(f"- {p}" for p in problems))
    return await create_commit(ctx.gh, ctx.api, parent=parent, changes=changes, message=message,
                               mode_of=tree.mode_of, base_tree=tree.sha)


async def run_implementer(ctx: IssueContext, *, version: PlanVersion, models: Models,
                          workspace: Workspace, stage: str, extra: str,
                          committed: Sequence[FileChange] = ()) -> Implementation:
    """Drive the implementer until ``finish`` passes validation or the turn cap is hit.

    ``committed`` is the pull request's change already on the branch (``/fix``): the
    workspace then holds the whole change, and ``changes`` comes back whole too.
    """
    config, prompts = ctx.config, ctx.runtime.prompts
    validator = make_validator(deny=workspace.deny, deny_edit=workspace.deny_edit, max_files=config.max_files,
                               max_changed_lines=config.max_changed_lines, committed=committed)
    executor = ToolExecutor(workspace, validate=validator)
    last_errors: list[str] = []
    accepted: list[list[FileChange]] = []

    advisor = Advisor(ctx, version=version, models=models, limit=config.max_advice)

    async def answer(call: ToolCall) -> Answer:
        if call.name == ADVISOR_TOOL and config.max_advice > 0:
            return await advisor.answer(call)
        reread = rereads.note(call)
        if reread is not None:
            executor.calls[call.name] += 1  # the model did call it: the failure message counts it
            return Answer(reread)
        # A search over a large repository can take seconds: keep it off the event loop.
        outcome = await asyncio.to_thread(executor.run, call.name, call.arguments)
        if call.name == "finish" and outcome.is_error:
            last_errors[:] = [outcome.content]
        if outcome.finished:
            # What was validated is what gets committed, whatever the model does afterwards.
            accepted.append(workspace.changes())
        return Answer(outcome.content, is_error=outcome.is_error, done=outcome.finished,
                      value=outcome.summary)

    last_progress = time.monotonic()

    async def on_turn(turn: int, result: LoopResult) -> None:
        nonlocal last_progress
        if result.usage.total > MAX_TOKENS_PER_RUN:
            raise StageFailed(f"The implementer used more than {MAX_TOKENS_PER_RUN:,} tokens; stopped.")
        if time.monotonic() - last_progress >= PROGRESS_EVERY_SECONDS and stage == "implement":
            last_progress = time.monotonic()
            files = len(workspace.changes())
            await ctx.show_on_plan_comment(progress_body(
                ctx, models, f"implementing… (turn {turn}/{config.max_turns}, {files} file(s) changed)",
                state="implementing", working=f"turn {turn} of {config.max_turns}, {files} file(s) touched"))

    choice = preload_choice(version, workspace)
    # The repository sets the turn cap; the advisor is offered only when it may be asked.
    role = replace(IMPLEMENTER, max_turns=config.max_turns,
                   tools=IMPLEMENTER.tools + ((advisor_tool(config.max_advice),) if config.max_advice else ()))
    user = prompts.render(
        role.user_prompt, plan_version=version.number, issue_number=ctx.number, repo=ctx.repo,
        issue_title=ctx.issue_title, plan=plan_text(version), max_files=config.max_files,
        max_changed_lines=config.max_changed_lines, max_turns=config.max_turns, extra=extra,
        preloaded=preloaded_files(ctx, choice),
    )
    rereads = PreloadedRereads(choice, workspace, first_message=user)
    request = role.request(prompts, user=user, reasoning=ctx.role_reasoning(role.reasoning_key))
    policy = history_trim_for(ctx.runtime.prices, models.implementer)

    def compact(messages: Sequence[Message]) -> Sequence[Message]:
        return rereads.track(messages if policy is None else trim_history(messages, policy))

    model = ctx.runtime.models.model(ModelSpec.parse(models.implementer),
                                     ctx.fallbacks_for(models.implementer, models, strong_role=False))
    result = await run_tool_loop(
        role, model, request=request, call=CallInfo(ctx.call_context(stage), ctx.budgets()), answer=answer,
        prompts=prompts, on_turn=on_turn, should_stop=ctx.cancelled, compact=compact,
    )
    if not result.finished:
        changed = ", ".join(c.path for c in workspace.changes()) or "none"
        tried = "; ".join(f"{name} ×{n}" for name, n in sorted(executor.calls.items()))
        why = f"\n\nThe last `finish` was refused with:\n{last_errors[0]}" if last_errors else ""
        raise TurnLimitReached(
            f"The implementer did not finish within {config.max_turns} turns "
            f"(tool calls: {tried or 'none'}; files changed so far: {changed}).{why}", max_turns=config.max_turns)
    if result.ignored_after_done:
        log.warning("%s#%s: the implementer sent %s after finish in the same reply; not run",
                    ctx.repo, ctx.number, ", ".join(result.ignored_after_done))
    served = result.served_label(models.implementer)
    fallback = "; ".join(result.fallback_notes) or None
    return Implementation(changes=accepted[-1], summary=str(result.value or ""), served=served,
                          fallback=f"{fallback}; served by {served}." if fallback else None,
                          turns=result.turns)


def history_trim_for(prices: PriceTable, implementer: str) -> TrimPolicy | None:
    """The trim policy for this implementer, or None to keep its history whole.

    Anthropic models write the trimmed history to the cache again at 25x the read price, which
    costs more than the trim saves; an unknown price keeps the history whole too.
    """
    price = prices.price(implementer)
    if price is None or not trim_pays(cache_write=price.cache_write, cache_read=price.cache_read):
        return None
    return HISTORY_TRIM


def preload_choice(version: PlanVersion, workspace: Workspace,
                   *, budget_tokens: int = PRELOAD_TOKEN_BUDGET) -> PreloadChoice:
    """The files the plan names (a hand-written plan's too) whose current text fits the first message."""
    paths = planned_paths(version, exists=workspace.exists)
    if not paths:
        return PreloadChoice(files=(), too_large=())
    reader = ToolExecutor(workspace)  # its own executor: preloading is not one of the model's calls

    def read(path: str) -> str | None:
        outcome = reader.run("read_file", {"path": path})
        return None if outcome.is_error else outcome.content

    return choose_preloads(paths, read, budget_tokens=budget_tokens)


def preloaded_files(ctx: IssueContext, choice: PreloadChoice) -> str:
    """The first message's section with the current text of the files the plan names ("" if none)."""
    if not choice.files and not choice.too_large:
        return ""
    return ctx.runtime.prompts.render("implementer_preload", files=render_preloads(choice))


async def reconcile_branch(ctx: IssueContext, *, name: str, head: str) -> str:
    """Create the branch ``name`` at ``head``, or take the one an earlier attempt made (a branch
    already at ``head`` is ours); record it.  Only a name taken by another commit gets a suffix."""
    state = ctx.state
    assert state is not None
    branch = await create_branch(ctx.gh, ctx.api, name=name, sha=head)
    state.branch, state.head_sha, state.branch_wanted = branch, head, None
    ctx.save_state()  # refused when cancelled meanwhile: the caller's check drops the branch
    return branch


def commit_message(ctx: IssueContext, version: PlanVersion, summary: str) -> str:
    title = version.plan.summary if version.plan else ctx.issue_title
    first = title.strip().splitlines()[0][:72] if title.strip() else f"Fix #{ctx.number}"
    return f"{first}\n\n{summary.strip()}\n\nImplements route-me plan v{version.number} for #{ctx.number}.\n"


async def run_implement(ctx: IssueContext) -> list[FileChange] | None:
    """Implement the approved plan and open the pull request.

    Returns the change, so the judge needs no second look at the branch; None when an
    earlier attempt had pushed the branch and only the pull request was opened now.
    """
    state = ctx.state
    assert state is not None and state.approved_version is not None
    version = ctx.plan_version(state.approved_version)
    if version is None:
        raise StageFailed(f"Plan v{state.approved_version} is not in the state store.")
    planned = version.plan.planned_paths() if version.plan else None
    models = ctx.models(planned_paths=planned)
    state.state = "implementing"
    state.failed_stage = None
    ctx.save_or_stop()  # a /cancel that overtook the /approve: no progress line, no download
    api = ctx.api

    if state.head_sha and state.pr_number is None and (state.branch or state.branch_wanted):
        # A previous attempt made the commit (and perhaps the branch) but did not open the pull
        # request: finish it, without running the implementer again.
        implementation = None
        head = state.head_sha
        branch = state.branch or await reconcile_branch(ctx, name=state.branch_wanted or "", head=head)
    else:
        await ctx.show_on_plan_comment(progress_body(ctx, models, "implementing…", state="implementing",
                                                     working=f"starting, {ctx.config.max_turns} turns at most"))
        snapshot = await ctx.snapshot(version.base_sha)
        # The real tree, not the tarball: its root sha is the commit's base tree (one call).
        tree = await fetch_tree(ctx.gh, api, version.base_sha)
        implementation = await run_implementer(ctx, version=version, models=models,
                                               workspace=make_workspace(ctx, snapshot, tree=tree),
                                               stage="implement", extra="")
        if ctx.cancelled():
            raise StageCancelled()
        state.served["implement"] = implementation.served
        if implementation.fallback:
            state.fallback_notes["implement"] = implementation.fallback
        head = await commit_against_tree(ctx, parent=version.base_sha, tree=tree,
                                         changes=implementation.changes,
                                         message=commit_message(ctx, version, implementation.summary))
        if ctx.cancelled():
            raise StageCancelled()  # only an unreferenced commit exists: nothing to undo
        # The intent is stored before the call: a crash while it is in flight leaves a commit and
        # perhaps a branch at GitHub, which the resumed job reconciles instead of implementing again.
        state.head_sha, state.branch_wanted = head, f"{ctx.config.branch_prefix}issue-{ctx.number}"
        ctx.save_or_stop()
        branch = await reconcile_branch(ctx, name=state.branch_wanted, head=head)

    if ctx.cancelled():  # a cancel before the pull request exists leaves no branch behind
        await drop_branch_after_cancel(ctx, branch)

    title = (version.plan.summary.splitlines()[0] if version.plan else ctx.issue_title)[:200]
    body = render_pr_body(
        issue_number=ctx.number, version=version, variant=models.variant,
        costs=stage_costs(ctx.services.store, ctx.repo, ctx.number),
        models={"planner": state.served.get("plan", models.planner),
                "implementer": state.served.get("implement", models.implementer),
                "judge": models.judge},
        implementer_summary=implementation.summary if implementation is not None else None,
    )
    try:
        pull = await open_pull_request(ctx.gh, api, owner=ctx.owner, branch=branch,
                                       base=ctx.default_branch, title=title, body=body,
                                       draft=ctx.config.draft)
    except Exception:
        existing = await pull_made_anyway(ctx, branch)
        if existing is None:
            ctx.save_state()
            raise
        pull = existing
    pr_number = int(pull["number"])
    ctx.services.store.link_pull_request(ctx.repo, pr_number, ctx.number)
    state.pr_number = pr_number
    state.state = "pr_open"
    if not ctx.save_state():
        await keep_pull_after_cancel(ctx, version, pr_number=pr_number, branch=branch, head=head)
    # The plan comment is shown again once the judge has run (``implement_and_score``): one edit
    # for "PR #n" and "scored" keeps the plain flow within its REST budget.
    return implementation.changes if implementation is not None else None
