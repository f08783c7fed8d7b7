"""A fake GitHub (REST API + codeload) on loopback, backed by real git repositories.

Every end-to-end test of the bot talks to this instead of api.github.com.  It speaks
GitHub's wire format (status codes, error bodies, headers, Link pagination, the 302 to a
separate codeload host), records every request, injects faults, and checks what the bot
sends and what it answers against the OpenAPI subset in tests/fixtures.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from tests.fakes.app_keys import generate_app_key
from tests.fakes.github_git import (
    Author,
    FakeRepo,
    GitError,
    GitRepo,
    TreeEntry,
    valid_tree_path,
)
from tests.fakes.openapi_check import OpenAPIChecker, example

__all__ = ["FakeGitHub", "FakeRepo", "RecordedRequest"]

WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"
_MULTI_SEGMENT = frozenset({"path", "ref", "tree_sha"})
_NUMERIC = frozenset({"installation_id", "issue_number", "pull_number", "comment_id", "review_id"})
# GitHub's `permission` field only knows the classic levels; role_name keeps the real role.
_ROLE_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write",
                    "triage": "read", "read": "read", "none": "none"}
_ROLE_RANK = ["none", "read", "triage", "write", "maintain", "admin"]
_REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})
_REVIEW_STATE = {"COMMENT": "COMMENTED", "APPROVE": "APPROVED",
                 "REQUEST_CHANGES": "CHANGES_REQUESTED", None: "PENDING"}
_STATUS_MESSAGE = {400: "Bad Request", 401: "Bad credentials", 403: "Forbidden", 404: "Not Found",
                   409: "Conflict", 410: "Gone", 422: "Validation Failed",
                   429: "Too Many Requests", 500: "Server Error", 502: "Server Error",
                   503: "Service Unavailable", 504: "Gateway Timeout"}
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "0000:0000:0000000:0000000:00000000."
)
_TEMPLATE_REPO = "octocat/Hello-World"


class ApiError(Exception):
    """An error answer in GitHub's format: ``{"message", "errors"?, "documentation_url"}``."""

    def __init__(
        self, status: int, message: str | None = None, *, errors: list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message or _STATUS_MESSAGE.get(status, "Error")}
        if errors is not None:
            self.body["errors"] = errors
        self.body["documentation_url"] = DOCS
        self.headers = dict(headers or {})


def _invalid(resource: str, field_name: str, code: str = "invalid") -> ApiError:
    return ApiError(422, errors=[{"resource": resource, "code": code, "field": field_name}])


