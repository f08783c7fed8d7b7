"""Tarball download over loopback servers (redirect, caps, errors) and the snapshot cache."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bot.core.archive import UnsafeArchive, extract_snapshot
from bot.core.snapshot import Snapshot
from bot.core.snapshot_cache import SnapshotCache
from bot.github.tarball import TarballError, TarballTooLarge, download_tarball, redirect_target
from tests.test_archive import SHA, TOP, make_tar, special

TOKEN = "ghs_installationtoken123"
SHA2 = "b" * 40
SHA3 = "c" * 40


class FakeGitHub:
    """An API server that redirects tarball requests to a separate 'codeload' server."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.api_requests: list[web.Request] = []
        self.codeload_requests: list[web.Request] = []
        self.codeload_url = ""
        self.api_url = ""
        self.api_status: int | None = None  # answer this instead of redirecting
        self.chunked = False
        self.stall = False  # codeload sends its headers and then nothing more

    def api_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/repos/{owner}/{repo}/tarball/{ref:.*}", self.tarball)
        app.router.add_get("/same-origin/{ref:.*}", self.same_origin_body)
        app.router.add_get("/loop", self.loop)
        return app

    def codeload_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{owner}/{repo}/legacy.tar.gz/{ref:.*}", self.codeload)
        return app

    async def tarball(self, request: web.Request) -> web.StreamResponse:
        self.api_requests.append(request)
        if self.api_status is not None:
            headers = {"Retry-After": "7"} if self.api_status == 429 else {}
            return web.json_response(
                {"message": f"status {self.api_status}", "documentation_url": "x"},
                status=self.api_status,
                headers=headers,
            )
        if request.match_info["ref"] == "same-origin":
            raise web.HTTPFound("/same-origin/main")
        if request.match_info["ref"] == "loop":
            raise web.HTTPFound("/loop")
        owner, repo, ref = (request.match_info[k] for k in ("owner", "repo", "ref"))
        raise web.HTTPFound(f"{self.codeload_url}/{owner}/{repo}/legacy.tar.gz/{ref}?token=short-lived")

    async def same_origin_body(self, request: web.Request) -> web.Response:
        self.api_requests.append(request)
        return web.Response(body=self.body)

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def codeload(self, request: web.Request) -> web.StreamResponse:
        self.codeload_requests.append(request)
        if not self.chunked:
            return web.Response(body=self.body, content_type="application/x-gzip")
        response = web.StreamResponse()  # no Content-Length: the cap must hold while streaming
        response.enable_chunked_encoding()
        await response.prepare(request)
        if self.stall:
            await response.write(self.body[:10])
            await asyncio.Event().wait()  # until the server shuts down
        for i in range(0, len(self.body), 4096):
            await response.write(self.body[i : i + 4096])
        await response.write_eof()
        return response


@pytest.fixture
async def github(aiohttp_server):  # type: ignore[no-untyped-def]
    fake = FakeGitHub(make_tar([(f"{TOP}/src/app.py", b"print('hi')\n"), (f"{TOP}/README.md", b"# r\n")]))
    api = await aiohttp_server(fake.api_app())
    codeload = await aiohttp_server(fake.codeload_app())
    assert api.port != codeload.port  # different origins on loopback
    fake.codeload_url = str(codeload.make_url("")).rstrip("/")
    fake.api_url = str(api.make_url("")).rstrip("/")
    return fake


async def fetch(fake: FakeGitHub, dest: Path, *, ref: str = "main", max_bytes: int = 10_000_000) -> None:
    async with aiohttp.ClientSession() as session:
        await download_tarball(
            session,
            api_url=fake.api_url + "/",  # a trailing slash must not double up
            token=TOKEN,
            owner="octo",
            repo="repo",
            ref=ref,
            dest_file=dest,
            max_bytes=max_bytes,
        )


async def test_download_follows_the_redirect_without_forwarding_the_token(github, tmp_path: Path) -> None:
    dest = tmp_path / "dl" / "repo.tar.gz"
    await fetch(github, dest)

    assert dest.read_bytes() == github.body
    (api,) = github.api_requests
    assert api.path == "/repos/octo/repo/tarball/main"
    assert api.headers["Authorization"] == f"Bearer {TOKEN}"
    assert api.headers["Accept"] == "application/vnd.github+json"
    assert api.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert api.headers["User-Agent"] == "route-me"
    (codeload,) = github.codeload_requests
    assert "Authorization" not in codeload.headers
    assert codeload.query["token"] == "short-lived"
    assert codeload.headers["User-Agent"] == "route-me"
    snapshot = extract_snapshot(io.BytesIO(dest.read_bytes()), tmp_path / "snap")
    assert snapshot.paths() == ["README.md", "src/app.py"] and snapshot.sha == SHA


