"""A fake GitHub (REST API + codeload) on loopback, backed by real git repositories.

Every end-to-end test of the bot talks to this instead of api.github.com.  It speaks
GitHub's wire format (status codes, error bodies, headers, Link pagination, the 302 to a
separate codeload host), records every request, injects faults, and checks what the bot
sends and what it answers against the OpenAPI subset in tests/fixtures.

This module owns the two servers' lifecycle, request dispatch and the test-side helpers;
the routes live in github_auth, github_git_routes, github_issue_routes,
github_pull_routes and github_ci_routes, the JSON they answer in github_shapes.
"""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.app_keys import generate_app_key
from tests.fakes.github_auth import SECONDARY_RATE_LIMIT_MESSAGE, GitHubAuth
from tests.fakes.github_ci_routes import CIRoutes
from tests.fakes.github_git import Author, FakeRepo, GitRepo
from tests.fakes.github_git_routes import GitRoutes
from tests.fakes.github_issue_routes import IssueRoutes
from tests.fakes.github_pull_routes import PullRoutes
from tests.fakes.github_types import (
    ROLE_PERMISSION,
    ApiError,
    Fault,
    Hold,
    Issue,
    RecordedRequest,
    Reply,
    RepoState,
    Route,
    Token,
    compile_routes,
    iso,
)
from tests.fakes.openapi_check import OpenAPIChecker

__all__ = ["FakeGitHub", "FakeRepo", "RecordedRequest", "SECONDARY_RATE_LIMIT_MESSAGE"]


