"""Fake GitHub routes for pull requests, their files and reviews, and commit check runs."""

from __future__ import annotations

import copy
import urllib.parse

from tests.fakes.github_shapes import GitHubShapes
from tests.fakes.github_types import (
    REVIEW_STATE,
    ApiError,
    Call,
    Issue,
    Pull,
    Reply,
    RouteSpec,
    invalid,
    iso,
    json_object,
    node_id,
)


class PullRoutes(GitHubShapes):
    """pulls/ (open, list, get, files, reviews) and commits/{ref}/check-runs."""

    def _pull_routes(self) -> list[RouteSpec]:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r + "/commits/{ref}/check-runs", "token", self._get_check_runs,
             r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/commits/(?P<ref>.+)/check-runs$"),
            ("GET", r + "/pulls", "token", self._list_pulls, None),
            ("POST", r + "/pulls", "token", self._post_pull, None),
            ("GET", r + "/pulls/{pull_number}", "token", self._get_pull, None),
            ("GET", r + "/pulls/{pull_number}/files", "token", self._get_pull_files, None),
            ("GET", r + "/pulls/{pull_number}/reviews", "token", self._list_reviews, None),
            ("POST", r + "/pulls/{pull_number}/reviews", "token", self._post_review, None),
            ("PUT", r + "/pulls/{pull_number}/reviews/{review_id}", "token",
             self._put_review, None),
        ]

    def _get_check_runs(self, call: Call) -> Reply:
        assert call.state is not None
        sha = call.state.repo.resolve(call.params["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {call.params['ref']}")
        runs = copy.deepcopy(call.state.check_runs.get(sha, []))
        return Reply(200, {"total_count": len(runs), "check_runs": runs})

    # handlers: pull requests and reviews ------------------------------------------------
    def _pull(self, call: Call) -> Pull:
        assert call.state is not None
        pull = call.state.pulls.get(int(call.params["pull_number"]))
        if pull is None:
            raise ApiError(404)
        return pull

    def _post_pull(self, call: Call) -> Reply:
        assert call.state is not None
        state, repo = call.state, call.state.repo
        body = json_object(call, "PullRequest", "head", "base")
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise invalid("PullRequest", "title", "missing_field")
        head = str(body["head"])
        if ":" in head:
            owner, _, head = head.partition(":")
            if owner.lower() != repo.owner.lower():
                raise invalid("PullRequest", "head")
        base = str(body["base"])
        head_sha = repo.ref_sha(f"refs/heads/{head}")
        base_sha = repo.ref_sha(f"refs/heads/{base}")
        if head_sha is None:
            raise invalid("PullRequest", "head")
        if base_sha is None:
            raise invalid("PullRequest", "base")
        for pull in state.pulls.values():
            if pull.state == "open" and pull.head == head and pull.base == base:
                raise ApiError(422, errors=[{"resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {repo.owner}:{head}."}])
        if repo.is_ancestor(head_sha, base_sha):
            raise ApiError(422, errors=[{"resource": "PullRequest", "code": "custom",
                                         "message": f"No commits between {base} and {head}"}])
        number = max(state.issues, default=0) + 1
        now = iso(self.clock())
        state.issues[number] = Issue(number, self._new_id(), body["title"], body.get("body"),
                                     call.login or "octocat", [], now, now, is_pull=True)
        state.pulls[number] = Pull(number, self._new_id(), head, base, head_sha, base_sha,
                                   bool(body.get("draft", False)),
                                   bool(body.get("maintainer_can_modify", True)))
        data = self._pull_json(state, state.pulls[number])
        return Reply(201, data, headers={"location": data["url"]})

    def _list_pulls(self, call: Call) -> Reply:
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

    def _get_pull(self, call: Call) -> Reply:
        assert call.state is not None
        return Reply(200, self._pull_json(call.state, self._pull(call)))

    def _get_pull_files(self, call: Call) -> Reply:
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

    def _list_reviews(self, call: Call) -> Reply:
        assert call.state is not None
        pull = self._pull(call)
        return self._paginate(call, copy.deepcopy(call.state.reviews.get(pull.number, [])))

    def _post_review(self, call: Call) -> Reply:
        assert call.state is not None
        pull = self._pull(call)
        body = call.body if isinstance(call.body, dict) else {}
        event = body.get("event")
        if event not in REVIEW_STATE:
            raise invalid("PullRequestReview", "event")
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
            "node_id": node_id(f"017:PullRequestReview{review_id}"),
            "user": self._user(login), "body": text or "", "state": REVIEW_STATE[event],
            "html_url": html, "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "commit_id": repo.text("rev-parse", str(commit_id)),
            "author_association": self._association(call.state, login),
        }
        if event is not None:
            review["submitted_at"] = iso(self.clock())
        call.state.reviews.setdefault(pull.number, []).append(review)
        return Reply(200, copy.deepcopy(review))

    def _put_review(self, call: Call) -> Reply:
        assert call.state is not None
        pull = self._pull(call)
        body = json_object(call, "PullRequestReview", "body")
        for review in call.state.reviews.get(pull.number, []):
            if review["id"] == int(call.params["review_id"]):
                review["body"] = str(body["body"])
                return Reply(200, copy.deepcopy(review))
        raise ApiError(404)
