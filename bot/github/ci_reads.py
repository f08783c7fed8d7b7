"""Reading a commit's CI from GitHub: its check runs and commit statuses, and why the failing ones failed.

Three sources, as GitHub serves them: ``GET commits/{sha}/check-runs`` (the latest run per
name, with its output), ``GET check-runs/{id}/annotations``, the failed GitHub Actions job's
log (``GET actions/jobs/{id}/logs``: a 302 to a short-lived download; for Actions, the check
run id is the job id) and the combined status ``GET commits/{sha}/status``.  A detail that
cannot be read (a log already expired, a 404) is left out; the others still go to the
implementer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gidgethub

from bot.core.ci_report import Annotation, FailingCheck, failing_tests, trim_log
from bot.github.client import GitHubClient, get_optional

log = logging.getLogger(__name__)

FAILED_RUNS = frozenset({"failure", "timed_out", "startup_failure"})
FAILED_STATUSES = frozenset({"failure", "error"})
ACTIONS_SLUG = "github-actions"
MAX_FAILING_READ = 5  # the details of at most this many failing checks are read (each costs calls)
MAX_ANNOTATIONS_READ = 50


@dataclass(frozen=True)
class CIPicture:
    """Every check run and status on one commit: still running, or which ones failed."""

    sha: str
    pending: bool
    failing_runs: tuple[dict[str, Any], ...]
    failing_statuses: tuple[dict[str, Any], ...]
    reported: int

    @property
    def failed(self) -> bool:
        return bool(self.failing_runs or self.failing_statuses)


async def read_ci(gh: GitHubClient, api: str, sha: str) -> CIPicture:
    """The check runs and commit statuses of ``sha`` (two calls)."""
    answer = await gh.getitem(f"{api}/commits/{sha}/check-runs?per_page=100")
    runs = list(answer.get("check_runs") or [])
    combined = await get_optional(gh, f"{api}/commits/{sha}/status") or {}
    statuses = list(combined.get("statuses") or [])
    pending = (any(run.get("status") != "completed" for run in runs)
               or any(status.get("state") == "pending" for status in statuses))
    return CIPicture(
        sha=sha, pending=pending,
        failing_runs=tuple(run for run in runs if run.get("status") == "completed"
                           and run.get("conclusion") in FAILED_RUNS),
        failing_statuses=tuple(s for s in statuses if s.get("state") in FAILED_STATUSES),
        reported=len(runs) + len(statuses))


async def failing_checks(gh: GitHubClient, api: str, picture: CIPicture) -> list[FailingCheck]:
    """What each failing run and status says: output, annotations and the trimmed Actions log."""
    checks = [await _run_details(gh, api, run) for run in picture.failing_runs[:MAX_FAILING_READ]]
    for status in picture.failing_statuses[:MAX_FAILING_READ]:
        description = status.get("description")
        checks.append(FailingCheck(name=str(status.get("context") or "a status"), url=status.get("target_url"),
                                   conclusion=str(status.get("state")), kind="status", summary=description,
                                   tests=failing_tests([description])))
    return checks


async def _run_details(gh: GitHubClient, api: str, run: dict[str, Any]) -> FailingCheck:
    output = run.get("output") or {}
    run_id = int(run["id"])
    annotations: list[Annotation] = []
    if output.get("annotations_count"):
        try:
            async for item in gh.getiter(f"{api}/check-runs/{run_id}/annotations"):
                annotations.append(Annotation(path=str(item.get("path")), line=int(item.get("start_line") or 0),
                                              level=str(item.get("annotation_level") or "notice"),
                                              message=str(item.get("message") or item.get("title") or "")))
                if len(annotations) >= MAX_ANNOTATIONS_READ:
                    break
        except gidgethub.BadRequest as exc:
            log.info("annotations of check run %s unreadable: %s", run_id, exc.status_code)
    excerpt = None
    if (run.get("app") or {}).get("slug") == ACTIONS_SLUG:
        text = await gh.download_redirected(f"{api}/actions/jobs/{run_id}/logs")
        excerpt = trim_log(text) if text else None
    messages = [a.message for a in annotations]
    return FailingCheck(
        name=str(run.get("name") or run_id), url=run.get("html_url") or run.get("details_url"),
        conclusion=str(run.get("conclusion")), title=output.get("title"), summary=output.get("summary"),
        text=output.get("text"), annotations=tuple(annotations), log=excerpt,
        tests=failing_tests([excerpt, output.get("summary"), output.get("text"), *messages]))
