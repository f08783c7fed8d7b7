"""Plain values of the fake GitHub: errors, stored state, requests, replies and routes."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.github_git import FakeRepo

WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"
TEMPLATE_REPO = "octocat/Hello-World"
_MULTI_SEGMENT = frozenset({"path", "ref", "tree_sha"})
_NUMERIC = frozenset({"installation_id", "issue_number", "pull_number", "comment_id", "review_id"})
# GitHub's `permission` field only knows the classic levels; role_name keeps the real role.
ROLE_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write",
                   "triage": "read", "read": "read", "none": "none"}
ROLE_RANK = ["none", "read", "triage", "write", "maintain", "admin"]
REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})
REVIEW_STATE = {"COMMENT": "COMMENTED", "APPROVE": "APPROVED",
                "REQUEST_CHANGES": "CHANGES_REQUESTED", None: "PENDING"}
STATUS_MESSAGE = {400: "Bad Request", 401: "Bad credentials", 403: "Forbidden", 404: "Not Found",
                  409: "Conflict", 410: "Gone", 422: "Validation Failed",
                  429: "Too Many Requests", 500: "Server Error", 502: "Server Error",
                  503: "Service Unavailable", 504: "Gateway Timeout"}


class ApiError(Exception):
    """An error answer in GitHub's format: ``{"message", "errors"?, "documentation_url"}``."""

    def __init__(
        self, status: int, message: str | None = None, *, errors: list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message or STATUS_MESSAGE.get(status, "Error")}
        if errors is not None:
            self.body["errors"] = errors
        self.body["documentation_url"] = DOCS
        self.headers = dict(headers or {})


def invalid(resource: str, field_name: str, code: str = "invalid") -> ApiError:
    """GitHub's 422 naming one bad field of a resource."""
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
class Fault:
    """A failure armed by a test for the next ``remaining`` matching requests."""

    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    after_effect: bool


@dataclass
class Hold:
    """The next matching request waits until the test calls ``release()``.

    ``arrived`` is set when the request comes in, so a test can act while it is in flight
    (e.g. cancel an issue during the tarball download).
    """

    method: str
    pattern: re.Pattern[str]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    taken: bool = False

    def release(self) -> None:
        self.released.set()


@dataclass
class Token:
    """An installation token and what it may reach."""

    installation_id: int
    expires_at: float
    repositories: frozenset[str] | None
    permissions: dict[str, str]


@dataclass
class Issue:
    """An issue or the issue half of a pull request (they share numbers)."""

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
class Pull:
    """The pull-request half: branches and the shas they had when it was opened."""

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
class RepoState:
    """Everything the fake knows about one repository beyond its git objects."""

    repo: FakeRepo
    issues: dict[int, Issue] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    comment_ids: dict[int, list[int]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Reply:
    """What a route handler answers: JSON ``data`` or ``raw`` bytes."""

    status: int
    data: Any = None
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """An authorized request as a route handler sees it."""

    request: web.Request
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    state: RepoState | None
    login: str | None


Handler = Callable[[Call], Reply]
# (method, OpenAPI path template, "jwt" or "token", handler, regex overriding the template)
RouteSpec = tuple[str, str, str, Handler, str | None]


@dataclass
class Route:
    """One compiled entry of the route table."""

    method: str
    regex: re.Pattern[str]
    template: str
    auth: str
    handler: Handler


def compile_routes(table: Sequence[RouteSpec]) -> list[Route]:
    """Routes matched in table order; a template becomes a regex unless one is given."""
    return [
        Route(method, re.compile(pattern) if pattern else _route_regex(template),
              template, auth, handler)
        for method, template, auth, handler, pattern in table
    ]


def _route_regex(template: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        body = ".+" if name in _MULTI_SEGMENT else r"\d+" if name in _NUMERIC else "[^/]+"
        return f"(?P<{name}>{body})"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, template) + "$")


def json_object(call: Call, resource: str, *required: str) -> dict[str, Any]:
    """The request body as an object holding every ``required`` field, or GitHub's 422."""
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise ApiError(422, "Invalid request.\n\nFor 'links/0/schema', "
                            f"{json.dumps(call.body)} is not an object.")
    for name in required:
        if body.get(name) is None:
            raise invalid(resource, name, "missing_field")
    return body


def iso(ts: float) -> str:
    """A timestamp the way GitHub writes them."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def node_id(text: str) -> str:
    """A global node id in GitHub's legacy base64 form."""
    return base64.b64encode(text.encode()).decode()


def rebase(node: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    """Rewrite every string of an example so its URLs point at our repo and host."""
    if isinstance(node, str):
        for old, new in pairs:
            node = node.replace(old, new)
        return node
    if isinstance(node, list):
        return [rebase(item, pairs) for item in node]
    if isinstance(node, dict):
        return {key: rebase(value, pairs) for key, value in node.items()}
    return node


def b64_lines(data: bytes) -> str:
    """Base64 the way the contents and blobs APIs send it."""
    # GitHub wraps base64 content at 60 characters per line, newline-terminated.
    flat = base64.b64encode(data).decode()
    return "".join(flat[i:i + 60] + "\n" for i in range(0, len(flat), 60))
