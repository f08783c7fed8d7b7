"""Fake GitHub routes for the repository, its collaborators, issues, comments, labels and reactions."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.github_shapes import GitHubShapes
from tests.fakes.github_types import (
    REACTIONS,
    ROLE_PERMISSION,
    ROLE_RANK,
    ApiError,
    Call,
    Issue,
    Reply,
    RouteSpec,
    invalid,
    iso,
    json_object,
    node_id,
)


class IssueRoutes(GitHubShapes):
    """GET repos/{o}/{r}, collaborator permission, and everything under issues/."""

    def _issue_routes(self) -> list[RouteSpec]:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r, "token", self._get_repo, None),
            ("GET", r + "/collaborators/{username}/permission", "token", self._get_permission,
             None),
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
        ]

    # handlers: repository and collaborators --------------------------------------------
    def _get_repo(self, call: Call) -> Reply:
        assert call.state is not None
        return Reply(200, self._repo_json(call.state.repo))

    def _get_permission(self, call: Call) -> Reply:
        assert call.state is not None
        login = call.params["username"]
        role = self._role(call.state, login)
        rank = ROLE_RANK.index(role)
        user = {**self._user(login), "role_name": role, "permissions": {
            "pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4,
            "admin": rank >= 5}}
        return Reply(200, {"permission": ROLE_PERMISSION[role], "role_name": role, "user": user})

    # handlers: issues, comments, labels, reactions ---------------------------------------
    def _issue(self, call: Call) -> Issue:
        assert call.state is not None
        issue = call.state.issues.get(int(call.params["issue_number"]))
        if issue is None:
            raise ApiError(404)
        return issue

    def _comment(self, call: Call) -> dict[str, Any]:
        found = self._comments.get(int(call.params["comment_id"]))
        if found is None or found[0] is not call.state:
            raise ApiError(404)
        return found[2]

    def _get_issue(self, call: Call) -> Reply:
        assert call.state is not None
        return Reply(200, self._issue_json(call.state, self._issue(call)))

    def _list_comments(self, call: Call) -> Reply:
        assert call.state is not None
        issue = self._issue(call)
        items = self._comment_copies(call.state, issue.number)
        since = call.query.get("since")
        if since:
            items = [c for c in items if c["updated_at"] >= since]
        return self._paginate(call, items)

    def _post_comment(self, call: Call) -> Reply:
        assert call.state is not None
        issue = self._issue(call)
        body = json_object(call, "IssueComment", "body")
        if not isinstance(body["body"], str) or not body["body"]:
            raise invalid("IssueComment", "body", "missing_field")
        comment = self._new_comment(call.state, issue, body=body["body"],
                                   login=call.login or "octocat")
        return Reply(201, comment, headers={"location": comment["url"]})

    def _get_comment(self, call: Call) -> Reply:
        return Reply(200, copy.deepcopy(self._comment(call)))

    def _patch_comment(self, call: Call) -> Reply:
        comment = self._comment(call)
        body = json_object(call, "IssueComment", "body")
        if not isinstance(body["body"], str):
            raise invalid("IssueComment", "body")
        comment.update(body=body["body"], updated_at=iso(self.clock()))
        return Reply(200, copy.deepcopy(comment))

    def _post_reaction(self, call: Call) -> Reply:
        assert call.state is not None
        comment = self._comment(call)
        body = json_object(call, "Reaction", "content")
        if body["content"] not in REACTIONS:
            raise invalid("Reaction", "content")
        login = call.login or "octocat"
        existing = self._reactions.setdefault(comment["id"], [])
        for reaction in existing:
            if reaction["content"] == body["content"] and reaction["user"]["login"] == login:
                return Reply(200, copy.deepcopy(reaction))
        reaction_id = self._new_id()
        reaction = {"id": reaction_id,
                    "node_id": node_id(f"08:Reaction{reaction_id}"),
                    "user": self._user(login), "content": body["content"],
                    "created_at": iso(self.clock())}
        existing.append(reaction)
        comment["reactions"] = self._rollup(comment["id"], call.state.repo)
        return Reply(201, copy.deepcopy(reaction))

    def _post_labels(self, call: Call) -> Reply:
        assert call.state is not None
        issue = self._issue(call)
        raw = call.body.get("labels") if isinstance(call.body, dict) else call.body
        if not isinstance(raw, list) or not raw:
            raise invalid("Label", "labels", "missing_field")
        names = [item.get("name") if isinstance(item, dict) else item for item in raw]
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise invalid("Label", "name")
        self._add_labels(call.state, issue, names)
        return Reply(200, [self._label_json(call.state, n) for n in issue.labels])

    def _delete_label(self, call: Call) -> Reply:
        assert call.state is not None
        issue = self._issue(call)
        wanted = call.params["name"].lower()
        kept = [n for n in issue.labels if n.lower() != wanted]
        if len(kept) == len(issue.labels):
            raise ApiError(404, "Label does not exist")
        issue.labels = kept
        return Reply(200, [self._label_json(call.state, n) for n in kept])

    def _delete_labels(self, call: Call) -> Reply:
        self._issue(call).labels = []
        return Reply(204)