async def test_aiohttp_itself_strips_authorization_across_ports(github) -> None:
    """What we found: aiohttp (3.9+, here 3.14) drops Authorization when the redirect's
    origin (scheme, host, port) differs.  download_tarball does not rely on it."""
    async with aiohttp.ClientSession() as session:
        url = github.api_url + "/repos/octo/repo/tarball/main"
        async with session.get(url, headers={"Authorization": "Bearer x"}) as resp:
            assert resp.status == 200
    assert github.api_requests[-1].headers["Authorization"] == "Bearer x"
    assert "Authorization" not in github.codeload_requests[-1].headers


async def test_same_origin_redirect_keeps_the_token(github, tmp_path: Path) -> None:
    await fetch(github, tmp_path / "t.tgz", ref="same-origin")
    assert [r.path for r in github.api_requests] == ["/repos/octo/repo/tarball/same-origin", "/same-origin/main"]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in github.api_requests)


async def test_ref_is_quoted_into_one_path_segment(github, tmp_path: Path) -> None:
    await fetch(github, tmp_path / "t.tgz", ref="feature/x y")
    assert github.api_requests[0].raw_path == "/repos/octo/repo/tarball/feature%2Fx%20y"


@pytest.mark.parametrize("chunked", [False, True])
async def test_size_cap_aborts_and_removes_the_partial_file(github, tmp_path: Path, chunked: bool) -> None:
    github.body = make_tar([(f"{TOP}/noise.bin", bytes(range(256)) * 400)])
    github.chunked = chunked
    dest = tmp_path / "t.tgz"
    with pytest.raises(TarballTooLarge) as caught:
        await fetch(github, dest, max_bytes=len(github.body) - 1)
    assert caught.value.max_bytes == len(github.body) - 1
    assert not caught.value.retryable
    assert not dest.exists()
    await fetch(github, dest, max_bytes=len(github.body))  # exactly at the cap is fine
    assert dest.read_bytes() == github.body


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (403, False), (429, True), (502, True), (500, True)])
async def test_error_status_maps_to_tarball_error(github, tmp_path: Path, status: int, retryable: bool) -> None:
    github.api_status = status
    dest = tmp_path / "t.tgz"
    with pytest.raises(TarballError) as caught:
        await fetch(github, dest)
    assert caught.value.status == status
    assert caught.value.message == f"status {status}"
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == (7.0 if status == 429 else None)
    assert TOKEN not in str(caught.value)
    assert not dest.exists()


async def test_redirect_loop_is_an_error(github, tmp_path: Path) -> None:
    with pytest.raises(TarballError, match="redirects"):
        await fetch(github, tmp_path / "t.tgz", ref="loop")


async def test_connection_refused_is_a_retryable_error(tmp_path: Path, unused_tcp_port: int) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TarballError) as caught:
            await download_tarball(
                session, api_url=f"http://127.0.0.1:{unused_tcp_port}", token=TOKEN, owner="o",
                repo="r", ref="main", dest_file=tmp_path / "t.tgz", max_bytes=100,
            )
    assert caught.value.status == 0 and caught.value.retryable


@pytest.mark.parametrize(("start", "location", "expected"), [
    ("https://api.github.com/repos/o/r/tarball/main", "https://codeload.github.com/o/r/legacy.tar.gz/main",
     "https://codeload.github.com/o/r/legacy.tar.gz/main"),
    ("http://127.0.0.1:8080/repos/o/r/tarball/main", "http://127.0.0.1:9090/x", "http://127.0.0.1:9090/x"),
    ("http://127.0.0.1:8080/repos/o/r/tarball/main", "/same-origin", "http://127.0.0.1:8080/same-origin"),
])
def test_redirect_targets_that_are_followed(start: str, location: str, expected: str) -> None:
    assert str(redirect_target(URL(start), location, status=302)) == expected


@pytest.mark.parametrize("location", ["http://codeload.github.com/o/r/legacy.tar.gz/main?token=t",
                                      "ftp://codeload.github.com/x", "file:///etc/passwd"])
