"""App auth for the fake GitHub (JWTs, installation tokens, repo visibility) and fault injection."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

import jwt
from aiohttp import web

from tests.fakes.app_keys import generate_app_key
from tests.fakes.github_shapes import GitHubShapes
from tests.fakes.github_types import (
    DOCS,
    STATUS_MESSAGE,
    WEB,
    ApiError,
    Call,
    Fault,
    Hold,
    Reply,
    Route,
    RouteSpec,
    Token,
    iso,
    rebase,
)
from tests.fakes.openapi_check import example

# A fault "status" meaning: drop the connection instead of answering.
DISCONNECT = 0

SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "0000:0000:0000000:0000000:00000000."
)


class GitHubAuth(GitHubShapes):
    """Who may call what: the App's JWT, installation tokens, and failures tests arm."""

    public_key_pem: str
    installation_tokens_issued: int
    manifest_codes: dict[str, dict[str, Any]]
    manifest_conversions: list[dict[str, Any]]
    _tokens: dict[str, Token]
    _faults: list[Fault]
    _holds: list[Hold]

    # test-side helpers -----------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Make every installation token issued so far expired (→ 401 on next use)."""
        for token in self._tokens.values():
            token.expires_at = self.clock() - 1

    def fail_next(
        self, method: str, path_regex: str, *, status: int, times: int = 1,
        body: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``times`` matching requests fail with ``status`` and change nothing."""
        self._faults.append(Fault(method.upper(), re.compile(path_regex), status, times,
                                  body, dict(headers or {}), after_effect=False))

    def fail_after_effect(
        self, method: str, path_regex: str, *, status: int, times: int = 1,
        body: dict[str, Any] | None = None, headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``times`` matching requests take effect, then answer ``status`` anyway."""
        self._faults.append(Fault(method.upper(), re.compile(path_regex), status, times,
                                  body, dict(headers or {}), after_effect=True))

    def disconnect_after_effect(self, method: str, path_regex: str, *, times: int = 1) -> None:
        """The next ``times`` matching requests take effect, then the connection drops before
        any answer (a network error or timeout on the client's side)."""
        self._faults.append(Fault(method.upper(), re.compile(path_regex), DISCONNECT, times,
                                  None, {}, after_effect=True))

    def hold_next(self, method: str, path_regex: str) -> Hold:
        """The next matching request (either host) is held until ``release()``; then answered as usual."""
        hold = Hold(method.upper(), re.compile(path_regex))
        self._holds.append(hold)
        return hold

    async def _wait_if_held(self, method: str, path: str) -> None:
        for hold in self._holds:
            if not hold.taken and hold.method in (method, "*") and hold.pattern.search(path):
                hold.taken = True
                hold.arrived.set()
                await hold.released.wait()
                return

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

    # faults ----------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (method, "*") and fault.pattern.search(path):
                fault.remaining -= 1
                return fault
        return None

    def _fault_response(self, fault: Fault, request: web.Request) -> web.Response:
        if fault.status == DISCONNECT:
            # Like a proxy or the network losing the answer: the work is done, no reply comes.
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        body = fault.body or {"message": STATUS_MESSAGE.get(fault.status, "Error"),
                              "documentation_url": DOCS}
        headers = {**self._std_headers(), **fault.headers}
        return web.Response(status=fault.status, text=json.dumps(body), headers=headers,
                            content_type="application/json", charset="utf-8")

    # authorization ---------------------------------------------------------------------
    def _authorize(
        self, route: Route, request: web.Request, params: dict[str, str], body: Any
    ) -> Call:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        credential = credential.strip()
        login: str | None = None
        token: Token | None = None
        if route.auth == "jwt":
            if scheme.lower() != "bearer" or not self._jwt_ok(credential):
                raise ApiError(401, "Bad credentials")
        elif route.auth == "none":
            pass  # the manifest code itself is the credential
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
        return Call(request, params, dict(request.query), body, state, login)

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

    # handlers: app and installation ----------------------------------------------------
    def _auth_routes(self) -> list[RouteSpec]:
        return [
            ("GET", "/app", "jwt", self._get_app, None),
            ("POST", "/app/installations/{installation_id}/access_tokens", "jwt",
             self._create_token, None),
            ("GET", "/repos/{owner}/{repo}/installation", "jwt", self._get_installation, None),
            ("GET", "/app/installations", "jwt", self._list_installations, None),
            ("POST", "/app-manifests/{code}/conversions", "none", self._convert_manifest, None),
        ]

    def _installation_ids(self) -> set[int]:
        return {state.repo.installation_id for state in self._repos.values()}

    def _get_app(self, call: Call) -> Reply:
        return Reply(200, self._app_json())

    def _create_token(self, call: Call) -> Reply:
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
        self._tokens[token] = Token(installation_id, expires,
                                    frozenset(n.lower() for n in names) if names else None,
                                    dict(permissions))
        self.installation_tokens_issued += 1
        data: dict[str, Any] = {"token": token, "expires_at": iso(expires),
                                "permissions": dict(permissions),
                                "repository_selection": "selected" if names else "all"}
        if names:
            data["repositories"] = [self._repo_json(mine[n.lower()].repo, full=False)
                                    for n in names]
        return Reply(201, data)

    def _convert_manifest(self, call: Call) -> Reply:
        """POST /app-manifests/{code}/conversions: the App made from a confirmed manifest, once per code
        (shape: GitHub's "Create a GitHub App from a manifest"; the key is this fake's App key, so
        what register writes works against this fake)."""
        pending = self.manifest_codes.pop(call.params["code"], None)
        if pending is None:
            raise ApiError(404)
        manifest = pending["manifest"]
        private_pem = self.private_key_pem or generate_app_key()[0]
        app = self._app_json()
        app.update(name=manifest.get("name") or app["name"], description=manifest.get("description"),
                   external_url=manifest.get("url"), owner=self._user(pending["account"]),
                   permissions=manifest.get("default_permissions") or {},
                   events=manifest.get("default_events") or [],
                   client_id="Iv23li" + secrets.token_hex(7), client_secret=secrets.token_hex(20),
                   webhook_secret=secrets.token_hex(20), pem=private_pem)
        self.manifest_conversions.append({"code": call.params["code"], "webhook_secret": app["webhook_secret"]})
        return Reply(201, app)

    def _list_installations(self, call: Call) -> Reply:
        """GET /app/installations: one entry per account the App is installed on (one page)."""
        first: dict[int, Any] = {}
        for state in self._repos.values():
            first.setdefault(state.repo.installation_id, state.repo)
        return Reply(200, [self._installation_json(repo) for _, repo in sorted(first.items())])

    def _get_installation(self, call: Call) -> Reply:
        assert call.state is not None
        return Reply(200, self._installation_json(call.state.repo))

    def _installation_json(self, repo: Any) -> dict[str, Any]:
        data = rebase(example("installation"), self._pairs(repo))
        data.update(id=repo.installation_id, account=self._user(repo.owner), app_id=self.app_id,
                    app_slug=self.app_slug, target_type="User", target_id=self._user(repo.owner)["id"],
                    access_tokens_url=f"{self.url}/app/installations/{repo.installation_id}/access_tokens",
                    html_url=f"{WEB}/settings/installations/{repo.installation_id}",
                    repositories_url=f"{self.url}/installation/repositories",
                    permissions=self._app_json()["permissions"], events=self._app_json()["events"],
                    single_file_name=None, has_multiple_single_files=False, single_file_paths=[])
        return data
