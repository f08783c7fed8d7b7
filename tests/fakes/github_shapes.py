"""JSON shapes of the fake GitHub (users, app, repos, labels, issues, comments, pulls, pages)."""

from __future__ import annotations

import copy
import math
import secrets
import urllib.parse
from collections.abc import Callable
from typing import Any

from tests.fakes.github_git import FakeRepo, GitError
from tests.fakes.github_types import (
    REACTIONS,
    TEMPLATE_REPO,
    WEB,
    Call,
    Issue,
    Pull,
    Reply,
    RepoState,
    iso,
    node_id,
    rebase,
)
from tests.fakes.openapi_check import example


class GitHubShapes:
    """The state every part of the fake shares, and the JSON built from it.

    Shapes start from the OpenAPI examples so every field GitHub sends is there.
    """

    url: str
    app_id: int
    app_slug: str
    clock: Callable[[], float]
    _repos: dict[tuple[str, str], RepoState]
    _comments: dict[int, tuple[RepoState, int, dict[str, Any]]]
    _reactions: dict[int, list[dict[str, Any]]]
    _user_ids: dict[str, int]
    _next_id: int
    _rate_used: int
    _rate_reset: int

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _state(self, owner: str, name: str) -> RepoState:
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

    def _pairs(self, repo: FakeRepo | None = None) -> list[tuple[str, str]]:
        pairs = []
        if repo is not None:
            pairs = [(f"https://api.github.com/repos/{TEMPLATE_REPO}", self._api(repo)),
                     (f"{WEB}/{TEMPLATE_REPO}", self._web(repo)),
                     (TEMPLATE_REPO, repo.full_name)]
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
            "login": login, "id": user_id, "node_id": node_id(f"04:User{user_id}"),
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
        app = rebase(example("integration"), self._pairs())
        app.update(id=self.app_id, slug=self.app_slug, name=self.app_slug,
                   node_id=node_id(f"03:Integration{self.app_id}"),
                   owner=self._user("route-me-owner"), html_url=f"{WEB}/apps/{self.app_slug}",
                   permissions={"contents": "write", "issues": "write", "metadata": "read",
                                "pull_requests": "write"},
                   events=["issues", "issue_comment", "pull_request"])
        return app

    def _repo_json(self, repo: FakeRepo, *, full: bool = True) -> dict[str, Any]:
        if full:
            data = rebase(example("full-repository-default-response"), self._pairs(repo))
            for key in ("parent", "source", "template_repository", "organization"):
                data.pop(key, None)
        else:
            data = rebase(example("pull-request")["head"]["repo"], self._pairs(repo))
        data.update(id=repo.id, name=repo.name, full_name=repo.full_name,
                    node_id=node_id(f"010:Repository{repo.id}"),
                    owner=self._user(repo.owner), private=repo.private, fork=False,
                    default_branch=repo.default_branch, language="Python",
                    mirror_url=None, homepage=None, description=None,
                    visibility="private" if repo.private else "public")
        return data

    def _label_json(self, state: RepoState, name: str) -> dict[str, Any]:
        key = name.lower()
        if key not in state.labels:
            label_id = self._new_id()
            state.labels[key] = {
                "id": label_id, "node_id": node_id(f"05:Label{label_id}"),
                "url": f"{self._api(state.repo)}/labels/{urllib.parse.quote(name)}",
                "name": name, "color": "ededed", "default": False, "description": None,
            }
        return dict(state.labels[key])

    def _add_labels(self, state: RepoState, issue: Issue, names: list[str]) -> None:
        for name in names:
            label = self._label_json(state, name)  # an existing label keeps its own case
            if label["name"].lower() not in (n.lower() for n in issue.labels):
                issue.labels.append(label["name"])

    def _association(self, state: RepoState, login: str) -> str:
        if login.lower() == state.repo.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if self._role(state, login) not in ("none", "read") else "NONE"

    def _role(self, state: RepoState, login: str) -> str:
        if login.lower() in state.roles:
            return state.roles[login.lower()]
        return "admin" if login.lower() == state.repo.owner.lower() else "read"

    def _issue_json(self, state: RepoState, issue: Issue) -> dict[str, Any]:
        repo = state.repo
        data = rebase(example("issue"), self._pairs(repo))
        api = f"{self._api(repo)}/issues/{issue.number}"
        kind = "pull" if issue.is_pull else "issues"
        data.update(
            id=issue.id, node_id=node_id(f"05:Issue{issue.id}"),
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
        self, state: RepoState, issue: Issue, *, body: str, login: str
    ) -> dict[str, Any]:
        comment_id = self._new_id()
        now = iso(self.clock())
        repo = state.repo
        kind = "pull" if issue.is_pull else "issues"
        comment = rebase(example("issue-comment"), self._pairs(repo))
        comment.update(
            id=comment_id, node_id=node_id(f"012:IssueComment{comment_id}"),
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

    def _comment_copies(self, state: RepoState, number: int) -> list[dict[str, Any]]:
        return [copy.deepcopy(self._comments[cid][2]) for cid in state.comment_ids.get(number, [])]

    def _rollup(self, comment_id: int, repo: FakeRepo) -> dict[str, Any]:
        counts = {key: 0 for key in sorted(REACTIONS)}
        for reaction in self._reactions.get(comment_id, []):
            counts[reaction["content"]] += 1
        return {"url": f"{self._api(repo)}/issues/comments/{comment_id}/reactions",
                "total_count": sum(counts.values()), **counts}

    def _pull_json(self, state: RepoState, pull: Pull) -> dict[str, Any]:
        repo = state.repo
        issue = state.issues[pull.number]
        head_sha = repo.ref_sha(f"refs/heads/{pull.head}") or pull.head_sha
        base_sha = repo.ref_sha(f"refs/heads/{pull.base}") or pull.base_sha
        api = f"{self._api(repo)}/pulls/{pull.number}"
        html = f"{self._web(repo)}/pull/{pull.number}"
        issue_api = f"{self._api(repo)}/issues/{pull.number}"
        data = rebase(example("pull-request"), self._pairs(repo))
        try:
            diff = repo.diff_files(base_sha, head_sha)
            commits = int(repo.text("rev-list", "--count", f"{base_sha}..{head_sha}"))
        except GitError:
            diff, commits = [], 0
        owner_user = self._user(repo.owner)
        side = {"user": owner_user, "repo": self._repo_json(repo, full=False)}
        data.update(
            url=api, id=pull.id, node_id=node_id(f"011:PullRequest{pull.id}"),
            html_url=html, diff_url=f"{html}.diff", patch_url=f"{html}.patch",
            issue_url=issue_api, commits_url=f"{api}/commits",
            review_comments_url=f"{api}/comments",
            review_comment_url=f"{self._api(repo)}/pulls/comments{{/number}}",
            comments_url=f"{issue_api}/comments",
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
            "issue": {"href": issue_api},
            "comments": {"href": f"{issue_api}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": f"{self._api(repo)}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": f"{self._api(repo)}/statuses/{head_sha}"},
        }
        return data

    def _paginate(self, call: Call, items: list[Any]) -> Reply:
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
        reply = Reply(200, items[start:start + per_page])
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