def test_an_https_download_never_redirects_to_plain_http_or_another_scheme(location: str) -> None:
    with pytest.raises(TarballError) as caught:
        redirect_target(URL("https://api.github.com/repos/o/r/tarball/main"), location, status=302)
    assert caught.value.status == 302 and "token=t" not in str(caught.value)


async def test_a_download_that_never_finishes_hits_the_total_timeout(github, tmp_path: Path) -> None:
    github.chunked = github.stall = True  # headers and a few bytes, then silence under sock_read
    dest = tmp_path / "t.tgz"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TarballError, match="did not finish within 0.2 seconds") as caught:
            await download_tarball(session, api_url=github.api_url, token=TOKEN, owner="octo", repo="repo",
                                   ref="main", dest_file=dest, max_bytes=10_000_000, total_seconds=0.2)
    assert caught.value.retryable and not dest.exists()


# --- snapshot cache ------------------------------------------------------------------------


def tar_fetcher(files: dict[str, bytes], sha: str, calls: list[Path], gate: asyncio.Event | None = None):
    """A fetch callback that extracts a prepared tarball (as the planner stage will do)."""

    async def fetch_into(dest: Path) -> Snapshot:
        calls.append(dest)
        if gate is not None:
            await gate.wait()
        data = make_tar([(f"{TOP}/{name}", body) for name, body in files.items()], sha=sha)
        return extract_snapshot(io.BytesIO(data), dest)

    return fetch_into