class FakeGitHub(GitHubAuth, GitRoutes, IssueRoutes, PullRoutes, CIRoutes):
    """``async with FakeGitHub(tmp_path, app_id=1234, public_key_pem=pub) as gh: ...``."""

    def __init__(
        self, root: Path, *, app_id: int = 1234, public_key_pem: str | None = None,
        validate: bool = True, clock: Callable[[], float] = time.time,
        app_slug: str = "route-me",
    ) -> None:
        self.root = Path(root)
        self.app_id = app_id
        self.app_slug = app_slug
        self.private_key_pem: str | None = None
        if public_key_pem is None:
            self.private_key_pem, public_key_pem = generate_app_key()
        self.public_key_pem = public_key_pem
        self.validate = validate
        self.clock = clock
        self.url = ""
        self.codeload_url = ""
        self.logs_url = ""
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[str] = []
        self.schema_violations: list[str] = []
        self.installation_tokens_issued = 0
        # GET git/trees/{sha}?recursive=1 stops at 100,000 entries or 7 MB and says
        # "truncated": true (docs.github.com REST "Get a tree"); tests lower these.
        self.tree_listing_max_entries = 100_000
        self.tree_listing_max_bytes = 7 * 1024 * 1024
        # The App manifest flow: codes handed out by tests/fakes/github_manifest.py, and the
        # conversions made with them.
        self.manifest_codes: dict[str, dict[str, Any]] = {}
        self.manifest_conversions: list[dict[str, Any]] = []
        self._checker = OpenAPIChecker() if validate else None
        self._repos: dict[tuple[str, str], RepoState] = {}
        self._tokens: dict[str, Token] = {}
        self._codeload_tokens: dict[str, tuple[str, float]] = {}
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        self._comments: dict[int, tuple[RepoState, int, dict[str, Any]]] = {}
        self._reactions: dict[int, list[dict[str, Any]]] = {}
        self._user_ids: dict[str, int] = {}
        self._next_id = 1_000_001
        self._rate_used = 0
        self._rate_reset = int(clock()) + 3600
        self._runners: list[web.AppRunner] = []
        self._check_run_index: dict[int, tuple[str, dict[str, Any]]] = {}
        self._annotations: dict[int, list[dict[str, Any]]] = {}
        self._job_logs: dict[int, str] = {}
        self._log_links: dict[str, tuple[int, float]] = {}
        self._statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._routes: list[Route] = compile_routes(
            self._auth_routes() + self._git_routes() + self._issue_routes() + self._pull_routes()
            + self._ci_routes())

    # lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> FakeGitHub:
        self.url = await self._serve(self._handle_api)
        self.codeload_url = await self._serve(self._handle_codeload)
        self.logs_url = await self._serve(self._handle_logs)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    async def _serve(self, handler: Callable[[web.Request], Any]) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    # test-side helpers -----------------------------------------------------------------
    def create_repo(
        self, owner: str, name: str, files: Mapping[str, str | bytes], *,
        default_branch: str = "main", symlinks: Mapping[str, str] | None = None,
        installation_id: int = 42, private: bool = False,
    ) -> FakeRepo:
        """A bare git repo at root/owner/name.git with one commit holding ``files``."""
        path = self.root / owner / f"{name}.git"
        GitRepo.init_bare(path, default_branch=default_branch)
        repo = FakeRepo(path, owner=owner, name=name, repo_id=self._new_id(),
                        default_branch=default_branch, installation_id=installation_id,
                        private=private)
        wanted = [(path, "100644", c.encode() if isinstance(c, str) else bytes(c))
                  for path, c in files.items()]
        wanted += [(path, "120000", target.encode()) for path, target in (symlinks or {}).items()]
        shas = repo.hash_blobs([data for _, _, data in wanted])
        entries = {path: (mode, "blob", sha) for (path, mode, _), sha in zip(wanted, shas, strict=True)}
        when = f"@{int(self.clock())} +0000"
        author = Author(owner, f"{owner}@users.noreply.github.com", when)
        sha = repo.commit_tree(repo.write_tree(entries), parents=[], message="Initial commit",
                               author=author)
        repo.set_ref(f"refs/heads/{default_branch}", sha)
        self._repos[(owner.lower(), name.lower())] = RepoState(repo=repo)
        return repo

    def repo(self, owner: str, name: str) -> FakeRepo:
        """The FakeRepo made by create_repo (KeyError when unknown)."""
        return self._state(owner, name).repo

    def add_issue(
        self, owner: str, name: str, *, number: int | None = None, title: str,
        body: str | None, user: str = "octocat", labels: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Open an issue (numbers are shared with pull requests) and return its JSON."""
        state = self._state(owner, name)
        if number is None:
            number = max(state.issues, default=0) + 1
        if number in state.issues:
            raise ValueError(f"#{number} already exists in {owner}/{name}")
        now = iso(self.clock())
        issue = Issue(number, self._new_id(), title, body, user, [], now, now)
        state.issues[number] = issue
        self._add_labels(state, issue, list(labels))
        return self._issue_json(state, issue)

    def add_comment(
        self, owner: str, name: str, number: int, *, body: str, user: str = "octocat"
    ) -> dict[str, Any]:
        """A comment written by a human (as if through the web UI)."""
        state = self._state(owner, name)
        return self._new_comment(state, state.issues[number], body=body, login=user)

    def set_permission(self, owner: str, name: str, user: str, permission: str) -> None:
        """Give ``user`` a role: admin, maintain, write, triage, read or none."""
        if permission not in ROLE_PERMISSION:
            raise ValueError(f"unknown role {permission!r}")
        self._state(owner, name).roles[user.lower()] = permission

    def add_check_run(self, owner: str, name: str, sha: str, run: Mapping[str, Any]) -> None:
        """Attach a check-run JSON object to a commit (served by commits/{ref}/check-runs)."""
        self._state(owner, name).check_runs.setdefault(sha, []).append(dict(run))

    def comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """All comments on issue/PR ``number``, oldest first (copies)."""
        return self._comment_copies(self._state(owner, name), number)

    def issue(self, owner: str, name: str, number: int) -> dict[str, Any]:
        """The issue JSON (labels included) as GET issues/{n} would answer."""
        state = self._state(owner, name)
        return self._issue_json(state, state.issues[number])

    def pulls(self, owner: str, name: str) -> list[dict[str, Any]]:
        """Every pull request (any state), by number."""
        state = self._state(owner, name)
        return [self._pull_json(state, pull) for _, pull in sorted(state.pulls.items())]

    def reviews(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """Reviews on pull request ``number``, oldest first (copies)."""
        return copy.deepcopy(self._state(owner, name).reviews.get(number, []))

    def reactions(self, comment_id: int) -> list[dict[str, Any]]:
        """Reactions on an issue comment (copies)."""
        return copy.deepcopy(self._reactions.get(comment_id, []))

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """Recorded requests matching method (any case) and a path substring."""
        return sum(
            1 for r in self.requests
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        )

    def rest_calls(self) -> list[RecordedRequest]:
        """Recorded requests to the API host (codeload downloads left out)."""
        return [r for r in self.requests if r.host == "api"]

    # dispatch --------------------------------------------------------------------------
    @staticmethod
    def _record(request: web.Request, body: Any, host: str) -> RecordedRequest:
        return RecordedRequest(
            method=request.method, path=request.path, query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()}, json=body, host=host,
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        record = self._record(request, body, "api")
        self.requests.append(record)
        await self._wait_if_held(request.method.upper(), request.path)
        self._rate_used += 1
        response = self._dispatch(request, body, has_body=bool(raw), bad_json=bad_json)
        record.status = response.status
        return response

    def _dispatch(
        self, request: web.Request, body: Any, *, has_body: bool, bad_json: bool
    ) -> web.Response:
        method = request.method.upper()
        raw_path = self._rewrite_repository_id(request.raw_path.split("?", 1)[0])
        fault = self._take_fault(method, request.path)
        if fault is not None and not fault.after_effect:
            return self._fault_response(fault, request)
        route, params = self._match(method, raw_path)
        if route is None:
            self.unknown_routes.append(f"{method} {request.path}")
            return self._to_response(self._error_reply(ApiError(404)))
        if self._checker and not bad_json:
            self.schema_violations += self._checker.check_request(
                method, route.template, body, has_body=has_body)
        try:
            if bad_json:
                raise ApiError(400, "Problems parsing JSON")
            call = self._authorize(route, request, params, body)
            reply = route.handler(call)
        except ApiError as err:
            reply = self._error_reply(err)
        if self._checker and reply.raw is None and reply.data is not None:
            self.schema_violations += self._checker.check_response(
                method, route.template, reply.status, reply.data)
        if fault is not None:
            return self._fault_response(fault, request)
        return self._to_response(reply)

    def _rewrite_repository_id(self, raw_path: str) -> str:
        # Link headers point at /repositories/{id}/...; GitHub serves both spellings.
        match = re.match(r"^/repositories/(\d+)(/.*)?$", raw_path)
        if not match:
            return raw_path
        for state in self._repos.values():
            if state.repo.id == int(match.group(1)):
                owner, name = (urllib.parse.quote(s, safe="") for s in (state.repo.owner,
                                                                        state.repo.name))
                return f"/repos/{owner}/{name}{match.group(2) or ''}"
        return raw_path

    def _match(self, method: str, raw_path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method:
                match = route.regex.match(raw_path)
                if match:
                    return route, {k: urllib.parse.unquote(v) for k, v in
                                   match.groupdict().items() if v is not None}
        return None, {}

    def _error_reply(self, err: ApiError) -> Reply:
        return Reply(err.status, err.body, headers=err.headers)

    def _to_response(self, reply: Reply) -> web.Response:
        headers = {**self._std_headers(), **reply.headers, "content-type": reply.content_type}
        if reply.raw is not None:
            return web.Response(status=reply.status, body=reply.raw, headers=headers)
        if reply.data is None:
            headers.pop("content-type")
            return web.Response(status=reply.status, headers=headers)
        return web.Response(status=reply.status, text=json.dumps(reply.data), headers=headers)

    # codeload host ---------------------------------------------------------------------
    async def _handle_codeload(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request, None, "codeload")
        self.requests.append(record)
        await self._wait_if_held(request.method.upper(), request.path)
        response = self._codeload(request)
        record.status = response.status
        return response

    def _codeload(self, request: web.Request) -> web.Response:
        fault = self._take_fault(request.method.upper(), request.path)
        if fault is not None and not fault.after_effect:
            return self._fault_response(fault, request)
        not_found = web.Response(status=404, text="404: Not Found",
                                 content_type="text/plain", charset="utf-8")
        match = re.match(r"^/([^/]+)/([^/]+)/legacy\.tar\.gz/(.+)$", request.path)
        if request.method != "GET" or match is None:
            return not_found
        owner, name, ref = match.groups()
        grant = self._codeload_tokens.get(request.query.get("token", ""))
        state = self._repos.get((owner.lower(), name.lower()))
        if state is None or grant is None or grant[0] != state.repo.full_name.lower() \
                or grant[1] <= self.clock():
            return not_found
        sha = state.repo.resolve(ref)
        if sha is None:
            return not_found
        repo = state.repo
        stem = f"{repo.owner}-{repo.name}-{sha[:7]}"
        data = repo.archive_targz(sha, prefix=f"{stem}/")
        if fault is not None:
            return self._fault_response(fault, request)
        return web.Response(status=200, body=data, headers={
            "content-type": "application/x-gzip",
            "content-disposition": f"attachment; filename={stem}.tar.gz",
            "etag": f'"{sha}"', "x-github-request-id": self._std_headers()["x-github-request-id"],
        })

