"""Fake GitHub routes for CI on a commit: check runs, their annotations, Actions job logs, commit statuses.

Shapes follow GitHub's REST reference (the operations are in tests/fixtures/rest-subset.openapi.json):
- ``GET check-runs/{id}`` and ``GET check-runs/{id}/annotations`` (paginated, a JSON array);
- ``GET actions/jobs/{job_id}/logs`` answers **302** with a short-lived signed ``Location`` on another
  host that serves the plain-text log without authentication, as GitHub does (the link expires after
  a minute).  For a GitHub Actions check run, the check run id is the job id;
- ``GET commits/{ref}/status``: the combined status, the latest status per context, ``state``
  ``failure`` if any is ``error`` or ``failure``, else ``pending`` if any is pending or there are none.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from tests.fakes.github_shapes import GitHubShapes
from tests.fakes.github_types import WEB, ApiError, Call, Reply, RouteSpec, iso, node_id, rebase
from tests.fakes.openapi_check import example

ACTIONS_SLUG = "github-actions"
LOG_URL_SECONDS = 60  # "This link expires after 1 minute." (GitHub's docs for the job logs endpoint)
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})


class CIRoutes(GitHubShapes):
    """check-runs/{id}, its annotations, actions/jobs/{id}/logs and commits/{ref}/status."""

    logs_url: str
    _check_run_index: dict[int, tuple[str, dict[str, Any]]]
    _annotations: dict[int, list[dict[str, Any]]]
    _job_logs: dict[int, str]
    _log_links: dict[str, tuple[int, float]]
    _statuses: dict[tuple[str, str], list[dict[str, Any]]]

    def _ci_routes(self) -> list[RouteSpec]:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r + "/check-runs/{check_run_id}", "token", self._get_check_run,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/check-runs/(?P<check_run_id>\d+)$"),
            ("GET", r + "/check-runs/{check_run_id}/annotations", "token", self._get_annotations,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/check-runs/(?P<check_run_id>\d+)/annotations$"),
            ("GET", r + "/actions/jobs/{job_id}/logs", "token", self._get_job_logs,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/jobs/(?P<job_id>\d+)/logs$"),
            ("GET", r + "/commits/{ref}/status", "token", self._get_combined_status,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/commits/(?P<ref>.+)/status$"),
        ]

    # test-side helpers -------------------------------------------------------------------
    def add_ci_run(
        self, owner: str, name: str, sha: str, *, check_name: str, conclusion: str | None = "failure",
        status: str = "completed", app_slug: str = ACTIONS_SLUG, title: str | None = None,
        summary: str | None = None, text: str | None = None,
        annotations: Sequence[Mapping[str, Any]] = (), log: str | None = None,
    ) -> dict[str, Any]:
        """A check run on ``sha`` as an app would create it; an Actions run may carry its job's ``log``."""
        state = self._state(owner, name)  # type: ignore[attr-defined]
        repo = state.repo
        run_id = self._new_id()
        run = rebase(example("check-run"), self._pairs(repo))
        run.pop("pull_requests", None)
        web_repo = self._web(repo)
        html = (f"{web_repo}/actions/runs/{run_id + 7}/job/{run_id}" if app_slug == ACTIONS_SLUG
                else f"{web_repo}/runs/{run_id}")
        app = dict(run["app"], slug=app_slug, name="GitHub Actions" if app_slug == ACTIONS_SLUG else app_slug)
        run.update(
            id=run_id, head_sha=sha, node_id=node_id(f"08:CheckRun{run_id}"), external_id=str(run_id),
            url=f"{self._api(repo)}/check-runs/{run_id}", html_url=html, details_url=html,
            status=status, conclusion=conclusion if status == "completed" else None, name=check_name,
            started_at=iso(self.clock()), completed_at=iso(self.clock()) if status == "completed" else None,
            check_suite={"id": self._new_id()}, app=app, pull_requests=[],
            output={"title": title, "summary": summary, "text": text, "annotations_count": len(annotations),
                    "annotations_url": f"{self._api(repo)}/check-runs/{run_id}/annotations"},
        )
        state.check_runs.setdefault(sha, []).append(run)
        self._check_run_index[run_id] = (repo.full_name.lower(), run)
        blob = f"{web_repo}/blob/{sha}"
        self._annotations[run_id] = [{
            "path": a["path"], "blob_href": f"{blob}/{a['path']}", "start_line": a.get("start_line", 1),
            "end_line": a.get("end_line", a.get("start_line", 1)), "start_column": a.get("start_column"),
            "end_column": a.get("end_column"), "annotation_level": a.get("annotation_level", "failure"),
            "title": a.get("title"), "message": a.get("message"), "raw_details": a.get("raw_details"),
        } for a in annotations]
        if log is not None:
            if app_slug != ACTIONS_SLUG:
                raise ValueError("only GitHub Actions check runs have job logs")
            self._job_logs[run_id] = log
        return copy.deepcopy(run)

    def add_status(
        self, owner: str, name: str, sha: str, *, context: str, state: str,
        description: str | None = None, target_url: str | None = None,
    ) -> dict[str, Any]:
        """A commit status, as ``POST /repos/{o}/{r}/statuses/{sha}`` by a CI service would create it."""
        if state not in STATUS_STATES:
            raise ValueError(f"unknown status state {state!r}")
        repo = self._state(owner, name).repo  # type: ignore[attr-defined]
        status_id = self._new_id()
        now = iso(self.clock())
        status = {"url": f"{self._api(repo)}/statuses/{sha}", "avatar_url": None, "id": status_id,
                  "node_id": node_id(f"013:StatusContext{status_id}"), "state": state,
                  "description": description, "target_url": target_url, "context": context,
                  "created_at": now, "updated_at": now}
        self._statuses.setdefault((repo.full_name.lower(), sha), []).append(status)
        return copy.deepcopy(status)

    # handlers ------------------------------------------------------------------------------
    def _run(self, call: Call, key: str) -> dict[str, Any]:
        assert call.state is not None
        found = self._check_run_index.get(int(call.params[key]))
        if found is None or found[0] != call.state.repo.full_name.lower():
            raise ApiError(404)
        return found[1]

    def _get_check_run(self, call: Call) -> Reply:
        return Reply(200, copy.deepcopy(self._run(call, "check_run_id")))

    def _get_annotations(self, call: Call) -> Reply:
        run = self._run(call, "check_run_id")
        return self._paginate(call, copy.deepcopy(self._annotations.get(run["id"], [])))

    def _get_job_logs(self, call: Call) -> Reply:
        run = self._run(call, "job_id")
        if run["app"]["slug"] != ACTIONS_SLUG or run["id"] not in self._job_logs:
            raise ApiError(404)
        signature = secrets.token_urlsafe(24)
        self._log_links[signature] = (run["id"], self.clock() + LOG_URL_SECONDS)
        location = (f"{self.logs_url}/{call.state.repo.id}/_apis/pipelines/1/jobs/{run['id']}"  # type: ignore[union-attr]
                    f"/signedlogcontent?urlSigningMethod=HMACV1&urlSignature={signature}")
        return Reply(302, headers={"location": location})

    def _get_combined_status(self, call: Call) -> Reply:
        assert call.state is not None
        repo = call.state.repo
        sha = repo.resolve(call.params["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {call.params['ref']}")
        latest: dict[str, dict[str, Any]] = {}
        for status in self._statuses.get((repo.full_name.lower(), sha), []):
            latest[status["context"]] = status  # later statuses of a context replace earlier ones
        statuses = sorted(latest.values(), key=lambda s: -s["id"])
        states = {s["state"] for s in statuses}
        combined = ("failure" if states & {"error", "failure"} else
                    "pending" if "pending" in states or not statuses else "success")
        api = self._api(repo)
        return Reply(200, {"state": combined, "statuses": copy.deepcopy(statuses), "sha": sha,
                           "total_count": len(statuses), "repository": self._repo_json(repo, full=False),
                           "commit_url": f"{api}/commits/{sha}", "url": f"{api}/commits/{sha}/status"})

    # the download host of job logs ------------------------------------------------------------
    async def _handle_logs(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request, None, "logs")  # type: ignore[attr-defined]
        self.requests.append(record)  # type: ignore[attr-defined]
        link = self._log_links.get(request.query.get("urlSignature", ""))
        if request.method != "GET" or link is None:
            response = web.Response(status=404, text="The specified resource does not exist.")
        elif link[1] <= self.clock():
            response = web.Response(status=403, text="Signature expired.")
        else:
            response = web.Response(status=200, text=self._job_logs[link[0]],
                                    content_type="text/plain", charset="utf-8")
        record.status = response.status
        return response


__all__ = ["CIRoutes", "WEB"]