async def test_concurrent_callers_share_one_fetch(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache")
    calls: list[Path] = []
    gate = asyncio.Event()
    fetch_into = tar_fetcher({"a.py": b"x"}, SHA, calls, gate)
    waiting = [asyncio.create_task(cache.get_or_fetch("octo/repo", SHA, fetch_into)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    snapshots = await asyncio.gather(*waiting)
    assert len(calls) == 1
    assert all(s is snapshots[0] for s in snapshots)
    assert snapshots[0].root == cache.path_for("octo/repo", SHA)
    assert snapshots[0].read_text("a.py") == "x"
    # later stages hit the cache without fetching
    assert await cache.get_or_fetch("octo/repo", SHA, fetch_into) is snapshots[0]
    assert len(calls) == 1


async def test_a_ref_is_stored_under_the_sha_it_resolved_to(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache")
    calls: list[Path] = []
    snapshot = await cache.get_or_fetch("octo/repo", "main", tar_fetcher({"a": b"1"}, SHA, calls))
    assert snapshot.sha == SHA and snapshot.root == cache.path_for("octo/repo", SHA)
    assert cache.get("octo/repo", SHA) is snapshot
    assert cache.get("octo/repo", "main") is None
    # the branch moves, so a ref is fetched again; the same sha is not stored twice
    again = await cache.get_or_fetch("octo/repo", "main", tar_fetcher({"a": b"1"}, SHA, calls))
    assert len(calls) == 2 and again.root == snapshot.root and len(cache) == 1
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        f"octo+repo@{SHA}", f"octo+repo@{SHA}.json"
    ]


async def test_failed_fetch_leaves_nothing_and_can_be_retried(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache")

    async def broken(dest: Path) -> Snapshot:
        dest.mkdir()
        (dest / "half").write_text("x")
        raise UnsafeArchive("boom")

    with pytest.raises(UnsafeArchive):
        await cache.get_or_fetch("octo/repo", SHA, broken)
    assert list((tmp_path / "cache").iterdir()) == []
    calls: list[Path] = []
    assert (await cache.get_or_fetch("octo/repo", SHA, tar_fetcher({"a": b"1"}, SHA, calls))).sha == SHA


async def test_a_fetch_for_one_sha_returning_another_is_refused(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache")
    with pytest.raises(ValueError, match="wanted"):
        await cache.get_or_fetch("octo/repo", SHA2, tar_fetcher({"a": b"1"}, SHA, []))
    assert len(cache) == 0 and list((tmp_path / "cache").iterdir()) == []


async def test_one_caller_cancelled_does_not_cancel_the_shared_fetch(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache")
    gate = asyncio.Event()
    calls: list[Path] = []
    fetch_into = tar_fetcher({"a": b"1"}, SHA, calls, gate)
    first = asyncio.create_task(cache.get_or_fetch("octo/repo", SHA, fetch_into))
    second = asyncio.create_task(cache.get_or_fetch("octo/repo", SHA, fetch_into))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert (await second).sha == SHA
    assert first.cancelled() and len(calls) == 1


async def test_least_recently_used_is_evicted_from_disk(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path / "cache", max_entries=2)
    calls: list[Path] = []
    for sha in (SHA, SHA2):
        await cache.get_or_fetch("octo/repo", sha, tar_fetcher({"f": sha.encode()}, sha, calls))
    assert cache.get("octo/repo", SHA) is not None  # SHA is now the most recently used
    await cache.get_or_fetch("octo/repo", SHA3, tar_fetcher({"f": b"3"}, SHA3, calls))
    assert cache.get("octo/repo", SHA2) is None
    assert not cache.path_for("octo/repo", SHA2).exists()
    assert not cache.path_for("octo/repo", SHA2).with_name(f"octo+repo@{SHA2}.json").exists()
    assert cache.get("octo/repo", SHA) is not None and cache.get("octo/repo", SHA3) is not None
    assert len(cache) == 2


async def test_restart_reindexes_trees_left_on_disk(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    first = SnapshotCache(root)
    calls: list[Path] = []
    made = await first.get_or_fetch("octo/repo", SHA, _fetch_with_link(calls))
    assert made.symlinks == frozenset({"link"})
    (root / ".fetch-deadbeef").mkdir()  # a fetch interrupted by a crash ...
    (root / "..fetch-deadbeef.tar.gz").write_bytes(b"partial download")  # ... its archive
    (root / "..fetch-deadbeef.partial-x1").mkdir()  # ... and the extractor's staging dir
    (root / f"octo+repo@{SHA2}.json.tmp").write_text("{")  # a sidecar write cut short
    (root / f"octo+other@{SHA2}").mkdir()  # a tree whose sidecar was never written
    (root / f"octo+bad@{SHA3}.json").write_text("{not json")
    (root / "unrelated").mkdir()  # not ours: left alone

    second = SnapshotCache(root)
    again = second.get("octo/repo", SHA)
    assert again is not None and again.paths() == made.paths() and again.symlinks == made.symlinks
    assert await second.get_or_fetch("octo/repo", SHA, _fetch_with_link(calls)) is again
    assert len(calls) == 1  # nothing refetched after the restart
    assert sorted(p.name for p in root.iterdir()) == sorted([f"octo+repo@{SHA}", f"octo+repo@{SHA}.json", "unrelated"])


async def test_restart_with_a_smaller_limit_evicts_the_oldest(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = SnapshotCache(root)
    for sha in (SHA, SHA2, SHA3):
        await cache.get_or_fetch("octo/repo", sha, tar_fetcher({"f": b"1"}, sha, []))
    for age, sha in enumerate((SHA3, SHA, SHA2)):  # SHA3 oldest
        os.utime(root / f"octo+repo@{sha}.json", (1000 + age, 1000 + age))
    smaller = SnapshotCache(root, max_entries=2)
    assert smaller.get("octo/repo", SHA3) is None and not (root / f"octo+repo@{SHA3}").exists()
    assert smaller.get("octo/repo", SHA) is not None and smaller.get("octo/repo", SHA2) is not None


def test_sidecar_holds_repo_sha_symlinks_and_skipped_files(tmp_path: Path) -> None:
    cache = SnapshotCache(tmp_path)
    asyncio.run(cache.get_or_fetch("octo/repo", SHA, _fetch_with_link([])))
    record = json.loads((tmp_path / f"octo+repo@{SHA}.json").read_text())
    assert record == {"repo": "octo/repo", "sha": SHA, "symlinks": ["link"], "skipped": {}}


@pytest.mark.parametrize("repo", ["octo", "octo/repo/x", "../x", "octo/re po", ""])
def test_bad_repo_names_are_refused(tmp_path: Path, repo: str) -> None:
    cache = SnapshotCache(tmp_path)
    with pytest.raises(ValueError):
        cache.path_for(repo, SHA)
    with pytest.raises(ValueError):
        asyncio.run(cache.get_or_fetch(repo, "main", _fetch_with_link([])))


def test_bad_sha_and_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SnapshotCache(tmp_path, max_entries=0)
    cache = SnapshotCache(tmp_path)
    with pytest.raises(ValueError):
        cache.path_for("octo/repo", "../../etc")
    assert cache.get("octo/repo", "main") is None


def _fetch_with_link(calls: list[Path]):
    async def fetch_into(dest: Path) -> Snapshot:
        calls.append(dest)
        data = make_tar([(f"{TOP}/a.txt", b"a"), special(f"{TOP}/link", tarfile.SYMTYPE, "a.txt")])
        return extract_snapshot(io.BytesIO(data), dest)

    return fetch_into
