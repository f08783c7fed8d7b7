"""The shared fake GitHub, driven only through gidgethub and aiohttp like the bot drives it."""

from __future__ import annotations

import base64
import functools
import io
import json
import tarfile
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import gidgethub
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gidgethub.aiohttp import GitHubAPI

from tests.fakes.app_keys import generate_app_key
from tests.fakes.github_server import FakeGitHub, FakeRepo
from tests.fakes.openapi_check import OpenAPIChecker, to_json_schema

APP_ID = 1234
OWNER, NAME = "octo-org", "demo"
R = f"/repos/{OWNER}/{NAME}"
FILES = {"README.md": "# demo\n", "src/app.py": "def main():\n    return 1\n",
         "data/blob.bin": bytes(range(256)) * 3}


class Clock:
    """A settable clock injected into the fake (tokens and JWTs are time-checked)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def app_jwt(*, now: float, iss: Any = str(APP_ID), lifetime: int = 540,
            key: str | None = None) -> str:
    claims = {"iat": int(now) - 60, "exp": int(now) + lifetime, "iss": iss}
    # PyJWT refuses a non-string iss when encoding; GitHub accepts the integer app id.
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return jwt.api_jws.encode(payload, key or generate_app_key()[0], algorithm="RS256")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gh(tmp_path: Path, clock: Clock) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(tmp_path, app_id=APP_ID, public_key_pem=generate_app_key()[1],
                          clock=clock) as fake:
        yield fake


@pytest.fixture
def repo(gh: FakeGitHub) -> FakeRepo:
    made = gh.create_repo(OWNER, NAME, FILES, symlinks={"docs/link": "../README.md"})
    gh.add_issue(OWNER, NAME, title="Crash on start", body="It crashes.", labels=["route-me"])
    return made


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def api(gh: FakeGitHub, session: aiohttp.ClientSession) -> GitHubAPI:
    return GitHubAPI(session, "route-me-tests", base_url=gh.url)


@pytest.fixture
async def token(api: GitHubAPI, repo: FakeRepo, clock: Clock) -> str:
    answer = await api.post(f"/app/installations/{repo.installation_id}/access_tokens",
                            data={}, jwt=app_jwt(now=clock.now))
    return answer["token"]


# auth ----------------------------------------------------------------------------------
async def test_installation_token_issued_for_a_valid_jwt(
    gh: FakeGitHub, api: GitHubAPI, repo: FakeRepo, clock: Clock
) -> None:
    web_token = app_jwt(now=clock.now)
    app = await api.getitem("/app", jwt=web_token)
    installation = await api.getitem(f"{R}/installation", jwt=web_token)
    answer = await api.post(f"/app/installations/{installation['id']}/access_tokens",
                            data={}, jwt=web_token)
    assert app["id"] == APP_ID and app["slug"] == "route-me"
    assert installation["id"] == 42 and installation["app_id"] == APP_ID
    assert answer["token"].startswith("ghs_")
    assert answer["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                 time.gmtime(clock.now + 3600))
    assert gh.installation_tokens_issued == 1
    got = await api.getitem(R, oauth_token=answer["token"])
    assert got["full_name"] == f"{OWNER}/{NAME}" and got["default_branch"] == "main"
    assert gh.schema_violations == []


@functools.lru_cache(maxsize=1)
def _other_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("make", [
    pytest.param(lambda now: app_jwt(now=now, iss="999"), id="wrong-iss"),
    pytest.param(lambda now: app_jwt(now=now - 3600), id="expired"),
    pytest.param(lambda now: app_jwt(now=now, lifetime=1200), id="exp-too-far"),
    pytest.param(lambda now: app_jwt(now=now, key=_other_key()), id="wrong-key"),
    pytest.param(lambda now: jwt.encode({"iat": int(now), "exp": int(now) + 60,
                                         "iss": str(APP_ID)}, "s" * 32, algorithm="HS256"),
                 id="hs256"),
    pytest.param(lambda now: "not-a-jwt", id="garbage"),
])
async def test_bad_jwt_is_401(
    api: GitHubAPI, repo: FakeRepo, clock: Clock, make: Any, gh: FakeGitHub
) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.post("/app/installations/42/access_tokens", data={}, jwt=make(clock.now))
    assert err.value.status_code == 401
    assert str(err.value) == "Bad credentials"
    assert gh.installation_tokens_issued == 0


async def test_integer_iss_is_accepted_like_github(api: GitHubAPI, repo: FakeRepo,
                                                   clock: Clock) -> None:
    answer = await api.post("/app/installations/42/access_tokens", data={},
                            jwt=app_jwt(now=clock.now, iss=APP_ID))
    assert answer["token"]


async def test_unknown_installation_is_404(api: GitHubAPI, repo: FakeRepo, clock: Clock) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.post("/app/installations/7/access_tokens", data={}, jwt=app_jwt(now=clock.now))
    assert err.value.status_code == 404


async def test_wrong_missing_or_expired_token_is_401(
    gh: FakeGitHub, api: GitHubAPI, token: str, clock: Clock, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(R, oauth_token="ghs_wrong")
    assert err.value.status_code == 401 and str(err.value) == "Bad credentials"
    async with session.get(gh.url + R) as resp:
        assert resp.status == 401
        assert (await resp.json())["message"] == "Bad credentials"
    assert (await api.getitem(R, oauth_token=token))["name"] == NAME
    clock.now += 3601
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(R, oauth_token=token)
    assert err.value.status_code == 401


async def test_jwt_is_not_an_installation_token(api: GitHubAPI, repo: FakeRepo,
                                                clock: Clock) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(R, jwt=app_jwt(now=clock.now))
    assert err.value.status_code == 401


async def test_token_of_another_installation_sees_404(
    gh: FakeGitHub, api: GitHubAPI, token: str
) -> None:
    gh.create_repo("elsewhere", "private", {"a": "b"}, installation_id=99, private=True)
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem("/repos/elsewhere/private", oauth_token=token)
    assert err.value.status_code == 404
    assert str(err.value) == "Not Found"


async def test_bearer_scheme_and_rate_limit_headers(
    gh: FakeGitHub, session: aiohttp.ClientSession, token: str
) -> None:
    async with session.get(gh.url + R, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/json; charset=utf-8"
        assert resp.headers["x-ratelimit-limit"] == "5000"
        assert int(resp.headers["x-ratelimit-remaining"]) < 5000
        assert resp.headers["x-ratelimit-resource"] == "core"
        assert resp.headers["x-github-request-id"]


# contents and tarball ---------------------------------------------------------------------
async def test_contents_base64_roundtrip(api: GitHubAPI, token: str, repo: FakeRepo) -> None:
    got = await api.getitem(f"{R}/contents/data/blob.bin", oauth_token=token)
    assert got["type"] == "file" and got["encoding"] == "base64"
    lines = got["content"].split("\n")
    assert all(len(line) == 60 for line in lines[:-2]) and lines[-1] == ""
    assert base64.b64decode(got["content"]) == FILES["data/blob.bin"]
    assert got["size"] == len(FILES["data/blob.bin"])
    at_sha = await api.getitem(f"{R}/contents/src/app.py?ref={repo.head_sha()}",
                               oauth_token=token)
    assert base64.b64decode(at_sha["content"]).decode() == FILES["src/app.py"]


async def test_contents_directory_symlink_raw_and_missing(
    api: GitHubAPI, token: str, gh: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    root = await api.getitem(f"{R}/contents/", oauth_token=token)
    assert {(e["name"], e["type"]) for e in root} == {
        ("README.md", "file"), ("src", "dir"), ("data", "dir"), ("docs", "dir")}
    link = await api.getitem(f"{R}/contents/docs/link", oauth_token=token)
    assert link["type"] == "symlink" and link["target"] == "../README.md"
    headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github.raw"}
    async with session.get(f"{gh.url}{R}/contents/README.md", headers=headers) as resp:
        assert resp.status == 200 and await resp.text() == FILES["README.md"]
    for path in ("contents/nope.txt", "contents/src/nope.py", "contents/README.md?ref=nobranch"):
        with pytest.raises(gidgethub.BadRequest) as err:
            await api.getitem(f"{R}/{path}", oauth_token=token)
        assert err.value.status_code == 404
    assert gh.schema_violations == []


async def test_tarball_redirects_to_codeload_with_pax_sha(
    gh: FakeGitHub, session: aiohttp.ClientSession, token: str, repo: FakeRepo
) -> None:
    url = f"{gh.url}{R}/tarball/main"
    auth = {"Authorization": f"token {token}"}
    async with session.get(url, headers=auth, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(gh.codeload_url + f"/{OWNER}/{NAME}/legacy.tar.gz/refs/heads/main?")
    assert gh.codeload_url != gh.url
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["token"]
    async with session.get(url, headers=auth) as resp:  # aiohttp follows the redirect
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/x-gzip"
        data = await resp.read()
    sha = repo.head_sha()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.pax_headers["comment"] == sha
        members = {m.name: m for m in tar.getmembers()}
    prefix = f"{OWNER}-{NAME}-{sha[:7]}/"
    assert members[prefix + "docs/link"].issym()
    assert members[prefix + "docs/link"].linkname == "../README.md"
    assert members[prefix + "src/app.py"].isfile()
    downloads = [r for r in gh.requests if r.host == "codeload"]
    assert len(downloads) == 1 and "authorization" not in downloads[0].headers
    assert all(r.host == "api" for r in gh.rest_calls()) and len(gh.rest_calls()) == 3


async def test_codeload_refuses_missing_or_forged_token(
    gh: FakeGitHub, session: aiohttp.ClientSession, repo: FakeRepo
) -> None:
    base = f"{gh.codeload_url}/{OWNER}/{NAME}/legacy.tar.gz/refs/heads/main"
    for suffix in ("", "?token=FORGED"):
        async with session.get(base + suffix) as resp:
            assert resp.status == 404


async def test_tarball_of_unknown_ref_is_404(api: GitHubAPI, token: str) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(f"{R}/tarball/no-such-branch", oauth_token=token)
    assert err.value.status_code == 404


# git data --------------------------------------------------------------------------------
async def _commit(api: GitHubAPI, token: str, base: str, entries: list[dict[str, Any]],
                  message: str = "route-me: change") -> str:
    base_commit = await api.getitem(f"{R}/git/commits/{base}", oauth_token=token)
    tree = await api.post(f"{R}/git/trees", oauth_token=token,
                          data={"base_tree": base_commit["tree"]["sha"], "tree": entries})
    commit = await api.post(f"{R}/git/commits", oauth_token=token,
                            data={"message": message, "tree": tree["sha"], "parents": [base]})
    return commit["sha"]


async def test_tree_commit_ref_flow_makes_a_real_commit(
    gh: FakeGitHub, api: GitHubAPI, token: str, repo: FakeRepo
) -> None:
    base = (await api.getitem(f"{R}/git/ref/heads/main", oauth_token=token))["object"]["sha"]
    assert base == repo.head_sha()
    blob = await api.post(f"{R}/git/blobs", oauth_token=token,
                          data={"content": base64.b64encode(b"\x00\x01").decode(),
                                "encoding": "base64"})
    sha = await _commit(api, token, base, [
        {"path": "src/app.py", "mode": "100644", "type": "blob", "content": "print('hi')\n"},
        {"path": "src/new/mod.py", "mode": "100755", "type": "blob", "content": "#!x\n"},
        {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
        {"path": "data/copy.bin", "mode": "100644", "type": "blob", "sha": blob["sha"]},
    ])
    ref = await api.post(f"{R}/git/refs", oauth_token=token,
                         data={"ref": "refs/heads/route-me/issue-1", "sha": sha})
    assert ref["ref"] == "refs/heads/route-me/issue-1" and ref["object"]["sha"] == sha
    assert repo.commit_parents(sha) == [base]
    assert repo.tree_paths(sha) == {
        "src/app.py": "100644", "src/new/mod.py": "100755", "data/blob.bin": "100644",
        "data/copy.bin": "100644", "docs/link": "120000"}
    assert repo.read_file("route-me/issue-1", "src/app.py") == b"print('hi')\n"
    assert repo.read_file(sha, "data/copy.bin") == b"\x00\x01"
    assert repo.read_file(sha, "README.md") is None
    assert repo.branches() == ["main", "route-me/issue-1"]
    assert repo.git("log", "--format=%s", "-1", sha) == "route-me: change"
    encoded = await api.getitem(f"{R}/git/ref/{{ref}}", {"ref": "heads/route-me/issue-1"},
                                oauth_token=token)
    assert encoded["object"]["sha"] == sha  # %2F-encoded slashes resolve too
    listing = await api.getitem(f"{R}/git/trees/{sha}?recursive=1", oauth_token=token)
    paths = {e["path"]: e["type"] for e in listing["tree"]}
    assert paths["src/new"] == "tree" and paths["src/new/mod.py"] == "blob"
    assert gh.schema_violations == []


async def test_refs_conflicts_and_fast_forward(
    api: GitHubAPI, token: str, repo: FakeRepo
) -> None:
    base = repo.head_sha()
    first = await _commit(api, token, base, [
        {"path": "a.txt", "mode": "100644", "type": "blob", "content": "a"}])
    sibling = await _commit(api, token, base, [
        {"path": "b.txt", "mode": "100644", "type": "blob", "content": "b"}])
    await api.post(f"{R}/git/refs", oauth_token=token, data={"ref": "refs/heads/x", "sha": first})
    with pytest.raises(gidgethub.InvalidField) as err:
        await api.post(f"{R}/git/refs", oauth_token=token,
                       data={"ref": "refs/heads/x", "sha": first})
    assert err.value.status_code == 422 and "Reference already exists" in str(err.value)
    with pytest.raises(gidgethub.InvalidField) as err:
        await api.patch(f"{R}/git/refs/heads/x", oauth_token=token, data={"sha": sibling})
    assert "Update is not a fast forward" in str(err.value)
    assert repo.head_sha("x") == first
    forced = await api.patch(f"{R}/git/refs/heads/x", oauth_token=token,
                             data={"sha": sibling, "force": True})
    assert forced["object"]["sha"] == sibling == repo.head_sha("x")
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(f"{R}/git/ref/heads/missing", oauth_token=token)
    assert err.value.status_code == 404
    await api.delete(f"{R}/git/refs/heads/x", oauth_token=token)
    assert repo.branches() == ["main"]


@pytest.mark.parametrize("entry", [
    {"path": "../escape", "mode": "100644", "type": "blob", "content": "x"},
    {"path": "/abs", "mode": "100644", "type": "blob", "content": "x"},
    {"path": ".git/config", "mode": "100644", "type": "blob", "content": "x"},
    {"path": "a", "mode": "100644", "type": "blob", "content": "x", "sha": "0" * 40},
    {"path": "a", "mode": "100644", "type": "blob"},
    {"path": "a", "mode": "100644", "type": "blob", "sha": "1" * 40},
    {"path": "a", "mode": "040000", "type": "blob", "content": "x"},
])
async def test_bad_tree_entries_are_422(api: GitHubAPI, token: str, repo: FakeRepo,
                                        entry: dict[str, Any]) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.post(f"{R}/git/trees", oauth_token=token, data={"tree": [entry]})
    assert err.value.status_code == 422


async def test_commit_with_unknown_parent_is_422(api: GitHubAPI, token: str,
                                                 repo: FakeRepo) -> None:
    tree = repo.git("rev-parse", "main^{tree}")
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.post(f"{R}/git/commits", oauth_token=token,
                       data={"message": "m", "tree": tree, "parents": ["f" * 40]})
    assert err.value.status_code == 422


# pull requests and reviews -----------------------------------------------------------------
async def _branch_with_change(api: GitHubAPI, token: str, repo: FakeRepo, branch: str) -> str:
    sha = await _commit(api, token, repo.head_sha(), [
        {"path": "src/app.py", "mode": "100644", "type": "blob",
         "content": "def main():\n    return 2\n\n# done\n"},
        {"path": "NEW.md", "mode": "100644", "type": "blob", "content": "one\ntwo\n"},
        {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
    ])
    await api.post(f"{R}/git/refs", oauth_token=token,
                   data={"ref": f"refs/heads/{branch}", "sha": sha})
    return sha


async def test_pull_request_create_duplicate_and_files(
    gh: FakeGitHub, api: GitHubAPI, token: str, repo: FakeRepo
) -> None:
    head_sha = await _branch_with_change(api, token, repo, "route-me/issue-1")
    pr = await api.post(f"{R}/pulls", oauth_token=token, data={
        "title": "Fix crash", "head": "route-me/issue-1", "base": "main",
        "body": "Closes #1", "draft": True})
    assert pr["number"] == 2  # issue #1 exists: numbers are shared
    assert pr["draft"] is True and pr["state"] == "open"
    assert pr["head"]["ref"] == "route-me/issue-1" and pr["head"]["sha"] == head_sha
    assert pr["base"]["sha"] == repo.head_sha()
    assert pr["user"]["login"] == "route-me[bot]" and pr["user"]["type"] == "Bot"
    with pytest.raises(gidgethub.ValidationError) as err:
        await api.post(f"{R}/pulls", oauth_token=token, data={
            "title": "Again", "head": f"{OWNER}:route-me/issue-1", "base": "main"})
    assert err.value.status_code == 422
    assert f"A pull request already exists for {OWNER}:route-me/issue-1." in str(err.value)
    files = await api.getitem(f"{R}/pulls/2/files", oauth_token=token)
    by_name = {f["filename"]: f for f in files}
    assert by_name["NEW.md"]["status"] == "added"
    assert (by_name["NEW.md"]["additions"], by_name["NEW.md"]["deletions"]) == (2, 0)
    assert by_name["README.md"]["status"] == "removed"
    assert by_name["src/app.py"]["status"] == "modified"
    assert (by_name["src/app.py"]["additions"], by_name["src/app.py"]["deletions"]) == (3, 1)
    assert by_name["src/app.py"]["changes"] == 4
    assert by_name["src/app.py"]["patch"].startswith("@@ ")
    issue = await api.getitem(f"{R}/issues/2", oauth_token=token)
    assert issue["pull_request"]["html_url"].endswith(f"/{OWNER}/{NAME}/pull/2")
    assert [p["number"] for p in gh.pulls(OWNER, NAME)] == [2]
    assert gh.schema_violations == []


async def test_pull_request_head_must_exist_and_differ(
    api: GitHubAPI, token: str, repo: FakeRepo
) -> None:
    with pytest.raises(gidgethub.InvalidField) as err:
        await api.post(f"{R}/pulls", oauth_token=token,
                       data={"title": "t", "head": "missing", "base": "main"})
    assert "'head'" in str(err.value)
    await api.post(f"{R}/git/refs", oauth_token=token,
                   data={"ref": "refs/heads/same", "sha": repo.head_sha()})
    with pytest.raises(gidgethub.ValidationError) as err:
        await api.post(f"{R}/pulls", oauth_token=token,
                       data={"title": "t", "head": "same", "base": "main"})
    assert "No commits between main and same" in str(err.value)


async def test_list_pulls_filters_head_like_github(
    api: GitHubAPI, token: str, repo: FakeRepo
) -> None:
    for branch in ("a", "b"):
        await _branch_with_change(api, token, repo, branch)
        await api.post(f"{R}/pulls", oauth_token=token,
                       data={"title": branch, "head": branch, "base": "main"})
    only_a = await api.getitem(f"{R}/pulls?head={OWNER}:a&state=open", oauth_token=token)
    assert [p["head"]["ref"] for p in only_a] == ["a"]
    ignored = await api.getitem(f"{R}/pulls?head=a", oauth_token=token)
    assert sorted(p["head"]["ref"] for p in ignored) == ["a", "b"]  # no owner → no filter
    closed = await api.getitem(f"{R}/pulls?state=closed", oauth_token=token)
    assert closed == []


async def test_reviews_comment_ok_and_own_approve_refused(
    gh: FakeGitHub, api: GitHubAPI, token: str, repo: FakeRepo
) -> None:
    await _branch_with_change(api, token, repo, "r")
    pr = await api.post(f"{R}/pulls", oauth_token=token,
                        data={"title": "t", "head": "r", "base": "main"})
    review = await api.post(f"{R}/pulls/{pr['number']}/reviews", oauth_token=token,
                            data={"body": "Scorecard", "event": "COMMENT"})
    assert review["state"] == "COMMENTED" and review["commit_id"] == pr["head"]["sha"]
    for event, text in (("APPROVE", "Can not approve your own pull request"),
                        ("REQUEST_CHANGES", "Can not request changes on your own pull request")):
        with pytest.raises(gidgethub.ValidationError) as err:
            await api.post(f"{R}/pulls/{pr['number']}/reviews", oauth_token=token,
                           data={"body": "x", "event": event})
        assert err.value.status_code == 422 and text in str(err.value)
    updated = await api.put(f"{R}/pulls/{pr['number']}/reviews/{review['id']}",
                            oauth_token=token, data={"body": "Scorecard v2"})
    assert updated["body"] == "Scorecard v2"
    listed = await api.getitem(f"{R}/pulls/{pr['number']}/reviews", oauth_token=token)
    assert [r["body"] for r in listed] == ["Scorecard v2"]
    assert [r["state"] for r in gh.reviews(OWNER, NAME, pr["number"])] == ["COMMENTED"]


# issues, comments, labels, reactions, permissions ---------------------------------------
async def test_comments_paginate_with_link_header(
    gh: FakeGitHub, api: GitHubAPI, token: str, session: aiohttp.ClientSession
) -> None:
    for i in range(7):
        gh.add_comment(OWNER, NAME, 1, body=f"comment {i}", user="alice")
    auth = {"Authorization": f"token {token}"}
    async with session.get(f"{gh.url}{R}/issues/1/comments?per_page=3", headers=auth) as resp:
        first = await resp.json()
        link = resp.headers["Link"]
    assert [c["body"] for c in first] == ["comment 0", "comment 1", "comment 2"]
    assert 'rel="next"' in link and 'rel="last"' in link and 'rel="prev"' not in link
    assert "page=3" in link.split('rel="next"')[1]  # last page is 3
    async with session.get(f"{gh.url}{R}/issues/1/comments?per_page=3&page=3",
                           headers=auth) as resp:
        assert [c["body"] for c in await resp.json()] == ["comment 6"]
        assert 'rel="next"' not in resp.headers["Link"]
        assert 'rel="first"' in resp.headers["Link"]
    everything = [c["body"] async for c in api.getiter(
        f"{R}/issues/1/comments?per_page=2", oauth_token=token)]
    assert everything == [f"comment {i}" for i in range(7)]
    assert gh.count("GET", "/repositories/") == 3  # followed Link URLs use the id form
    assert gh.unknown_routes == [] and gh.schema_violations == []


async def test_bot_comment_shape_edit_and_reactions(
    gh: FakeGitHub, api: GitHubAPI, token: str
) -> None:
    comment = await api.post(f"{R}/issues/1/comments", oauth_token=token,
                             data={"body": "planning…"})
    assert comment["user"] == {**comment["user"], "login": "route-me[bot]", "type": "Bot"}
    assert comment["html_url"] == (
        f"https://github.com/{OWNER}/{NAME}/issues/1#issuecomment-{comment['id']}")
    assert comment["issue_url"].endswith(f"{R}/issues/1")
    edited = await api.patch(f"{R}/issues/comments/{comment['id']}", oauth_token=token,
                             data={"body": "The plan"})
    assert edited["id"] == comment["id"] and edited["body"] == "The plan"
    assert [c["body"] for c in gh.comments(OWNER, NAME, 1)] == ["The plan"]
    url = f"{gh.url}{R}/issues/comments/{comment['id']}/reactions"
    statuses = []
    async with aiohttp.ClientSession() as raw:
        for _ in range(2):
            async with raw.post(url, json={"content": "eyes"},
                                headers={"Authorization": f"token {token}"}) as resp:
                statuses.append(resp.status)
    assert statuses == [201, 200]
    assert len(gh.reactions(comment["id"])) == 1
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.patch(f"{R}/issues/comments/999", oauth_token=token, data={"body": "x"})
    assert err.value.status_code == 404
    assert gh.schema_violations == []


async def test_labels_add_keep_case_and_delete(
    gh: FakeGitHub, api: GitHubAPI, token: str, session: aiohttp.ClientSession
) -> None:
    labels = await api.post(f"{R}/issues/1/labels", oauth_token=token,
                            data={"labels": ["Route-Me", "bAr"]})
    assert [label["name"] for label in labels] == ["route-me", "bAr"]
    assert labels[1]["color"] == "ededed" and labels[1]["default"] is False
    # gidgethub's delete() drops the body, so read the 200 + remaining list directly.
    async with session.delete(f"{gh.url}{R}/issues/1/labels/ROUTE-ME",
                              headers={"Authorization": f"token {token}"}) as resp:
        assert resp.status == 200
        assert [label["name"] for label in await resp.json()] == ["bAr"]
    issue = await api.getitem(f"{R}/issues/1", oauth_token=token)
    assert [label["name"] for label in issue["labels"]] == ["bAr"]
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.delete(f"{R}/issues/1/labels/route-me", oauth_token=token)
    assert err.value.status_code == 404 and str(err.value) == "Label does not exist"


@pytest.mark.parametrize(("role", "permission"), [
    ("admin", "admin"), ("maintain", "write"), ("write", "write"), ("triage", "read"),
    ("read", "read"), ("none", "none"), (None, "read")])
async def test_permission_maps_roles_like_github(
    gh: FakeGitHub, api: GitHubAPI, token: str, role: str | None, permission: str
) -> None:
    if role is not None:
        gh.set_permission(OWNER, NAME, "alice", role)
    got = await api.getitem(f"{R}/collaborators/alice/permission", oauth_token=token)
    assert got["permission"] == permission
    assert got["role_name"] == (role or "read")
    assert got["user"]["login"] == "alice"
    assert gh.schema_violations == []


async def test_missing_issue_is_404(api: GitHubAPI, token: str) -> None:
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.post(f"{R}/issues/77/comments", oauth_token=token, data={"body": "x"})
    assert err.value.status_code == 404


# fault injection ------------------------------------------------------------------------
async def test_fail_next_does_not_take_effect(gh: FakeGitHub, api: GitHubAPI,
                                              token: str) -> None:
    gh.fail_next("POST", r"/issues/1/comments$", status=502, times=2)
    for _ in range(2):
        with pytest.raises(gidgethub.GitHubBroken) as err:
            await api.post(f"{R}/issues/1/comments", oauth_token=token, data={"body": "x"})
        assert err.value.status_code == 502
    assert gh.comments(OWNER, NAME, 1) == []
    await api.getitem(f"{R}/issues/1/comments", oauth_token=token)  # GET is not matched
    await api.post(f"{R}/issues/1/comments", oauth_token=token, data={"body": "x"})
    assert [c["body"] for c in gh.comments(OWNER, NAME, 1)] == ["x"]
    assert [r.status for r in gh.requests if r.method == "POST" and "comments" in r.path] == [
        502, 502, 201]


async def test_fail_after_effect_does_the_work(gh: FakeGitHub, api: GitHubAPI, token: str,
                                               repo: FakeRepo) -> None:
    await _branch_with_change(api, token, repo, "b")
    gh.fail_after_effect("POST", r"/pulls$", status=502)
    with pytest.raises(gidgethub.GitHubBroken):
        await api.post(f"{R}/pulls", oauth_token=token,
                       data={"title": "t", "head": "b", "base": "main"})
    assert [p["head"]["ref"] for p in gh.pulls(OWNER, NAME)] == ["b"]
    with pytest.raises(gidgethub.ValidationError):  # a blind retry now hits the duplicate
        await api.post(f"{R}/pulls", oauth_token=token,
                       data={"title": "t", "head": "b", "base": "main"})


async def test_custom_fault_body_and_headers(gh: FakeGitHub, session: aiohttp.ClientSession,
                                             token: str) -> None:
    gh.fail_next("GET", r"^/repos/[^/]+/[^/]+$", status=503,
                 body={"message": "down"}, headers={"x-custom": "1"})
    async with session.get(gh.url + R, headers={"Authorization": f"token {token}"}) as resp:
        assert resp.status == 503 and resp.headers["x-custom"] == "1"
        assert await resp.json() == {"message": "down"}


async def test_secondary_and_primary_rate_limits(gh: FakeGitHub, api: GitHubAPI,
                                                 token: str) -> None:
    gh.secondary_rate_limit("POST", r"/comments$", retry_after=30)
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.post(f"{R}/issues/1/comments", oauth_token=token, data={"body": "x"})
    assert err.value.status_code == 403
    assert "secondary rate limit" in str(err.value)
    assert err.value.headers["retry-after"] == "30"
    gh.primary_rate_limit("GET", r"/issues/1$", reset_in=120)
    with pytest.raises(gidgethub.RateLimitExceeded) as limit:
        await api.getitem(f"{R}/issues/1", oauth_token=token)
    assert limit.value.rate_limit.remaining == 0
    assert gh.comments(OWNER, NAME, 1) == []


# schema validation, unknown routes, recording ----------------------------------------------
async def test_schema_validation_catches_bad_request_body(
    gh: FakeGitHub, session: aiohttp.ClientSession, token: str
) -> None:
    auth = {"Authorization": f"token {token}"}
    async with session.post(f"{gh.url}{R}/pulls", json={"title": "t", "base": "main"},
                            headers=auth) as resp:
        assert resp.status == 422
        body = await resp.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [{"resource": "PullRequest", "code": "missing_field",
                               "field": "head"}]
    assert len(gh.schema_violations) == 1
    assert "'head' is a required property" in gh.schema_violations[0]
    async with session.post(f"{gh.url}{R}/issues/1/comments", json={"body": 5},
                            headers=auth) as resp:
        assert resp.status == 422
    assert "5 is not of type 'string'" in gh.schema_violations[1]


def test_checker_validates_responses_and_nullable() -> None:
    checker = OpenAPIChecker()
    template = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    assert checker.check_response("POST", template, 201, {"id": 1}) != []
    assert checker.check_response("POST", template, 499, {"id": 1}) == []  # undocumented
    assert checker.check_request("POST", "/unknown", {}, has_body=True) == []
    assert checker.check_request("POST", "/repos/{owner}/{repo}/pulls", None,
                                 has_body=False) == ["POST /repos/{owner}/{repo}/pulls "
                                                     "request: body required but missing"]
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert to_json_schema({"$ref": "#/x", "nullable": True}) == {
        "anyOf": [{"$ref": "#/x"}, {"type": "null"}]}
    assert to_json_schema({"type": "string", "enum": ["a"], "nullable": True})["enum"] == [
        "a", None]


async def test_unknown_route_bad_json_and_recording(
    gh: FakeGitHub, session: aiohttp.ClientSession, token: str
) -> None:
    auth = {"Authorization": f"token {token}"}
    async with session.get(f"{gh.url}{R}/branches/main/protection", headers=auth) as resp:
        assert resp.status == 404
        assert (await resp.json())["message"] == "Not Found"
    assert gh.unknown_routes == [f"GET {R}/branches/main/protection"]
    async with session.post(f"{gh.url}{R}/issues/1/comments", data=b"{nope",
                            headers=auth) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == "Problems parsing JSON"
    assert gh.count("POST", "/issues/1/comments") == 1
    assert gh.count(path_contains="/app/installations/") == 1
    last = gh.requests[-1]
    assert (last.method, last.status, last.json) == ("POST", 400, None)
    assert last.headers["authorization"] == f"token {token}"


def test_add_issue_numbers_and_validation(gh: FakeGitHub, repo: FakeRepo) -> None:
    second = gh.add_issue(OWNER, NAME, title="Two", body=None, user="bob")
    assert second["number"] == 2 and second["body"] is None and second["user"]["login"] == "bob"
    assert gh.add_issue(OWNER, NAME, number=10, title="Ten", body="b")["number"] == 10
    with pytest.raises(ValueError):
        gh.add_issue(OWNER, NAME, number=10, title="dup", body="b")
    with pytest.raises(ValueError):
        gh.set_permission(OWNER, NAME, "bob", "owner")
    assert [label["name"] for label in gh.issue(OWNER, NAME, 1)["labels"]] == ["route-me"]
