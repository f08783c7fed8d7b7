"""The fake GitHub's CI routes, driven through gidgethub and aiohttp as the bot drives them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import gidgethub
import pytest
from gidgethub.aiohttp import GitHubAPI

from tests.fakes.app_keys import generate_app_key
from tests.fakes.github_server import FakeGitHub, FakeRepo
from tests.test_fake_github import APP_ID, Clock, app_jwt

OWNER, NAME = "octo-org", "ci-demo"
R = f"/repos/{OWNER}/{NAME}"
LOG = ("2026-11-25T10:00:00.0000000Z ##[group]Run pytest\n"
       "2026-11-25T10:00:01.0000000Z FAILED tests/test_ops.py::test_divide - AssertionError\n")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gh(tmp_path: Path, clock: Clock) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(tmp_path, app_id=APP_ID, public_key_pem=generate_app_key()[1], clock=clock) as fake:
        yield fake
    assert fake.schema_violations == [] and fake.unknown_routes == []


@pytest.fixture
def repo(gh: FakeGitHub) -> FakeRepo:
    return gh.create_repo(OWNER, NAME, {"README.md": "# ci\n"})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def token(gh: FakeGitHub, repo: FakeRepo, session: aiohttp.ClientSession, clock: Clock) -> str:
    api = GitHubAPI(session, "route-me-tests", base_url=gh.url)
    answer = await api.post(f"/app/installations/{repo.installation_id}/access_tokens", data={},
                            jwt=app_jwt(now=clock.now))
    return answer["token"]


@pytest.fixture
def api(gh: FakeGitHub, session: aiohttp.ClientSession) -> GitHubAPI:
    return GitHubAPI(session, "route-me-tests", base_url=gh.url)


async def test_check_runs_carry_their_output_and_annotations(gh, repo, api, token):
    sha = repo.head_sha("main")
    run = gh.add_ci_run(OWNER, NAME, sha, check_name="test (3.12)", title="1 failed", summary="pytest",
                        annotations=[{"path": "calc/ops.py", "start_line": 3, "message": "assert 1 == 2"}])
    listed = await api.getitem(f"{R}/commits/main/check-runs", oauth_token=token)
    assert [r["id"] for r in listed["check_runs"]] == [run["id"]]
    got = await api.getitem(f"{R}/check-runs/{run['id']}", oauth_token=token)
    assert got["output"]["annotations_count"] == 1 and got["conclusion"] == "failure"
    assert got["app"]["slug"] == "github-actions"
    notes = [n async for n in api.getiter(got["output"]["annotations_url"], oauth_token=token)]
    assert [(n["path"], n["start_line"], n["message"]) for n in notes] == [("calc/ops.py", 3, "assert 1 == 2")]
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(f"{R}/check-runs/999", oauth_token=token)
    assert err.value.status_code == 404


async def test_job_logs_answer_302_to_a_short_lived_download_without_auth(gh, repo, session, token, clock):
    run = gh.add_ci_run(OWNER, NAME, repo.head_sha("main"), check_name="test", log=LOG)
    url = f"{gh.url}{R}/actions/jobs/{run['id']}/logs"
    async with session.get(url, headers={"Authorization": f"token {token}"}, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(gh.logs_url)
    async with session.get(location) as resp:  # no credentials: the URL is signed
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert await resp.text() == LOG
    clock.now = time.time() + 61
    async with session.get(location) as resp:
        assert resp.status == 403  # "This link expires after 1 minute."
    async with session.get(url, allow_redirects=False) as resp:
        assert resp.status == 401  # the API half needs a token


async def test_a_non_actions_check_run_has_no_job_log(gh, repo, api, token):
    run = gh.add_ci_run(OWNER, NAME, repo.head_sha("main"), check_name="lint", app_slug="some-linter")
    with pytest.raises(gidgethub.BadRequest) as err:
        await api.getitem(f"{R}/actions/jobs/{run['id']}/logs", oauth_token=token)
    assert err.value.status_code == 404
    with pytest.raises(ValueError):
        gh.add_ci_run(OWNER, NAME, repo.head_sha("main"), check_name="lint", app_slug="some-linter", log="x")


async def test_combined_status_keeps_the_latest_per_context_and_fails_on_error(gh, repo, api, token):
    sha = repo.head_sha("main")
    empty = await api.getitem(f"{R}/commits/{sha}/status", oauth_token=token)
    assert empty["state"] == "pending" and empty["total_count"] == 0
    gh.add_status(OWNER, NAME, sha, context="ci/jenkins", state="pending")
    gh.add_status(OWNER, NAME, sha, context="ci/jenkins", state="success", description="ok")
    assert (await api.getitem(f"{R}/commits/main/status", oauth_token=token))["state"] == "success"
    gh.add_status(OWNER, NAME, sha, context="security/scan", state="error", description="scanner crashed",
                  target_url="https://ci.example.com/2")
    combined = await api.getitem(f"{R}/commits/{sha}/status", oauth_token=token)
    assert combined["state"] == "failure" and combined["total_count"] == 2
    assert {s["context"]: s["state"] for s in combined["statuses"]} == {"ci/jenkins": "success",
                                                                        "security/scan": "error"}
    with pytest.raises(ValueError):
        gh.add_status(OWNER, NAME, sha, context="x", state="broken")


async def test_the_client_reads_a_job_log_through_the_redirect_keeping_both_ends(gh, repo, session, token):
    from bot.github.client import GitHubClient

    middle = "".join(f"noise line {n}\n" for n in range(200_000))  # ~3 MB
    log = "FIRST-LINE\n" + middle + "FAILED tests/test_x.py::test_y - LAST-LINE\n"
    run = gh.add_ci_run(OWNER, NAME, repo.head_sha("main"), check_name="test", log=log)
    client = GitHubClient(session, base_url=gh.url, oauth_token=token)
    text = await client.download_redirected(f"{R}/actions/jobs/{run['id']}/logs", keep_bytes=64 * 1024)
    assert text is not None and text.startswith("FIRST-LINE") and text.rstrip().endswith("LAST-LINE")
    assert "middle of the log not read" in text and len(text) < 70 * 1024
    assert await client.download_redirected(f"{R}/actions/jobs/999/logs") is None  # 404: no download
