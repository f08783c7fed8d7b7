"""Fake GitHub routes for repository contents, tarball redirects and the git data API."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import urllib.parse
from datetime import datetime, timezone
from typing import Any

from tests.fakes.github_git import Author, FakeRepo, GitError, TreeEntry, valid_tree_path
from tests.fakes.github_shapes import GitHubShapes
from tests.fakes.github_types import (
    ApiError,
    Call,
    Reply,
    RouteSpec,
    b64_lines,
    invalid,
    iso,
    json_object,
    node_id,
)


class GitRoutes(GitHubShapes):
    """contents/, tarball/ (a 302 to codeload) and git/{blobs,trees,commits,refs}."""

    codeload_url: str
    _codeload_tokens: dict[str, tuple[str, float]]
    tree_listing_max_entries: int
    tree_listing_max_bytes: int

    def _git_routes(self) -> list[RouteSpec]:
        r = "/repos/{owner}/{repo}"
        return [
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
        ]

    # handlers: contents and tarball ----------------------------------------------------
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

    def _get_contents(self, call: Call) -> Reply:
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
                return Reply(200, [self._content_entry(repo, ref=ref, path=e.path, entry=e)
                                    for e in entries])
            siblings = repo.ls_tree(f"{tree}:{parent}" if parent else tree)
        except GitError:
            raise ApiError(404) from None
        found = next((e for e in siblings if e.path == leaf), None)
        if found is None:
            raise ApiError(404)
        if found.type == "tree":
            children = repo.ls_tree(found.sha)
            return Reply(200, [self._content_entry(repo, ref=ref, path=f"{path}/{e.path}", entry=e)
                                for e in children])
        entry = self._content_entry(repo, ref=ref, path=path, entry=found)
        if found.type != "blob":
            entry["submodule_git_url"] = ""
            return Reply(200, entry)
        data = repo.read_blob(found.sha) or b""
        accept = call.request.headers.get("Accept", "")
        if "raw" in accept and found.mode != "120000":
            media = "application/vnd.github.v3.raw" if "v3.raw" in accept \
                else "application/vnd.github.raw"
            return Reply(200, raw=data, content_type=f"{media}; charset=utf-8")
        if found.mode == "120000":
            entry["target"] = data.decode("utf-8", errors="replace")
            return Reply(200, entry)
        too_big = len(data) > 1024 * 1024  # over 1 MB GitHub sends encoding "none"
        entry.update(content="" if too_big else b64_lines(data),
                     encoding="none" if too_big else "base64")
        return Reply(200, entry)

    def _get_tarball(self, call: Call) -> Reply:
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
        return Reply(302, raw=b"", content_type="text/html;charset=utf-8",
                     headers={"location": location})

    # handlers: git data ----------------------------------------------------------------
    def _post_blob(self, call: Call) -> Reply:
        assert call.state is not None
        body = json_object(call, "Blob", "content")
        content, encoding = body["content"], body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise invalid("Blob", "content")
        if encoding == "base64":
            try:
                data = base64.b64decode(content.encode())
            except (binascii.Error, ValueError):
                raise invalid("Blob", "content") from None
        elif encoding in ("utf-8", "utf8"):
            data = content.encode()
        else:
            raise ApiError(422, f"encoding must be one of utf-8, base64; got {encoding}")
        sha = call.state.repo.hash_blob(data)
        url = f"{self._api(call.state.repo)}/git/blobs/{sha}"
        return Reply(201, {"url": url, "sha": sha}, headers={"location": url})

    def _get_blob(self, call: Call) -> Reply:
        assert call.state is not None
        sha = call.params["file_sha"]
        data = call.state.repo.read_blob(sha)
        if data is None:
            raise ApiError(404)
        full = call.state.repo.text("rev-parse", sha)
        return Reply(200, {
            "sha": full, "node_id": node_id(f"04:Blob{full}"),
            "size": len(data), "url": f"{self._api(call.state.repo)}/git/blobs/{full}",
            "content": b64_lines(data), "encoding": "base64"})

    def _tree_json(self, repo: FakeRepo, tree: str, *, recursive: bool) -> dict[str, Any]:
        entries = []
        size, truncated = 0, False
        for e in repo.ls_tree(tree, recursive=recursive):
            kind = "trees" if e.type == "tree" else "blobs"
            item = {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha,
                    "url": f"{self._api(repo)}/git/{kind}/{e.sha}"}
            if e.size is not None:
                item["size"] = e.size
            size += len(json.dumps(item))
            if recursive and (len(entries) >= self.tree_listing_max_entries
                              or size > self.tree_listing_max_bytes):
                truncated = True  # GitHub sends what fits and says so; the rest needs per-tree calls
                break
            entries.append(item)
        return {"sha": tree, "url": f"{self._api(repo)}/git/trees/{tree}", "tree": entries,
                "truncated": truncated}

    def _post_tree(self, call: Call) -> Reply:
        assert call.state is not None
        repo = call.state.repo
        body = json_object(call, "Tree", "tree")
        if not isinstance(body["tree"], list):
            raise invalid("Tree", "tree")
        files: dict[str, tuple[str, str, str]] = {}
        if body.get("base_tree") is not None:
            if repo.object_type(str(body["base_tree"])) != "tree":
                raise ApiError(422, "GitRPC::BadObjectState")
            files = repo.flat_files(str(body["base_tree"]))
        for entry in body["tree"]:
            self._apply_tree_entry(repo, files, entry=entry)
        sha = repo.write_tree(files)
        return Reply(201, self._tree_json(repo, sha, recursive=False),
                     headers={"location": f"{self._api(repo)}/git/trees/{sha}"})

    @staticmethod
    def _apply_tree_entry(repo: FakeRepo, files: dict[str, tuple[str, str, str]], *,
                          entry: Any) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise invalid("Tree", "path", "missing_field")
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

    def _get_tree(self, call: Call) -> Reply:
        assert call.state is not None
        tree = call.state.repo.resolve(call.params["tree_sha"], peel="tree")
        if tree is None:
            raise ApiError(404)
        return Reply(200, self._tree_json(call.state.repo, tree,
                                          recursive="recursive" in call.query))

    def _author(self, raw: Any, fallback: Author) -> Author:
        if raw is None:
            return fallback
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("email"):
            raise invalid("Commit", "author")
        date = fallback.date
        if raw.get("date"):
            try:
                parsed = datetime.fromisoformat(str(raw["date"]).replace("Z", "+00:00"))
            except ValueError:
                raise invalid("Commit", "author.date") from None
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
                    "date": iso(int(match.group(3)))}

        return {
            "sha": sha, "node_id": node_id(f"06:Commit{sha}"),
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

    def _post_commit(self, call: Call) -> Reply:
        assert call.state is not None
        repo = call.state.repo
        body = json_object(call, "Commit", "message", "tree")
        if not isinstance(body["message"], str):
            raise invalid("Commit", "message")
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
        return Reply(201, self._commit_json(repo, sha),
                     headers={"location": f"{self._api(repo)}/git/commits/{sha}"})

    def _get_commit(self, call: Call) -> Reply:
        assert call.state is not None
        sha = call.params["commit_sha"]
        if call.state.repo.object_type(sha) != "commit":
            raise ApiError(404)
        return Reply(200, self._commit_json(call.state.repo, call.state.repo.text("rev-parse", sha)))

    def _ref_json(self, repo: FakeRepo, ref: str, *, sha: str) -> dict[str, Any]:
        return {"ref": ref, "node_id": node_id(f"03:Ref{ref}"),
                "url": f"{self._api(repo)}/git/{ref}",
                "object": {"sha": sha, "type": repo.object_type(sha) or "commit",
                           "url": f"{self._api(repo)}/git/commits/{sha}"}}

    def _get_ref(self, call: Call) -> Reply:
        assert call.state is not None
        ref = "refs/" + call.params["ref"].removeprefix("refs/")
        sha = call.state.repo.ref_sha(ref)
        if sha is None:
            raise ApiError(404)
        return Reply(200, self._ref_json(call.state.repo, ref, sha=sha))

    def _post_ref(self, call: Call) -> Reply:
        assert call.state is not None
        repo = call.state.repo
        body = json_object(call, "Reference", "ref", "sha")
        ref, sha = str(body["ref"]), str(body["sha"])
        if not ref.startswith("refs/") or ref.count("/") < 2 or not self._ref_name_ok(repo, ref):
            raise ApiError(422, "Reference name is invalid")
        if repo.object_type(sha) is None:
            raise ApiError(422, "Object does not exist")
        if repo.ref_sha(ref) is not None:
            raise ApiError(422, "Reference already exists")
        full = repo.text("rev-parse", sha)
        repo.set_ref(ref, full)
        return Reply(201, self._ref_json(repo, ref, sha=full),
                     headers={"location": f"{self._api(repo)}/git/{ref}"})

    @staticmethod
    def _ref_name_ok(repo: FakeRepo, ref: str) -> bool:
        try:
            repo.run("check-ref-format", ref)
            return True
        except GitError:
            return False

    def _patch_ref(self, call: Call) -> Reply:
        assert call.state is not None
        repo = call.state.repo
        body = json_object(call, "Reference", "sha")
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
        return Reply(200, self._ref_json(repo, ref, sha=full))

    def _delete_ref(self, call: Call) -> Reply:
        assert call.state is not None
        ref = "refs/" + call.params["ref"].removeprefix("refs/")
        if call.state.repo.ref_sha(ref) is None:
            raise ApiError(422, "Reference does not exist")
        call.state.repo.delete_ref(ref)
        for pull in call.state.pulls.values():
            if f"refs/heads/{pull.head}" == ref and pull.state == "open":
                pull.state = "closed"  # GitHub closes a PR whose head branch is deleted
                call.state.issues[pull.number].state = "closed"
        return Reply(204)
