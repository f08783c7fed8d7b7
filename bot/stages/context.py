"""What every stage of one issue shares: the repo config, the chosen models, the snapshot, and the plan comment."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gidgethub

from bot import logcontext
from bot.core.archive import extract_snapshot, is_full_sha
from bot.core.events import Delivery
from bot.core.markers import find_marker
from bot.core.plan import Plan, PlanVersion
from bot.core.render import render_failure, render_resolved_failure
from bot.core.render_plan import render_plan_progress
from bot.core.repo_config import RepoConfig, parse_repo_config
from bot.core.snapshot import Snapshot
from bot.github.client import GitHubClient
from bot.github.gitdata import MAYBE_DONE
from bot.github.tarball import TarballError, download_tarball, retry_download
from bot.models.budget import Budget
from bot.models.ledger import CallContext
from bot.models.port import ModelSpec, Reasoning
from bot.services import Services
from bot.stages import model_choice
from bot.stages.errors import StageCancelled
from bot.stages.model_choice import Models
from bot.stages.runtime import Runtime, runtime
from bot.stages.state import IssueState, came_after_cancel, record_facts, save_unless_cancelled_since

log = logging.getLogger(__name__)

CONFIG_PATH = ".github/route-me.yml"
MAX_TARBALL_BYTES = 500 * 1024 * 1024
STAGE_OF_STATE = {"planning": "plan", "implementing": "implement", "scoring": "judge"}


@dataclass
class IssueContext:
    """One job's view of one issue: who, where, with which config and models."""

    services: Services
    gh: GitHubClient
    owner: str
    name: str
    number: int
    installation_id: int
    default_branch: str
    issue_title: str = ""
    issue_body: str = ""
    config: RepoConfig = field(default_factory=RepoConfig)
    config_text: str | None = None
    state: IssueState | None = None
    # The state value this job last read from or wrote to the store (see save_state).
    seen_state: str | None = None
    # The worker's id for this job: it orders the job against cancels (see bot/stages/state.py).
    job_id: int | None = None

    @property
    def repo(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def runtime(self) -> Runtime:
        return runtime(self.services)

    @property
    def api(self) -> str:
        return f"/repos/{self.owner}/{self.name}"

    def call_context(self, stage: str) -> CallContext:
        logcontext.stage.set(stage)  # the job's log lines and its /metrics row name the stage from here on
        return CallContext(installation_id=self.installation_id, repo=self.repo, issue=self.number, stage=stage)

    def load_state(self) -> IssueState | None:
        self.state = IssueState.load(self.services.store, self.repo, self.number)
        self.seen_state = self.state.state if self.state else None
        return self.state

    def cancelled(self) -> bool:
        """Whether the issue was cancelled since this job loaded it (read fresh from the store)."""
        current = IssueState.load(self.services.store, self.repo, self.number)
        return current is not None and current.state == "cancelled"

    def came_after_cancel(self, stored: IssueState | None) -> bool:
        """Whether this job was recorded after the cancel in ``stored``."""
        return came_after_cancel(self.job_id, stored)

    def save_state(self) -> bool:
        """Persist the state; False when someone cancelled the issue since this job looked.

        A /cancel or unlabel runs beside a running stage and stores "cancelled"; the stage's
        older in-memory copy must never write over it (``save_unless_cancelled_since``).
        """
        assert self.state is not None
        saved = save_unless_cancelled_since(self.services.store, self.state, seen_state=self.seen_state,
                                            job_id=self.job_id)
        if saved:
            self.seen_state = self.state.state
        else:
            log.info("%s#%s was cancelled meanwhile; state not saved", self.repo, self.number)
        return saved

    def save_or_stop(self) -> None:
        """Save the stage's state, or stop the stage (``StageCancelled``) when the issue was
        cancelled meanwhile."""
        if not self.save_state():
            raise StageCancelled()

    def record_despite_cancel(self, **facts: Any) -> None:
        """Store what exists on GitHub (branch, pull request) whatever the state (see ``record_facts``)."""
        self.state = record_facts(self.services.store, self.repo, self.number, facts)
        self.seen_state = self.state.state

    # models (chosen in bot/stages/model_choice.py) -------------------------------------

    def models(self, *, planned_paths: list[str] | None = None) -> Models:
        return model_choice.choose_models(settings=self.services.settings, config=self.config,
                                          state=self.state, planned_paths=planned_paths)

    def role_reasoning(self, role: str) -> Reasoning:
        """How much ``role`` (planner, implementer, judge, advisor) may think: repo config, else server."""
        return model_choice.reasoning_for(role, settings=self.services.settings, config=self.config)

    def fallbacks_for(self, primary: str, models: Models, *, strong_role: bool) -> list[ModelSpec]:
        return model_choice.fallbacks_for(primary, models, strong_role=strong_role, config=self.config,
                                          prices=self.runtime.prices)

    def budgets(self) -> list[Budget]:
        return model_choice.issue_budgets(store=self.services.store, settings=self.services.settings,
                                          config=self.config, clock=self.services.clock, repo=self.repo,
                                          number=self.number, installation_id=self.installation_id)

    # repository -----------------------------------------------------------------------

    async def load_config(self) -> RepoConfig:
        """``.github/route-me.yml`` from the default branch (raises ConfigError when invalid).

        The text is cached for a minute per repository: a label and the commands that follow
        it read the same file, and each read is a REST call.
        """
        cache = self.runtime.config_texts
        if self.repo in cache:
            text = cache[self.repo]
            fetched = False
        else:
            try:
                answer = await self.gh.getitem(
                    f"{self.api}/contents/{CONFIG_PATH}{{?ref}}", {"ref": self.default_branch}
                )
                text = base64.b64decode(answer.get("content", "")).decode("utf-8", errors="replace")
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) != 404:
                    raise
                text = None
            cache[self.repo] = text
            fetched = True
        self.config_text = text
        self.config = parse_repo_config(text)
        if fetched:  # expires with the text it came from, never later
            self.runtime.trigger_labels[self.repo.lower()] = self.config.label.lower()
        return self.config

    async def snapshot(self, ref: str) -> Snapshot:
        """The repository at ``ref`` (a sha or a branch), from the cache or one tarball request."""
        services = self.services

        async def download(archive: Path, token: str) -> None:
            services.note_rest_call("GET", f"{self.api}/tarball/{ref}", 0)
            await download_tarball(
                services.session, api_url=services.settings.github_api_url, token=token,
                owner=self.owner, repo=self.name, ref=ref, dest_file=archive,
                max_bytes=MAX_TARBALL_BYTES,
            )

        async def fetch(dest: Path) -> Snapshot:
            archive = dest.parent / f".{dest.name}.tar.gz"

            async def attempt() -> None:
                token = await services.installation_token(self.installation_id)
                try:
                    await download(archive, token)
                except TarballError as exc:
                    if exc.status != 401:
                        raise
                    # The token expired or was revoked mid-job: one more try with a fresh one.
                    services.tokens.forget(self.installation_id, token)
                    await download(archive, await services.installation_token(self.installation_id))

            await retry_download(attempt, sleep=services.sleep, label=f"{self.repo}@{ref}")
            try:
                return await asyncio.to_thread(_extract, archive, dest, ref)
            finally:
                archive.unlink(missing_ok=True)

        return await self.runtime.snapshots.get_or_fetch(self.repo, ref, fetch)

    # comments -------------------------------------------------------------------------

    async def post_comment(self, body: str, *, number: int | None = None) -> dict[str, Any]:
        return await self.gh.post(f"{self.api}/issues/{number or self.number}/comments", data={"body": body})

    async def edit_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        return await self.gh.patch(f"{self.api}/issues/comments/{comment_id}", data={"body": body})

    async def show_on_plan_comment(self, body: str) -> int:
        """Edit the plan comment in place, or create it (and remember its id) if there is none."""
        assert self.state is not None
        if self.state.plan_comment_id is not None:
            try:
                await self.edit_comment(self.state.plan_comment_id, body)
                return self.state.plan_comment_id
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) != 404:
                    raise
                # Someone deleted the plan comment: start a new one.
        return await self._create_plan_comment(body)

    async def _create_plan_comment(self, body: str) -> int:
        """Post the plan comment exactly once, even when GitHub made it but the answer was lost.

        The intent is stored before the POST: a job resumed after a crash mid-call finds the
        comment by its marker instead of posting a second one.  A POST that fails in a way
        that may have taken effect (5xx, reset, timeout) is followed by the same look-up.
        """
        state = self.state
        assert state is not None
        found = await self.find_own_plan_comment() if state.plan_comment_posting else None
        if found is None:
            state.plan_comment_posting = True
            self.save_state()
            try:
                posted = await self.post_comment(body)
                found, state.plan_comment_url = int(posted["id"]), posted.get("html_url")
            except MAYBE_DONE:
                found = await self.find_own_plan_comment()
                if found is None:
                    raise
                log.info("%s#%s: the plan comment was made despite the error; found it", self.repo, self.number)
                await self.edit_comment(found, body)
        else:
            log.info("%s#%s: an earlier attempt made the plan comment; editing it", self.repo, self.number)
            await self.edit_comment(found, body)
        state.plan_comment_id = found
        state.plan_comment_posting = False
        self.save_state()
        return found

    async def find_own_plan_comment(self) -> int | None:
        """The id of the newest comment on the issue written by a bot and carrying the plan marker."""
        found = None
        async for comment in self.gh.getiter(f"{self.api}/issues/{self.number}/comments"):
            if (comment.get("user") or {}).get("type") != "Bot":
                continue  # anyone can paste a marker into their own comment
            if find_marker(comment.get("body"), "plan") is not None:
                found = int(comment["id"])
        return found

    async def resolve_failure(self, stage: str) -> None:
        """The stage that failed last succeeded now: mark its failure comment resolved (one edit)."""
        state = self.state
        if state is None or not state.failure_comment or state.failure_comment[2] != stage:
            return
        _, comment_id, _ = state.failure_comment
        state.failure_comment = None
        self.save_state()
        try:
            await self.edit_comment(int(comment_id), render_resolved_failure(stage=stage, what=state.failure or ""))
        except gidgethub.HTTPException as exc:  # deleted meanwhile: nothing left to mark
            log.info("could not mark the failure comment %s resolved: %s", comment_id, exc)

    async def report_failure(self, stage: str, what: str, *, hint: str | None = None,
                             number: int | None = None) -> None:
        """Every failure ends in a comment saying what failed and what to do."""
        if self.state is not None:
            self.state.state = "failed"
            self.state.failed_stage = stage
            self.state.failure = what[:2000]
            if not self.save_state():
                return  # cancelled meanwhile: the cancellation is the last word, not this failure
        plan_url = self.state.plan_comment_url if self.state is not None else None
        body = render_failure(stage=stage, what=what, plan_url=plan_url, **({"hint": hint} if hint else {}))
        try:
            posted = await self.post_comment(body, number=number)
            if self.state is not None:
                # Remembered so that a later success marks this comment resolved.
                self.state.failure_comment = [number or self.number, int(posted["id"]), stage]
                self.save_state()
            state = self.state
            if state is not None and state.plan_comment_id is not None and state.version > 0 \
                    and state.pr_number is None and stage != "plan":
                # The comment said "implementing…"; it must not keep saying so. (A failed
                # revision restores its plan comment itself, with its own note.)
                from bot.stages.plan import show_plan  # plan.py imports this module

                version = self.plan_version()
                if version is not None:
                    await show_plan(self, version, notes=(f"The {stage} stage failed: see the comment below.",))
            elif state is not None and state.version == 0 and state.plan_comment_id is not None:
                # No plan exists yet: the progress comment must not keep saying "planning…".
                models = self.models()
                await self.edit_comment(state.plan_comment_id, render_plan_progress(
                    state_line="planning failed; see the comment below", issue_number=self.number,
                    variant=models.variant, planner=models.planner, implementer=models.implementer,
                    version=1, base_sha=state.base_sha, state="failed"))
        except Exception:  # noqa: BLE001 - a failure report must not hide the original failure
            log.exception("could not post the failure comment on %s#%s", self.repo, number or self.number)

    # plan versions --------------------------------------------------------------------

    def save_version(self, version: PlanVersion) -> None:
        self.services.store.add_plan_version(self.repo, self.number, version.number, {
            "plan": version.plan.model_dump() if version.plan else None,
            "markdown": version.markdown, "author": version.author,
            "base_sha": version.base_sha, "created_at": version.created_at,
        })

    def plan_version(self, number: int | None = None) -> PlanVersion | None:
        assert self.state is not None
        wanted = number if number is not None else self.state.version
        data = self.services.store.plan_version(self.repo, self.number, wanted)
        if data is None:
            return None
        return PlanVersion(
            number=wanted, plan=Plan.model_validate(data["plan"]) if data["plan"] else None,
            markdown=data["markdown"], author=data["author"], base_sha=data["base_sha"],
            created_at=data["created_at"],
        )


def _extract(archive: Path, dest: Path, ref: str) -> Snapshot:
    with archive.open("rb") as stream:
        return extract_snapshot(stream, dest, expected_sha=ref if is_full_sha(ref) else None)


def issue_context(services: Services, gh: GitHubClient, delivery: Delivery, *, number: int,
                  job_id: int | None = None) -> IssueContext:
    """A job's view of issue ``number`` in the delivery's repository; the issue's title and
    text come with it when the delivery names that very issue (a comment on a pull request
    works on the issue behind it, whose text is read when needed)."""
    repository = delivery.repository
    installation = delivery.installation
    if repository is None or repository.owner is None or installation is None:
        raise ValueError("the delivery names no repository or installation")
    issue = delivery.issue if delivery.issue is not None and delivery.issue.number == number else None
    return IssueContext(
        services=services, gh=gh, owner=repository.owner.login, name=repository.name, number=number,
        installation_id=installation.id, default_branch=repository.default_branch or "main",
        issue_title=(issue.title or "") if issue else "", issue_body=(issue.body or "") if issue else "",
        job_id=job_id,
    )