@dataclass
class RecordedRequest:
    """One request the fake received (both hosts), with the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any | None
    status: int = 0
    host: str = "api"


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    after_effect: bool


@dataclass
class _Token:
    installation_id: int
    expires_at: float
    repositories: frozenset[str] | None
    permissions: dict[str, str]


@dataclass
class _Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    labels: list[str]
    created_at: str
    updated_at: str
    state: str = "open"
    is_pull: bool = False


@dataclass
class _Pull:
    number: int
    id: int
    head: str
    base: str
    head_sha: str
    base_sha: str
    draft: bool
    maintainer_can_modify: bool
    state: str = "open"


@dataclass
class _RepoState:
    repo: FakeRepo
    issues: dict[int, _Issue] = field(default_factory=dict)
    pulls: dict[int, _Pull] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    comment_ids: dict[int, list[int]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class _Reply:
    status: int
    data: Any = None
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    request: web.Request
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    state: _RepoState | None
    login: str | None


@dataclass
class _Route:
    method: str
    regex: re.Pattern[str]
    template: str
    auth: str
    handler: Callable[[_Call], _Reply]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _rebase(node: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    """Rewrite every string of an example so its URLs point at our repo and host."""
    if isinstance(node, str):
        for old, new in pairs:
            node = node.replace(old, new)
        return node
    if isinstance(node, list):
        return [_rebase(item, pairs) for item in node]
    if isinstance(node, dict):
        return {key: _rebase(value, pairs) for key, value in node.items()}
    return node


def _b64_lines(data: bytes) -> str:
    # GitHub wraps base64 content at 60 characters per line, newline-terminated.
    flat = base64.b64encode(data).decode()
    return "".join(flat[i:i + 60] + "\n" for i in range(0, len(flat), 60))


def _route_regex(template: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        body = ".+" if name in _MULTI_SEGMENT else r"\d+" if name in _NUMERIC else "[^/]+"
        return f"(?P<{name}>{body})"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, template) + "$")


class FakeGitHub:
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
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[str] = []
        self.schema_violations: list[str] = []
        self.installation_tokens_issued = 0
        self._checker = OpenAPIChecker() if validate else None
        self._repos: dict[tuple[str, str], _RepoState] = {}
        self._tokens: dict[str, _Token] = {}
        self._codeload_tokens: dict[str, tuple[str, float]] = {}
        self._faults: list[_Fault] = []
        self._comments: dict[int, tuple[_RepoState, int, dict[str, Any]]] = {}
        self._reactions: dict[int, list[dict[str, Any]]] = {}
        self._user_ids: dict[str, int] = {}
        self._next_id = 1_000_001
        self._rate_used = 0
        self._rate_reset = int(clock()) + 3600
        self._runners: list[web.AppRunner] = []
        self._routes = self._build_routes()

    # lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> FakeGitHub:
        self.url = await self._serve(self._handle_api)
        self.codeload_url = await self._serve(self._handle_codeload)
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
        self._repos[(owner.lower(), name.lower())] = _RepoState(repo=repo)
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
        now = _iso(self.clock())
        issue = _Issue(number, self._new_id(), title, body, user, [], now, now)
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
        if permission not in _ROLE_PERMISSION:
            raise ValueError(f"unknown role {permission!r}")
        self._state(owner, name).roles[user.lower()] = permission

    def add_check_run(self, owner: str, name: str, sha: str, run: Mapping[str, Any]) -> None:
        """Attach a check-run JSON object to a commit (served by commits/{ref}/check-runs)."""
        self._state(owner, name).check_runs.setdefault(sha, []).append(dict(run))

    def comments(self, owner: str, name: str, number: int) -> list[dict[str, Any]]:
        """All comments on issue/PR ``number``, oldest first (copies)."""
        state = self._state(owner, name)
        return [copy.deepcopy(self._comments[cid][2]) for cid in state.comment_ids.get(number, [])]

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

    def expire_tokens(self) -> None:
        """Make every installation token issued so far expired (→ 401 on next use)."""
        for token in self._tokens.values():
            token.expires_at = self.clock() - 1

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

    def fail_next(
        self, method: str, path_regex: str, *, status: int, times: int = 1,
        body: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``times`` matching requests fail with ``status`` and change nothing."""
        self._faults.append(_Fault(method.upper(), re.compile(path_regex), status, times,
                                   body, dict(headers or {}), after_effect=False))

    def fail_after_effect(
        self, method: str, path_regex: str, *, status: int, times: int = 1,
        body: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``times`` matching requests take effect, then answer ``status`` anyway."""
        self._faults.append(_Fault(method.upper(), re.compile(path_regex), status, times,
                                   body, dict(headers or {}), after_effect=True))

    def secondary_rate_limit(
        self, method: str, path_regex: str, *, retry_after: int = 60, times: int = 1
    ) -> None:
        """403 + ``retry-after`` + GitHub's secondary-rate-limit message, nothing done."""
        self.fail_next(method, path_regex, status=403, times=times,
                       body={"message": SECONDARY_RATE_LIMIT_MESSAGE, "documentation_url":
                             "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                             "#about-secondary-rate-limits"},
                       headers={"retry-after": str(retry_after)})

    def primary_rate_limit(
        self, method: str, path_regex: str, *, reset_in: int = 60, times: int = 1
    ) -> None:
        """403 with ``x-ratelimit-remaining: 0`` and a reset ``reset_in`` seconds away."""
        reset = int(self.clock()) + reset_in
        self.fail_next(method, path_regex, status=403, times=times,
                       body={"message": "API rate limit exceeded for installation ID 42.",
                             "documentation_url": "https://docs.github.com/rest/overview/"
                             "rate-limits-for-the-rest-api#about-primary-rate-limits"},
                       headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset),
                                "x-ratelimit-used": "5000"})

    # shared internals ------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _state(self, owner: str, name: str) -> _RepoState:
        return self._repos[(owner.lower(), name.lower())]

    def _bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    def _std_headers(self) -> dict[str, str]:
        return {
            "server": "GitHub.com",
            "x-github-media-type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(0, 5000 - self._rate_used)),
            "x-ratelimit-reset": str(self._rate_reset),
            "x-ratelimit-used": str(self._rate_used),
            "x-ratelimit-resource": "core",
            "x-github-request-id": ":".join(secrets.token_hex(n).upper() for n in (2, 2, 4, 4, 4)),
        }

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (method, "*") and fault.pattern.search(path):
                fault.remaining -= 1
                return fault
        return None

    def _fault_response(self, fault: _Fault) -> web.Response:
        body = fault.body or {"message": _STATUS_MESSAGE.get(fault.status, "Error"),
                              "documentation_url": DOCS}
        headers = {**self._std_headers(), **fault.headers}
        return web.Response(status=fault.status, text=json.dumps(body), headers=headers,
                            content_type="application/json", charset="utf-8")

    @staticmethod
    def _record(request: web.Request, body: Any, host: str) -> RecordedRequest:
        return RecordedRequest(
            method=request.method, path=request.path, query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()}, json=body, host=host,
        )

    # API host --------------------------------------------------------------------------
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
            return self._fault_response(fault)
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
            return self._fault_response(fault)
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

    def _match(self, method: str, raw_path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == method:
                match = route.regex.match(raw_path)
                if match:
                    return route, {k: urllib.parse.unquote(v) for k, v in
                                   match.groupdict().items() if v is not None}
        return None, {}

    def _error_reply(self, err: ApiError) -> _Reply:
        return _Reply(err.status, err.body, headers=err.headers)

    def _to_response(self, reply: _Reply) -> web.Response:
        headers = {**self._std_headers(), **reply.headers, "content-type": reply.content_type}
        if reply.raw is not None:
            return web.Response(status=reply.status, body=reply.raw, headers=headers)
        if reply.data is None:
            headers.pop("content-type")
            return web.Response(status=reply.status, headers=headers)
        return web.Response(status=reply.status, text=json.dumps(reply.data), headers=headers)

    def _authorize(
        self, route: _Route, request: web.Request, params: dict[str, str], body: Any
    ) -> _Call:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        credential = credential.strip()
        login: str | None = None
        token: _Token | None = None
        if route.auth == "jwt":
            if scheme.lower() != "bearer" or not self._jwt_ok(credential):
                raise ApiError(401, "Bad credentials")
        else:
            token = self._tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
            if token is None or token.expires_at <= self.clock():
                raise ApiError(401, "Bad credentials")
            login = self._bot_login()
        state = None
        if "owner" in params:
            state = self._repos.get((params["owner"].lower(), params["repo"].lower()))
            # GitHub answers 404, never 403, for a repository the caller cannot see.
            if state is None or (token is not None and (
                    token.installation_id != state.repo.installation_id
                    or (token.repositories is not None
                        and state.repo.name.lower() not in token.repositories))):
                raise ApiError(404)
        return _Call(request, params, dict(request.query), body, state, login)

    def _jwt_ok(self, credential: str) -> bool:
        try:
            claims = jwt.decode(credential, self.public_key_pem, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_iat": False,
                                         "require": ["iat", "exp", "iss"]})
        except jwt.PyJWTError:
            return False
        now = self.clock()
        iat, exp = claims["iat"], claims["exp"]
        if not all(isinstance(v, (int, float)) for v in (iat, exp)):
            return False
        # GitHub: iss is the App id; exp at most 10 minutes after iat; small clock drift.
        return (str(claims["iss"]) == str(self.app_id) and exp > now and iat <= now + 60
                and exp - iat <= 600)

    # codeload host ---------------------------------------------------------------------
    async def _handle_codeload(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request, None, "codeload")
        self.requests.append(record)
        response = self._codeload(request)
        record.status = response.status
        return response

    def _codeload(self, request: web.Request) -> web.Response:
        fault = self._take_fault(request.method.upper(), request.path)
        if fault is not None and not fault.after_effect:
            return self._fault_response(fault)
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
            return self._fault_response(fault)
        return web.Response(status=200, body=data, headers={
            "content-type": "application/x-gzip",
            "content-disposition": f"attachment; filename={stem}.tar.gz",
            "etag": f'"{sha}"', "x-github-request-id": self._std_headers()["x-github-request-id"],
        })

    # routes ----------------------------------------------------------------------------
    def _build_routes(self) -> list[_Route]:
        r = "/repos/{owner}/{repo}"
        table: list[tuple[str, str, str, Callable[[_Call], _Reply], str | None]] = [
            ("GET", "/app", "jwt", self._get_app, None),
            ("POST", "/app/installations/{installation_id}/access_tokens", "jwt",
             self._create_token, None),
            ("GET", r + "/installation", "jwt", self._get_installation, None),
            ("GET", r, "token", self._get_repo, None),
            ("GET", r + "/collaborators/{username}/permission", "token", self._get_permission,
             None),
            ("GET", r + "/commits/{ref}/check-runs", "token", self._get_check_runs,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/commits/(?P<ref>.+)/check-runs$"),
            ("GET", r + "/contents/{path}", "token", self._get_contents, None),
            ("GET", r + "/contents/{path}", "token", self._get_contents,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/contents/?$"),
            ("GET", r + "/tarball/{ref}", "token", self._get_tarball, None),
            ("GET", r + "/tarball/{ref}", "token", self._get_tarball,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/tarball/?$"),
            ("POST", r + "/git/blobs", "token", self._post_blob, None),
            ("GET", r + "/git/blobs/{file_sha}", "token", self._get_blob, None),
            ("POST", r + "/git/trees", "token", self._post_tree, None),
            ("GET", r + "/git/trees/{tree_sha}", "token", self._get_tree, None),
            ("POST", r + "/git/commits", "token", self._post_commit, None),
            ("GET", r + "/git/commits/{commit_sha}", "token", self._get_commit, None),
            ("GET", r + "/git/ref/{ref}", "token", self._get_ref, None),
            ("POST", r + "/git/refs", "token", self._post_ref, None),
            ("PATCH", r + "/git/refs/{ref}", "token", self._patch_ref, None),
            ("DELETE", r + "/git/refs/{ref}", "token", self._delete_ref, None),
            ("GET", r + "/issues/comments/{comment_id}", "token", self._get_comment, None),
            ("PATCH", r + "/issues/comments/{comment_id}", "token", self._patch_comment, None),
            ("POST", r + "/issues/comments/{comment_id}/reactions", "token",
             self._post_reaction, None),
            ("GET", r + "/issues/{issue_number}", "token", self._get_issue, None),
            ("GET", r + "/issues/{issue_number}/comments", "token", self._list_comments, None),
            ("POST", r + "/issues/{issue_number}/comments", "token", self._post_comment, None),
            ("POST", r + "/issues/{issue_number}/labels", "token", self._post_labels, None),
            ("DELETE", r + "/issues/{issue_number}/labels", "token", self._delete_labels, None),
            ("DELETE", r + "/issues/{issue_number}/labels/{name}", "token",
             self._delete_label, None),
            ("GET", r + "/pulls", "token", self._list_pulls, None),
            ("POST", r + "/pulls", "token", self._post_pull, None),
            ("GET", r + "/pulls/{pull_number}", "token", self._get_pull, None),
            ("GET", r + "/pulls/{pull_number}/files", "token", self._get_pull_files, None),
            ("GET", r + "/pulls/{pull_number}/reviews", "token", self._list_reviews, None),
            ("POST", r + "/pulls/{pull_number}/reviews", "token", self._post_review, None),
            ("PUT", r + "/pulls/{pull_number}/reviews/{review_id}", "token",
             self._put_review, None),
        ]
        return [
            _Route(method, re.compile(pattern) if pattern else _route_regex(template),
                   template, auth, handler)
            for method, template, auth, handler, pattern in table
        ]

    # JSON shapes (built from the OpenAPI examples so every field GitHub sends is there) --
    def _pairs(self, repo: FakeRepo | None = None) -> list[tuple[str, str]]:
        pairs = []
        if repo is not None:
            pairs = [(f"https://api.github.com/repos/{_TEMPLATE_REPO}", self._api(repo)),
                     (f"{WEB}/{_TEMPLATE_REPO}", self._web(repo)),
                     (_TEMPLATE_REPO, repo.full_name)]
        return [*pairs, ("https://api.github.com", self.url)]

    def _api(self, repo: FakeRepo) -> str:
        return f"{self.url}/repos/{repo.owner}/{repo.name}"

    @staticmethod
    def _web(repo: FakeRepo) -> str:
        return f"{WEB}/{repo.owner}/{repo.name}"

    def _user(self, login: str) -> dict[str, Any]:
        user_id = self._user_ids.setdefault(login.lower(), 9000 + len(self._user_ids))
        bot = login.endswith("[bot]")
        api = f"{self.url}/users/{urllib.parse.quote(login)}"
        return {
            "login": login, "id": user_id,
            "node_id": base64.b64encode(f"04:User{user_id}".encode()).decode(),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "", "url": api,
            "html_url": f"{WEB}/apps/{login[:-5]}" if bot else f"{WEB}/{login}",
            "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "Bot" if bot else "User", "user_view_type": "public", "site_admin": False,
        }

    def _app_json(self) -> dict[str, Any]:
        app = _rebase(example("integration"), self._pairs())
        app.update(id=self.app_id, slug=self.app_slug, name=self.app_slug,
                   node_id=base64.b64encode(f"03:Integration{self.app_id}".encode()).decode(),
                   owner=self._user("route-me-owner"), html_url=f"{WEB}/apps/{self.app_slug}",
                   permissions={"contents": "write", "issues": "write", "metadata": "read",
                                "pull_requests": "write"},
                   events=["issues", "issue_comment", "pull_request"])
        return app

    def _repo_json(self, repo: FakeRepo, *, full: bool = True) -> dict[str, Any]:
        if full:
            data = _rebase(example("full-repository-default-response"), self._pairs(repo))
            for key in ("parent", "source", "template_repository", "organization"):
                data.pop(key, None)
        else:
            data = _rebase(example("pull-request")["head"]["repo"], self._pairs(repo))
        data.update(id=repo.id, name=repo.name, full_name=repo.full_name,
                    node_id=base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
                    owner=self._user(repo.owner), private=repo.private, fork=False,
                    default_branch=repo.default_branch, language="Python",
                    mirror_url=None, homepage=None, description=None,
                    visibility="private" if repo.private else "public")
        return data

    def _label_json(self, state: _RepoState, name: str) -> dict[str, Any]:
        key = name.lower()
        if key not in state.labels:
            label_id = self._new_id()
            state.labels[key] = {
                "id": label_id, "node_id": base64.b64encode(f"05:Label{label_id}".encode()).decode(),
                "url": f"{self._api(state.repo)}/labels/{urllib.parse.quote(name)}",
                "name": name, "color": "ededed", "default": False, "description": None,
            }
        return dict(state.labels[key])

    def _association(self, state: _RepoState, login: str) -> str:
        if login.lower() == state.repo.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if self._role(state, login) not in ("none", "read") else "NONE"

    def _role(self, state: _RepoState, login: str) -> str:
        if login.lower() in state.roles:
            return state.roles[login.lower()]
        return "admin" if login.lower() == state.repo.owner.lower() else "read"

    def _issue_json(self, state: _RepoState, issue: _Issue) -> dict[str, Any]:
        repo = state.repo
        data = _rebase(example("issue"), self._pairs(repo))
        api = f"{self._api(repo)}/issues/{issue.number}"
        kind = "pull" if issue.is_pull else "issues"
        data.update(
            id=issue.id, node_id=base64.b64encode(f"05:Issue{issue.id}".encode()).decode(),
            url=api, repository_url=self._api(repo), labels_url=f"{api}/labels{{/name}}",
            comments_url=f"{api}/comments", events_url=f"{api}/events",
            html_url=f"{self._web(repo)}/{kind}/{issue.number}", number=issue.number,
            state=issue.state, state_reason=None, title=issue.title, body=issue.body,
            user=self._user(issue.user), labels=[self._label_json(state, n) for n in issue.labels],
            assignee=None, assignees=[], milestone=None, locked=False, active_lock_reason=None,
            comments=len(state.comment_ids.get(issue.number, [])), closed_at=None,
            created_at=issue.created_at, updated_at=issue.updated_at, closed_by=None,
            author_association=self._association(state, issue.user), pinned_comment=None,
            draft=False, performed_via_github_app=None,
        )
        data.pop("pull_request", None)
        if issue.is_pull:
            pulls = f"{self._api(repo)}/pulls/{issue.number}"
            html = f"{self._web(repo)}/pull/{issue.number}"
            data["pull_request"] = {"url": pulls, "html_url": html, "diff_url": f"{html}.diff",
                                    "patch_url": f"{html}.patch", "merged_at": None}
            data["draft"] = state.pulls[issue.number].draft
        return data

    def _new_comment(
        self, state: _RepoState, issue: _Issue, *, body: str, login: str
    ) -> dict[str, Any]:
        comment_id = self._new_id()
        now = _iso(self.clock())
        repo = state.repo
        kind = "pull" if issue.is_pull else "issues"
        comment = _rebase(example("issue-comment"), self._pairs(repo))
        comment.update(
            id=comment_id, node_id=base64.b64encode(f"012:IssueComment{comment_id}".encode()).decode(),
            url=f"{self._api(repo)}/issues/comments/{comment_id}",
            html_url=f"{self._web(repo)}/{kind}/{issue.number}#issuecomment-{comment_id}",
            body=body, user=self._user(login), created_at=now, updated_at=now,
            issue_url=f"{self._api(repo)}/issues/{issue.number}",
            author_association=self._association(state, login),
            performed_via_github_app=self._app_json() if login == self._bot_login() else None,
            reactions=self._rollup(comment_id, repo),
        )
        self._comments[comment_id] = (state, issue.number, comment)
        state.comment_ids.setdefault(issue.number, []).append(comment_id)
        issue.updated_at = now
        return copy.deepcopy(comment)

    def _rollup(self, comment_id: int, repo: FakeRepo) -> dict[str, Any]:
        counts = {key: 0 for key in sorted(_REACTIONS)}
        for reaction in self._reactions.get(comment_id, []):
            counts[reaction["content"]] += 1
        return {"url": f"{self._api(repo)}/issues/comments/{comment_id}/reactions",
                "total_count": sum(counts.values()), **counts}

    def _pull_json(self, state: _RepoState, pull: _Pull) -> dict[str, Any]:
        repo = state.repo
        issue = state.issues[pull.number]
        head_sha = repo.ref_sha(f"refs/heads/{pull.head}") or pull.head_sha
        base_sha = repo.ref_sha(f"refs/heads/{pull.base}") or pull.base_sha
        api = f"{self._api(repo)}/pulls/{pull.number}"
        html = f"{self._web(repo)}/pull/{pull.number}"
        data = _rebase(example("pull-request"), self._pairs(repo))
        try:
            diff = repo.diff_files(base_sha, head_sha)
            commits = int(repo.text("rev-list", "--count", f"{base_sha}..{head_sha}"))
        except GitError:
            diff, commits = [], 0
        owner_user = self._user(repo.owner)
        side = {"user": owner_user, "repo": self._repo_json(repo, full=False)}
        data.update(
            url=api, id=pull.id, node_id=base64.b64encode(f"011:PullRequest{pull.id}".encode()).decode(),
            html_url=html, diff_url=f"{html}.diff", patch_url=f"{html}.patch",
            issue_url=f"{self._api(repo)}/issues/{pull.number}", commits_url=f"{api}/commits",
            review_comments_url=f"{api}/comments",
            review_comment_url=f"{self._api(repo)}/pulls/comments{{/number}}",
            comments_url=f"{self._api(repo)}/issues/{pull.number}/comments",
            statuses_url=f"{self._api(repo)}/statuses/{head_sha}", number=pull.number,
            state=pull.state, locked=False, title=issue.title, user=self._user(issue.user),
            body=issue.body, labels=[self._label_json(state, n) for n in issue.labels],
            milestone=None, active_lock_reason=None, created_at=issue.created_at,
            updated_at=issue.updated_at, closed_at=None, merged_at=None, merge_commit_sha=None,
            assignee=None, assignees=[], requested_reviewers=[], requested_teams=[],
            head={**side, "label": f"{repo.owner}:{pull.head}", "ref": pull.head, "sha": head_sha},
            base={**side, "label": f"{repo.owner}:{pull.base}", "ref": pull.base, "sha": base_sha},
            author_association=self._association(state, issue.user), auto_merge=None,
            draft=pull.draft, merged=False, mergeable=True, rebaseable=True,
            mergeable_state="draft" if pull.draft else "clean", merged_by=None,
            comments=len(state.comment_ids.get(pull.number, [])), review_comments=0,
            maintainer_can_modify=pull.maintainer_can_modify, commits=commits,
            additions=sum(d.additions for d in diff), deletions=sum(d.deletions for d in diff),
            changed_files=len(diff),
        )
        data["_links"] = {
            "self": {"href": api}, "html": {"href": html},
            "issue": {"href": f"{self._api(repo)}/issues/{pull.number}"},
            "comments": {"href": f"{self._api(repo)}/issues/{pull.number}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": f"{self._api(repo)}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": f"{self._api(repo)}/statuses/{head_sha}"},
        }
        return data

    def _paginate(self, call: _Call, items: list[Any]) -> _Reply:
        """One page of ``items`` plus GitHub's Link header (first/prev/next/last)."""
        def number(key: str, default: int) -> int:
            try:
                return int(call.query.get(key, default))
            except ValueError:
                return default

        per_page = min(max(number("per_page", 30), 1), 100)
        page = max(number("page", 1), 1)
        last = max(1, math.ceil(len(items) / per_page))
        start = (page - 1) * per_page
        reply = _Reply(200, items[start:start + per_page])
        assert call.state is not None
        rest = call.request.path.split("/", 4)[4] if call.request.path.startswith("/repos/") \
            else call.request.path.split("/", 3)[3]

        def link(target: int) -> str:
            query = {**call.query, "per_page": str(per_page), "page": str(target)}
            return (f"<{self.url}/repositories/{call.state.repo.id}/{rest}?"  # type: ignore[union-attr]
                    f"{urllib.parse.urlencode(query)}>")

        rels = []
        if page > 1:
            rels.append(f'{link(page - 1)}; rel="prev"')
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels.append(f'{link(1)}; rel="first"')
        if rels:
            reply.headers["link"] = ", ".join(rels)
        return reply

    # handlers: app and repository ------------------------------------------------------
    def _installation_ids(self) -> set[int]:
        return {state.repo.installation_id for state in self._repos.values()}

    def _get_app(self, call: _Call) -> _Reply:
        return _Reply(200, self._app_json())

    def _create_token(self, call: _Call) -> _Reply:
        installation_id = int(call.params["installation_id"])
        if installation_id not in self._installation_ids():
            raise ApiError(404)
        body = call.body if isinstance(call.body, dict) else {}
        names = body.get("repositories")
        mine = {s.repo.name.lower(): s for s in self._repos.values()
                if s.repo.installation_id == installation_id}
        if names is not None and (not isinstance(names, list) or any(
                not isinstance(n, str) or n.lower() not in mine for n in names)):
            raise ApiError(422, "There is at least one repository that does not exist or is "
                                "not accessible to the parent installation.")
        permissions = body.get("permissions") or {
            "contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"}
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = self.clock() + 3600
        self._tokens[token] = _Token(installation_id, expires,
                                     frozenset(n.lower() for n in names) if names else None,
                                     dict(permissions))
        self.installation_tokens_issued += 1
        data: dict[str, Any] = {"token": token, "expires_at": _iso(expires),
                                "permissions": dict(permissions),
                                "repository_selection": "selected" if names else "all"}
        if names:
            data["repositories"] = [self._repo_json(mine[n.lower()].repo, full=False)
                                    for n in names]
        return _Reply(201, data)

    def _get_installation(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        data = _rebase(example("installation"), self._pairs(repo))
        data.update(id=repo.installation_id, account=self._user(repo.owner), app_id=self.app_id,
                    app_slug=self.app_slug, target_type="User", target_id=self._user(repo.owner)["id"],
                    access_tokens_url=f"{self.url}/app/installations/{repo.installation_id}/access_tokens",
                    html_url=f"{WEB}/settings/installations/{repo.installation_id}",
                    repositories_url=f"{self.url}/installation/repositories",
                    permissions=self._app_json()["permissions"], events=self._app_json()["events"],
                    single_file_name=None, has_multiple_single_files=False, single_file_paths=[])
        return _Reply(200, data)

    def _get_repo(self, call: _Call) -> _Reply:
        assert call.state is not None
        return _Reply(200, self._repo_json(call.state.repo))

    def _get_permission(self, call: _Call) -> _Reply:
        assert call.state is not None
        login = call.params["username"]
        role = self._role(call.state, login)
        rank = _ROLE_RANK.index(role)
        user = {**self._user(login), "role_name": role, "permissions": {
            "pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4,
            "admin": rank >= 5}}
        return _Reply(200, {"permission": _ROLE_PERMISSION[role], "role_name": role, "user": user})

    def _get_check_runs(self, call: _Call) -> _Reply:
        assert call.state is not None
        sha = call.state.repo.resolve(call.params["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {call.params['ref']}")
        runs = copy.deepcopy(call.state.check_runs.get(sha, []))
        return _Reply(200, {"total_count": len(runs), "check_runs": runs})

    def _content_entry(
        self, repo: FakeRepo, *, ref: str, path: str, entry: TreeEntry
    ) -> dict[str, Any]:
        mode, kind, sha, size = entry.mode, entry.type, entry.sha, entry.size
        quoted = urllib.parse.quote(path)
        url = f"{self._api(repo)}/contents/{quoted}?ref={urllib.parse.quote(ref)}"
        is_dir = kind == "tree"
        git_url = f"{self._api(repo)}/git/{'trees' if is_dir else 'blobs'}/{sha}"
        html_url = f"{self._web(repo)}/{'tree' if is_dir else 'blob'}/{ref}/{quoted}"
        entry_type = ("dir" if is_dir else "submodule" if kind == "commit"
                      else "symlink" if mode == "120000" else "file")
        return {
            "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "size": size or 0,
            "url": url, "html_url": html_url, "git_url": git_url,
            "download_url": None if is_dir else
            f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{quoted}",
            "type": entry_type, "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def _get_contents(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        ref = call.query.get("ref") or repo.default_branch
        path = call.params.get("path", "").strip("/")
        tree = repo.resolve(ref, peel="tree")
        if tree is None:
            raise ApiError(404, f"No commit found for the ref {ref}")
        if path and not valid_tree_path(path):
            raise ApiError(404)
        parent, _, leaf = path.rpartition("/")
        try:
            if not path:
                entries = repo.ls_tree(tree)
                return _Reply(200, [self._content_entry(repo, ref=ref, path=e.path, entry=e)
                                    for e in entries])
            siblings = repo.ls_tree(f"{tree}:{parent}" if parent else tree)
        except GitError:
            raise ApiError(404) from None
        found = next((e for e in siblings if e.path == leaf), None)
        if found is None:
            raise ApiError(404)
        if found.type == "tree":
            children = repo.ls_tree(found.sha)
            return _Reply(200, [self._content_entry(repo, ref=ref, path=f"{path}/{e.path}", entry=e)
                                for e in children])
        entry = self._content_entry(repo, ref=ref, path=path, entry=found)
        if found.type != "blob":
            entry["submodule_git_url"] = ""
            return _Reply(200, entry)
        data = repo.read_blob(found.sha) or b""
        accept = call.request.headers.get("Accept", "")
        if "raw" in accept and found.mode != "120000":
            media = "application/vnd.github.v3.raw" if "v3.raw" in accept \
                else "application/vnd.github.raw"
            return _Reply(200, raw=data, content_type=f"{media}; charset=utf-8")
        if found.mode == "120000":
            entry["target"] = data.decode("utf-8", errors="replace")
            return _Reply(200, entry)
        too_big = len(data) > 1024 * 1024  # over 1 MB GitHub sends encoding "none"
        entry.update(content="" if too_big else _b64_lines(data),
                     encoding="none" if too_big else "base64")
        return _Reply(200, entry)

    def _get_tarball(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        ref = call.params.get("ref") or repo.default_branch
        if repo.ref_sha(f"refs/heads/{ref}") is not None:
            location_ref = f"refs/heads/{ref}"
        elif repo.resolve(ref) is not None:
            location_ref = ref
        else:
            raise ApiError(404)
        grant = secrets.token_hex(20).upper()
        # codeload links are pre-signed and short-lived (five minutes for private repos).
        self._codeload_tokens[grant] = (repo.full_name.lower(), self.clock() + 300)
        location = (f"{self.codeload_url}/{repo.owner}/{repo.name}/legacy.tar.gz/"
                    f"{location_ref}?token={grant}")
        return _Reply(302, raw=b"", content_type="text/html;charset=utf-8",
                      headers={"location": location})

    # handlers: git data ----------------------------------------------------------------
    def _body(self, call: _Call, resource: str, *required: str) -> dict[str, Any]:
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            raise ApiError(422, "Invalid request.\n\nFor 'links/0/schema', "
                                f"{json.dumps(call.body)} is not an object.")
        for name in required:
            if body.get(name) is None:
                raise _invalid(resource, name, "missing_field")
        return body

    def _post_blob(self, call: _Call) -> _Reply:
        assert call.state is not None
        body = self._body(call, "Blob", "content")
        content, encoding = body["content"], body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise _invalid("Blob", "content")
        if encoding == "base64":
            try:
                data = base64.b64decode(content.encode())
            except (binascii.Error, ValueError):
                raise _invalid("Blob", "content") from None
        elif encoding in ("utf-8", "utf8"):
            data = content.encode()
        else:
            raise ApiError(422, f"encoding must be one of utf-8, base64; got {encoding}")
        sha = call.state.repo.hash_blob(data)
        url = f"{self._api(call.state.repo)}/git/blobs/{sha}"
        return _Reply(201, {"url": url, "sha": sha}, headers={"location": url})

    def _get_blob(self, call: _Call) -> _Reply:
        assert call.state is not None
        sha = call.params["file_sha"]
        data = call.state.repo.read_blob(sha)
        if data is None:
            raise ApiError(404)
        full = call.state.repo.text("rev-parse", sha)
        return _Reply(200, {
            "sha": full, "node_id": base64.b64encode(f"04:Blob{full}".encode()).decode(),
            "size": len(data), "url": f"{self._api(call.state.repo)}/git/blobs/{full}",
            "content": _b64_lines(data), "encoding": "base64"})

    def _tree_json(self, repo: FakeRepo, tree: str, *, recursive: bool) -> dict[str, Any]:
        entries = []
        for e in repo.ls_tree(tree, recursive=recursive):
            kind = "trees" if e.type == "tree" else "blobs"
            item = {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha,
                    "url": f"{self._api(repo)}/git/{kind}/{e.sha}"}
            if e.size is not None:
                item["size"] = e.size
            entries.append(item)
        return {"sha": tree, "url": f"{self._api(repo)}/git/trees/{tree}", "tree": entries,
                "truncated": False}

    def _post_tree(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        body = self._body(call, "Tree", "tree")
        if not isinstance(body["tree"], list):
            raise _invalid("Tree", "tree")
        files: dict[str, tuple[str, str, str]] = {}
        if body.get("base_tree") is not None:
            if repo.object_type(str(body["base_tree"])) != "tree":
                raise ApiError(422, "GitRPC::BadObjectState")
            files = repo.flat_files(str(body["base_tree"]))
        for entry in body["tree"]:
            self._apply_tree_entry(repo, files, entry=entry)
        sha = repo.write_tree(files)
        return _Reply(201, self._tree_json(repo, sha, recursive=False),
                      headers={"location": f"{self._api(repo)}/git/trees/{sha}"})

    @staticmethod
    def _apply_tree_entry(repo: FakeRepo, files: dict[str, tuple[str, str, str]], *,
                          entry: Any) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise _invalid("Tree", "path", "missing_field")
        path, mode = entry["path"], entry.get("mode")
        if not valid_tree_path(path):
            raise ApiError(422, "tree.path contains a malformed path component")
        if mode not in ("100644", "100755", "040000", "160000", "120000"):
            raise ApiError(422, "tree.mode must be one of 100644, 100755, 040000, 160000, 120000")
        kind = "tree" if mode == "040000" else "commit" if mode == "160000" else "blob"
        if entry.get("type", kind) != kind:
            raise ApiError(422, f"tree.type must be {kind} for mode {mode}")
        has_sha, content = "sha" in entry, entry.get("content")
        if has_sha and content is not None:
            raise ApiError(422, "Must supply either tree.sha or tree.content, not both")
        if not has_sha and content is None:
            raise ApiError(422, "Must supply either tree.sha or tree.content")
        under = path + "/"
        for existing in [p for p in files if p == path or p.startswith(under)]:
            del files[existing]
        if has_sha and entry["sha"] is None:
            return  # sha: null deletes the path (a file or a whole directory)
        parts = path.split("/")
        for depth in range(1, len(parts)):
            files.pop("/".join(parts[:depth]), None)  # a file where a directory must go
        if content is not None:
            if kind != "blob" or not isinstance(content, str):
                raise ApiError(422, "tree.content is only valid for blob entries")
            files[path] = (mode, "blob", repo.hash_blob(content.encode()))
            return
        sha = str(entry["sha"])
        if kind == "commit":
            files[path] = (mode, kind, sha)
        elif repo.object_type(sha) != kind:
            raise ApiError(422, "GitRPC::BadObjectState")
        elif kind == "tree":
            for sub, value in repo.flat_files(sha).items():
                files[f"{path}/{sub}"] = value
        else:
            files[path] = (mode, kind, repo.text("rev-parse", sha))

    def _get_tree(self, call: _Call) -> _Reply:
        assert call.state is not None
        tree = call.state.repo.resolve(call.params["tree_sha"], peel="tree")
        if tree is None:
            raise ApiError(404)
        return _Reply(200, self._tree_json(call.state.repo, tree,
                                           recursive="recursive" in call.query))

    def _author(self, raw: Any, fallback: Author) -> Author:
        if raw is None:
            return fallback
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("email"):
            raise _invalid("Commit", "author")
        date = fallback.date
        if raw.get("date"):
            try:
                parsed = datetime.fromisoformat(str(raw["date"]).replace("Z", "+00:00"))
            except ValueError:
                raise _invalid("Commit", "author.date") from None
            stamp = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            date = f"@{int(stamp.timestamp())} +0000"
        return Author(str(raw["name"]), str(raw["email"]), date)

    def _commit_json(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        info = repo.commit_info(sha)
        assert info is not None

        def person(line: str) -> dict[str, str]:
            match = re.match(r"^(.*) <(.*)> (\d+) [+-]\d{4}$", line)
            assert match is not None
            return {"name": match.group(1), "email": match.group(2),
                    "date": _iso(int(match.group(3)))}

        return {
            "sha": sha, "node_id": base64.b64encode(f"06:Commit{sha}".encode()).decode(),
            "url": f"{self._api(repo)}/git/commits/{sha}",
            "html_url": f"{self._web(repo)}/commit/{sha}",
            "author": person(str(info["author"])), "committer": person(str(info["committer"])),
            "message": info["message"],
            "tree": {"sha": info["tree"], "url": f"{self._api(repo)}/git/trees/{info['tree']}"},
            "parents": [{"sha": p, "url": f"{self._api(repo)}/git/commits/{p}",
                         "html_url": f"{self._web(repo)}/commit/{p}"}
                        for p in info["parents"]],  # type: ignore[attr-defined]
            "verification": {"verified": False, "reason": "unsigned", "signature": None,
                             "payload": None, "verified_at": None},
        }

    def _post_commit(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        body = self._body(call, "Commit", "message", "tree")
        if not isinstance(body["message"], str):
            raise _invalid("Commit", "message")
        if repo.object_type(str(body["tree"])) != "tree":
            raise ApiError(422, "Tree SHA does not exist")
        parents = body.get("parents") or []
        if not isinstance(parents, list) or any(
                repo.object_type(str(p)) != "commit" for p in parents):
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
        login = call.login or self._bot_login()
        default = Author(login, f"{self._user(login)['id']}+{login}@users.noreply.github.com",
                         f"@{int(self.clock())} +0000")
        author = self._author(body.get("author"), default)
        committer = self._author(body.get("committer"), author)
        sha = repo.commit_tree(str(body["tree"]),
                               parents=[repo.text("rev-parse", str(p)) for p in parents],
                               message=body["message"], author=author, committer=committer)
        return _Reply(201, self._commit_json(repo, sha),
                      headers={"location": f"{self._api(repo)}/git/commits/{sha}"})

    def _get_commit(self, call: _Call) -> _Reply:
        assert call.state is not None
        sha = call.params["commit_sha"]
        if call.state.repo.object_type(sha) != "commit":
            raise ApiError(404)
        return _Reply(200, self._commit_json(call.state.repo, call.state.repo.text("rev-parse", sha)))

    def _ref_json(self, repo: FakeRepo, ref: str, *, sha: str) -> dict[str, Any]:
        return {"ref": ref, "node_id": base64.b64encode(f"03:Ref{ref}".encode()).decode(),
                "url": f"{self._api(repo)}/git/{ref}",
                "object": {"sha": sha, "type": repo.object_type(sha) or "commit",
                           "url": f"{self._api(repo)}/git/commits/{sha}"}}

    def _get_ref(self, call: _Call) -> _Reply:
        assert call.state is not None
        ref = "refs/" + call.params["ref"].removeprefix("refs/")
        sha = call.state.repo.ref_sha(ref)
        if sha is None:
            raise ApiError(404)
        return _Reply(200, self._ref_json(call.state.repo, ref, sha=sha))

    def _post_ref(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        body = self._body(call, "Reference", "ref", "sha")
        ref, sha = str(body["ref"]), str(body["sha"])
        if not ref.startswith("refs/") or ref.count("/") < 2 or not self._ref_name_ok(repo, ref):
            raise ApiError(422, "Reference name is invalid")
        if repo.object_type(sha) is None:
            raise ApiError(422, "Object does not exist")
        if repo.ref_sha(ref) is not None:
            raise ApiError(422, "Reference already exists")
        full = repo.text("rev-parse", sha)
        repo.set_ref(ref, full)
        return _Reply(201, self._ref_json(repo, ref, sha=full),
                      headers={"location": f"{self._api(repo)}/git/{ref}"})

    @staticmethod
    def _ref_name_ok(repo: FakeRepo, ref: str) -> bool:
        try:
            repo.run("check-ref-format", ref)
            return True
        except GitError:
            return False

    def _patch_ref(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        body = self._body(call, "Reference", "sha")
        ref = "refs/" + call.params["ref"].removeprefix("refs/")
        current = repo.ref_sha(ref)
        if current is None:
            raise ApiError(422, "Reference does not exist")
        sha = str(body["sha"])
        if repo.object_type(sha) != "commit":
            raise ApiError(422, "Object does not exist")
        full = repo.text("rev-parse", sha)
        if not body.get("force") and not repo.is_ancestor(current, full):
            raise ApiError(422, "Update is not a fast forward")
        repo.set_ref(ref, full)
        return _Reply(200, self._ref_json(repo, ref, sha=full))

    def _delete_ref(self, call: _Call) -> _Reply:
        assert call.state is not None
        ref = "refs/" + call.params["ref"].removeprefix("refs/")
        if call.state.repo.ref_sha(ref) is None:
            raise ApiError(422, "Reference does not exist")
        call.state.repo.delete_ref(ref)
        for pull in call.state.pulls.values():
            if f"refs/heads/{pull.head}" == ref and pull.state == "open":
                pull.state = "closed"  # GitHub closes a PR whose head branch is deleted
                call.state.issues[pull.number].state = "closed"
        return _Reply(204)

    # handlers: issues, comments, labels, reactions ---------------------------------------
    def _issue(self, call: _Call) -> _Issue:
        assert call.state is not None
        issue = call.state.issues.get(int(call.params["issue_number"]))
        if issue is None:
            raise ApiError(404)
        return issue

    def _comment(self, call: _Call) -> dict[str, Any]:
        found = self._comments.get(int(call.params["comment_id"]))
        if found is None or found[0] is not call.state:
            raise ApiError(404)
        return found[2]

    def _get_issue(self, call: _Call) -> _Reply:
        assert call.state is not None
        return _Reply(200, self._issue_json(call.state, self._issue(call)))

    def _list_comments(self, call: _Call) -> _Reply:
        assert call.state is not None
        issue = self._issue(call)
        items = self.comments(call.state.repo.owner, call.state.repo.name, issue.number)
        since = call.query.get("since")
        if since:
            items = [c for c in items if c["updated_at"] >= since]
        return self._paginate(call, items)

    def _post_comment(self, call: _Call) -> _Reply:
        assert call.state is not None
        issue = self._issue(call)
        body = self._body(call, "IssueComment", "body")
        if not isinstance(body["body"], str) or not body["body"]:
            raise _invalid("IssueComment", "body", "missing_field")
        comment = self._new_comment(call.state, issue, body=body["body"],
                                   login=call.login or "octocat")
        return _Reply(201, comment, headers={"location": comment["url"]})

    def _get_comment(self, call: _Call) -> _Reply:
        return _Reply(200, copy.deepcopy(self._comment(call)))

    def _patch_comment(self, call: _Call) -> _Reply:
        comment = self._comment(call)
        body = self._body(call, "IssueComment", "body")
        if not isinstance(body["body"], str):
            raise _invalid("IssueComment", "body")
        comment.update(body=body["body"], updated_at=_iso(self.clock()))
        return _Reply(200, copy.deepcopy(comment))

    def _post_reaction(self, call: _Call) -> _Reply:
        assert call.state is not None
        comment = self._comment(call)
        body = self._body(call, "Reaction", "content")
        if body["content"] not in _REACTIONS:
            raise _invalid("Reaction", "content")
        login = call.login or "octocat"
        existing = self._reactions.setdefault(comment["id"], [])
        for reaction in existing:
            if reaction["content"] == body["content"] and reaction["user"]["login"] == login:
                return _Reply(200, copy.deepcopy(reaction))
        reaction_id = self._new_id()
        reaction = {"id": reaction_id,
                    "node_id": base64.b64encode(f"08:Reaction{reaction_id}".encode()).decode(),
                    "user": self._user(login), "content": body["content"],
                    "created_at": _iso(self.clock())}
        existing.append(reaction)
        comment["reactions"] = self._rollup(comment["id"], call.state.repo)
        return _Reply(201, copy.deepcopy(reaction))

    def _add_labels(self, state: _RepoState, issue: _Issue, names: list[str]) -> None:
        for name in names:
            label = self._label_json(state, name)  # an existing label keeps its own case
            if label["name"].lower() not in (n.lower() for n in issue.labels):
                issue.labels.append(label["name"])

    def _post_labels(self, call: _Call) -> _Reply:
        assert call.state is not None
        issue = self._issue(call)
        raw = call.body.get("labels") if isinstance(call.body, dict) else call.body
        if not isinstance(raw, list) or not raw:
            raise _invalid("Label", "labels", "missing_field")
        names = [item.get("name") if isinstance(item, dict) else item for item in raw]
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise _invalid("Label", "name")
        self._add_labels(call.state, issue, names)
        return _Reply(200, [self._label_json(call.state, n) for n in issue.labels])

    def _delete_label(self, call: _Call) -> _Reply:
        assert call.state is not None
        issue = self._issue(call)
        wanted = call.params["name"].lower()
        kept = [n for n in issue.labels if n.lower() != wanted]
        if len(kept) == len(issue.labels):
            raise ApiError(404, "Label does not exist")
        issue.labels = kept
        return _Reply(200, [self._label_json(call.state, n) for n in kept])

    def _delete_labels(self, call: _Call) -> _Reply:
        self._issue(call).labels = []
        return _Reply(204)

    # handlers: pull requests and reviews ------------------------------------------------
    def _pull(self, call: _Call) -> _Pull:
        assert call.state is not None
        pull = call.state.pulls.get(int(call.params["pull_number"]))
        if pull is None:
            raise ApiError(404)
        return pull

    def _post_pull(self, call: _Call) -> _Reply:
        assert call.state is not None
        state, repo = call.state, call.state.repo
        body = self._body(call, "PullRequest", "head", "base")
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise _invalid("PullRequest", "title", "missing_field")
        head = str(body["head"])
        if ":" in head:
            owner, _, head = head.partition(":")
            if owner.lower() != repo.owner.lower():
                raise _invalid("PullRequest", "head")
        base = str(body["base"])
        head_sha = repo.ref_sha(f"refs/heads/{head}")
        base_sha = repo.ref_sha(f"refs/heads/{base}")
        if head_sha is None:
            raise _invalid("PullRequest", "head")
        if base_sha is None:
            raise _invalid("PullRequest", "base")
        for pull in state.pulls.values():
            if pull.state == "open" and pull.head == head and pull.base == base:
                raise ApiError(422, errors=[{"resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {repo.owner}:{head}."}])
        if repo.is_ancestor(head_sha, base_sha):
            raise ApiError(422, errors=[{"resource": "PullRequest", "code": "custom",
                                         "message": f"No commits between {base} and {head}"}])
        number = max(state.issues, default=0) + 1
        now = _iso(self.clock())
        state.issues[number] = _Issue(number, self._new_id(), body["title"], body.get("body"),
                                      call.login or "octocat", [], now, now, is_pull=True)
        state.pulls[number] = _Pull(number, self._new_id(), head, base, head_sha, base_sha,
                                    bool(body.get("draft", False)),
                                    bool(body.get("maintainer_can_modify", True)))
        data = self._pull_json(state, state.pulls[number])
        return _Reply(201, data, headers={"location": data["url"]})

    def _list_pulls(self, call: _Call) -> _Reply:
        assert call.state is not None
        wanted_state = call.query.get("state", "open")
        head = call.query.get("head")
        base = call.query.get("base")
        owner = call.state.repo.owner.lower()
        items = []
        for pull in sorted(call.state.pulls.values(), key=lambda p: -p.number):
            if wanted_state != "all" and pull.state != wanted_state:
                continue
            # Like GitHub: a head filter without "owner:" is silently ignored.
            if head and ":" in head:
                head_owner, _, head_ref = head.partition(":")
                if head_owner.lower() != owner or head_ref != pull.head:
                    continue
            if base and base != pull.base:
                continue
            items.append(self._pull_json(call.state, pull))
        return self._paginate(call, items)

    def _get_pull(self, call: _Call) -> _Reply:
        assert call.state is not None
        return _Reply(200, self._pull_json(call.state, self._pull(call)))

    def _get_pull_files(self, call: _Call) -> _Reply:
        assert call.state is not None
        repo = call.state.repo
        data = self._pull_json(call.state, self._pull(call))
        head_sha = data["head"]["sha"]
        items = []
        for diff in repo.diff_files(data["base"]["sha"], head_sha):
            quoted = urllib.parse.quote(diff.filename)
            item = {"sha": diff.sha, "filename": diff.filename, "status": diff.status,
                    "additions": diff.additions, "deletions": diff.deletions,
                    "changes": diff.additions + diff.deletions,
                    "blob_url": f"{self._web(repo)}/blob/{head_sha}/{quoted}",
                    "raw_url": f"{self._web(repo)}/raw/{head_sha}/{quoted}",
                    "contents_url": f"{self._api(repo)}/contents/{quoted}?ref={head_sha}"}
            if diff.patch is not None:
                item["patch"] = diff.patch
            items.append(item)
        return self._paginate(call, items)

    def _list_reviews(self, call: _Call) -> _Reply:
        assert call.state is not None
        pull = self._pull(call)
        return self._paginate(call, copy.deepcopy(call.state.reviews.get(pull.number, [])))

    def _post_review(self, call: _Call) -> _Reply:
        assert call.state is not None
        pull = self._pull(call)
        body = call.body if isinstance(call.body, dict) else {}
        event = body.get("event")
        if event not in _REVIEW_STATE:
            raise _invalid("PullRequestReview", "event")
        login = call.login or "octocat"
        author = call.state.issues[pull.number].user
        if login == author and event == "APPROVE":
            raise ApiError(422, "Unprocessable Entity",
                           errors=["Can not approve your own pull request"])
        if login == author and event == "REQUEST_CHANGES":
            raise ApiError(422, "Unprocessable Entity",
                           errors=["Can not request changes on your own pull request"])
        text = body.get("body")
        if event in ("COMMENT", "REQUEST_CHANGES") and not text:
            raise ApiError(422, "Unprocessable Entity",
                           errors=[f"Body can't be blank when the event is {event}"])
        repo = call.state.repo
        commit_id = body.get("commit_id") or self._pull_json(call.state, pull)["head"]["sha"]
        if repo.object_type(str(commit_id)) != "commit":
            raise ApiError(422, "Unprocessable Entity", errors=["Commit SHA is not valid"])
        review_id = self._new_id()
        html = f"{self._web(repo)}/pull/{pull.number}#pullrequestreview-{review_id}"
        pull_url = f"{self._api(repo)}/pulls/{pull.number}"
        review = {
            "id": review_id,
            "node_id": base64.b64encode(f"017:PullRequestReview{review_id}".encode()).decode(),
            "user": self._user(login), "body": text or "", "state": _REVIEW_STATE[event],
            "html_url": html, "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "commit_id": repo.text("rev-parse", str(commit_id)),
            "author_association": self._association(call.state, login),
        }
        if event is not None:
            review["submitted_at"] = _iso(self.clock())
        call.state.reviews.setdefault(pull.number, []).append(review)
        return _Reply(200, copy.deepcopy(review))

    def _put_review(self, call: _Call) -> _Reply:
        assert call.state is not None
        pull = self._pull(call)
        body = self._body(call, "PullRequestReview", "body")
        for review in call.state.reviews.get(pull.number, []):
            if review["id"] == int(call.params["review_id"]):
                review["body"] = str(body["body"])
                return _Reply(200, copy.deepcopy(review))
        raise ApiError(404)
