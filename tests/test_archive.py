"""Safe extraction of GitHub tarballs: real `git archive` output, and hostile archives refused."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from bot.core.archive import UnsafeArchive, extract, extract_snapshot, is_full_sha

SHA = "0123456789abcdef0123456789abcdef01234567"
TOP = "octo-repo-0123456"


def make_tar(
    entries: list[tarfile.TarInfo | tuple[str, bytes]],
    *,
    sha: str | None = SHA,
    top: str | None = TOP,
) -> bytes:
    """A tar.gz like GitHub's: pax global header with the commit, one top-level directory."""
    buf = io.BytesIO()
    headers = {"comment": sha} if sha else {}
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers=headers) as tar:
        if top:
            info = tarfile.TarInfo(top)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


class OneWayStream(io.RawIOBase):
    """A non-seekable stream, like an HTTP body: extraction must not need to seek."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


# --- a real git archive --------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


@pytest.fixture
def git_archive(tmp_path: Path) -> tuple[bytes, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "README.md").write_text("# demo\n")
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "sub" / "mod.py").write_text("def f():\n    return 1\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "logo.bin").write_bytes(bytes(range(256)))
    os.symlink("README.md", repo / "README.link")
    os.symlink("sub", repo / "pkg" / "sublink")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    head = git(repo, "rev-parse", "HEAD")
    data = subprocess.run(
        ["git", "archive", "--format=tar.gz", f"--prefix=owner-repo-{head[:7]}/", "HEAD"],
        cwd=repo, check=True, capture_output=True,
    ).stdout
    return data, head


@pytest.fixture
def git_archive_long_name(tmp_path: Path) -> bytes:
    """A real commit holding a 300-byte directory name (no file system can check it out)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "long.git"
    git(tmp_path, "init", "-q", "--bare", str(repo))

    def run(*args: str, data: bytes = b"") -> str:
        env = {**os.environ, "GIT_DIR": str(repo), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x", "GIT_CONFIG_GLOBAL": os.devnull}
        return subprocess.run(["git", *args], input=data, env=env, check=True,
                              capture_output=True).stdout.decode().strip()

    blob = run("hash-object", "-w", "--stdin", data=b"print(1)\n")
    readme = run("hash-object", "-w", "--stdin", data=b"# long\n")
    inner = run("mktree", data=f"100644 blob {blob}\tx.py\n".encode())
    root = run("mktree", data=f"100644 blob {readme}\tREADME.md\n040000 tree {inner}\t{'n' * 300}\n".encode())
    commit = run("commit-tree", root, "-m", "long name")
    return subprocess.run(["git", "--git-dir", str(repo), "archive", "--format=tar.gz", "--prefix=o-r-1/", commit],
                          check=True, capture_output=True).stdout


def test_git_archive_extracts_with_the_commit_sha_from_the_pax_header(
    git_archive: tuple[bytes, str], tmp_path: Path
) -> None:
    data, head = git_archive
    dest = tmp_path / "out" / "snap"
    snapshot = extract_snapshot(io.BytesIO(data), dest)

    assert snapshot.sha == head
    assert snapshot.root == dest
    assert snapshot.paths() == ["README.md", "logo.bin", "pkg/__init__.py", "pkg/sub/mod.py", "run.sh"]
    assert snapshot.symlinks == frozenset({"README.link", "pkg/sublink"})
    assert not (dest / "README.link").exists() and not (dest / "README.link").is_symlink()
    assert not (dest / "pkg" / "sublink").is_symlink()
    assert snapshot.read_text("pkg/sub/mod.py") == "def f():\n    return 1\n"
    assert snapshot.read_text("logo.bin") is None
    assert os.stat(dest / "run.sh").st_mode & stat.S_IXUSR
    assert not os.stat(dest / "README.md").st_mode & stat.S_IXUSR
    assert leftovers(dest.parent) == ["snap"]  # no staging directory left behind


def test_git_archive_streams_from_a_non_seekable_body(git_archive: tuple[bytes, str], tmp_path: Path) -> None:
    data, head = git_archive
    snapshot = extract_snapshot(io.BufferedReader(OneWayStream(data)), tmp_path / "snap")
    assert snapshot.sha == head
    assert "pkg/sub/mod.py" in snapshot.paths()


# --- hostile and malformed archives --------------------------------------------------------

HOSTILE = {
    "absolute path": lambda: make_tar([("/etc/evil", b"x")], top=None),
    "absolute path inside": lambda: make_tar([(f"{TOP}//etc/evil", b"x"), ("/tmp/x", b"y")]),
    "dot-dot member": lambda: make_tar([(f"{TOP}/../evil", b"x")]),
    "dot-dot deep": lambda: make_tar([(f"{TOP}/a/../../evil", b"x")]),
    "dot-dot top": lambda: make_tar([("../evil", b"x")], top=None),
    "write through symlink": lambda: make_tar(
        [special(f"{TOP}/dir", tarfile.SYMTYPE, "sub"), (f"{TOP}/dir/payload", b"x")]
    ),
    "hard link": lambda: make_tar([(f"{TOP}/a", b"x"), special(f"{TOP}/b", tarfile.LNKTYPE, f"{TOP}/a")]),
    "char device": lambda: make_tar([special(f"{TOP}/null", tarfile.CHRTYPE)]),
    "block device": lambda: make_tar([special(f"{TOP}/sda", tarfile.BLKTYPE)]),
    "fifo": lambda: make_tar([special(f"{TOP}/pipe", tarfile.FIFOTYPE)]),
    "two top-level dirs": lambda: make_tar([(f"{TOP}/a", b"x"), ("other-dir/b", b"y")]),
    "file at top level": lambda: make_tar([("loose.txt", b"x")], top=None),
    "duplicate member": lambda: make_tar([(f"{TOP}/a", b"x"), (f"{TOP}/a", b"y")]),
    "file where a dir goes": lambda: make_tar([(f"{TOP}/a", b"x"), (f"{TOP}/a/b", b"y")]),
    "no sha anywhere": lambda: make_tar([(f"{TOP}/a", b"x")], sha=None),
    "not gzip": lambda: b"this is not a tarball at all" * 10,
    "truncated": lambda: make_tar([(f"{TOP}/big", os.urandom(200_000))])[:-5000],
    "corrupt gzip body": lambda: (lambda d: d[:30] + bytes(b ^ 0xFF for b in d[30:200]) + d[200:])(
        make_tar([(f"{TOP}/a", b"hello" * 1000)])
    ),
    "backslash path": lambda: make_tar([(f"{TOP}/a\\..\\..\\evil", b"x")]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_leaves_nothing(case: str, tmp_path: Path) -> None:
    parent = tmp_path / "snapshots"
    dest = parent / "snap"
    with pytest.raises(UnsafeArchive):
        extract_snapshot(io.BytesIO(HOSTILE[case]()), dest)
    assert not dest.exists()
    assert leftovers(parent) == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_refusal_messages_name_members_not_server_paths(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive) as caught:
        extract_snapshot(io.BytesIO(HOSTILE["file where a dir goes"]()), tmp_path / "snap")
    assert str(caught.value).endswith("/a/b'") and str(tmp_path) not in str(caught.value)


def test_too_many_files_is_refused(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/f{i}", b"x") for i in range(20)])
    with pytest.raises(UnsafeArchive, match="entries"):
        extract_snapshot(io.BytesIO(data), tmp_path / "snap", max_files=10)
    assert leftovers(tmp_path) == []
    # the same archive within the cap is fine
    assert len(extract_snapshot(io.BytesIO(data), tmp_path / "ok", max_files=50).paths()) == 20


def test_too_many_bytes_is_refused_even_when_files_are_skipped(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/f{i}", b"x" * 1000) for i in range(10)])
    with pytest.raises(UnsafeArchive, match="bytes"):
        extract_snapshot(io.BytesIO(data), tmp_path / "snap", max_total_bytes=5000, max_file_bytes=10)
    assert leftovers(tmp_path) == []


def test_gzip_bomb_is_stopped_by_the_total_cap(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/zeros", bytes(5_000_000))])
    assert len(data) < 20_000  # highly compressible
    with pytest.raises(UnsafeArchive):
        extract_snapshot(io.BytesIO(data), tmp_path / "snap", max_total_bytes=1_000_000)


def test_oversized_files_are_skipped_not_fatal(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/small.txt", b"ok\n"), (f"{TOP}/data/huge.bin", b"z" * 5000)])
    result = extract(io.BytesIO(data), tmp_path / "snap", max_file_bytes=1000)
    assert result.snapshot.paths() == ["small.txt"]
    assert result.skipped == ("data/huge.bin",)
    assert not (tmp_path / "snap" / "data" / "huge.bin").exists()


def test_symlinks_inside_the_repo_are_recorded_not_created(tmp_path: Path) -> None:
    data = make_tar(
        [
            (f"{TOP}/docs/a.md", b"a"),
            special(f"{TOP}/docs/latest", tarfile.SYMTYPE, "a.md"),
            special(f"{TOP}/up", tarfile.SYMTYPE, "docs/../docs/a.md"),
        ]
    )
    snapshot = extract_snapshot(io.BytesIO(data), tmp_path / "snap")
    assert snapshot.symlinks == frozenset({"docs/latest", "up"})
    assert snapshot.paths() == ["docs/a.md"]
    assert not os.path.lexists(tmp_path / "snap" / "docs" / "latest")


def test_symlinks_pointing_outside_are_kept_as_links_not_refused(tmp_path: Path) -> None:
    # SPEC 7: a link outside the repository makes only that path unusable, never the repository.
    data = make_tar([
        (f"{TOP}/src/app.py", b"print(1)\n"),
        special(f"{TOP}/abs", tarfile.SYMTYPE, "/etc/passwd"),
        special(f"{TOP}/src/up", tarfile.SYMTYPE, "../../outside"),
        special(f"{TOP}/null", tarfile.SYMTYPE, "/dev/null"),
    ])
    snapshot = extract_snapshot(io.BytesIO(data), tmp_path / "snap")
    assert snapshot.symlinks == frozenset({"abs", "src/up", "null"})
    assert snapshot.paths() == ["src/app.py"]
    assert sorted(p.name for p in (tmp_path / "snap").rglob("*")) == ["app.py", "src"]  # no link made
    assert not (tmp_path / "outside").exists()


def test_a_path_component_over_255_bytes_is_skipped_not_fatal(tmp_path: Path) -> None:
    long_dir, long_file = "d" * 300, "f" * 256 + ".txt"
    data = make_tar([
        (f"{TOP}/ok.txt", b"ok\n"),
        (f"{TOP}/{long_file}", b"x"),
        (f"{TOP}/{long_dir}/inner.txt", b"y"),
        special(f"{TOP}/{'l' * 260}", tarfile.SYMTYPE, "ok.txt"),
        (f"{TOP}/{'é' * 128}", b"z"),  # 256 bytes in UTF-8, 128 characters
    ])
    result = extract(io.BytesIO(data), tmp_path / "snap")
    assert result.snapshot.paths() == ["ok.txt"]
    assert set(result.skipped) == {long_file, f"{long_dir}/inner.txt", "l" * 260, "é" * 128}
    assert result.snapshot.skipped_reason(f"{long_dir}/inner.txt") == "its name is too long for the file system"
    assert result.snapshot.skipped_reason("ok.txt") is None


def test_a_git_archive_with_a_long_name_extracts(git_archive_long_name: bytes, tmp_path: Path) -> None:
    result = extract(io.BytesIO(git_archive_long_name), tmp_path / "snap")
    assert result.snapshot.paths() == ["README.md"]
    assert result.skipped == ("n" * 300 + "/x.py",)


def test_expected_sha_is_used_without_a_pax_comment(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/a", b"x")], sha=None)
    assert extract_snapshot(io.BytesIO(data), tmp_path / "snap", expected_sha=SHA).sha == SHA


def test_a_sha_mismatch_is_refused(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/a", b"x")])
    with pytest.raises(UnsafeArchive, match="expected"):
        extract_snapshot(io.BytesIO(data), tmp_path / "snap", expected_sha="f" * 40)
    assert leftovers(tmp_path) == []


def test_a_garbage_pax_comment_falls_back_to_expected_sha(tmp_path: Path) -> None:
    data = make_tar([(f"{TOP}/a", b"x")], sha="not a sha")
    assert extract_snapshot(io.BytesIO(data), tmp_path / "snap", expected_sha=SHA).sha == SHA


def test_expected_sha_must_be_a_full_sha(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        extract_snapshot(io.BytesIO(make_tar([])), tmp_path / "snap", expected_sha="main")


def test_destination_must_be_absent_or_empty(tmp_path: Path) -> None:
    dest = tmp_path / "snap"
    dest.mkdir()
    snapshot = extract_snapshot(io.BytesIO(make_tar([(f"{TOP}/a", b"x")])), dest)
    assert snapshot.paths() == ["a"]
    with pytest.raises(FileExistsError):
        extract_snapshot(io.BytesIO(make_tar([(f"{TOP}/b", b"y")])), dest)
    assert (dest / "a").read_bytes() == b"x" and not (dest / "b").exists()


def test_empty_repository_gives_an_empty_snapshot(tmp_path: Path) -> None:
    snapshot = extract_snapshot(io.BytesIO(make_tar([])), tmp_path / "snap")
    assert snapshot.paths() == [] and snapshot.sha == SHA


def test_plain_tar_without_gzip_is_refused(tmp_path: Path) -> None:
    data = gzip.decompress(make_tar([(f"{TOP}/a", b"x")]))
    with pytest.raises(UnsafeArchive):
        extract_snapshot(io.BytesIO(data), tmp_path / "snap")


@pytest.mark.parametrize(
    ("value", "ok"),
    [(SHA, True), ("a" * 64, True), ("A" * 40, False), ("a" * 39, False), ("main", False), ("", False)],
)
def test_is_full_sha(value: str, ok: bool) -> None:
    assert is_full_sha(value) is ok


async def test_skipped_files_survive_a_restart_of_the_snapshot_cache(tmp_path: Path) -> None:
    from bot.core.snapshot_cache import SnapshotCache

    data = make_tar([(f"{TOP}/ok.txt", b"ok\n"), (f"{TOP}/{'n' * 300}", b"x"), (f"{TOP}/big", b"z" * 50)])

    async def fetch(dest: Path):
        return extract_snapshot(io.BytesIO(data), dest, max_file_bytes=10)

    first = await SnapshotCache(tmp_path).get_or_fetch("o/r", SHA, fetch)
    again = SnapshotCache(tmp_path).get("o/r", SHA)  # a new process indexing the directory
    assert again is not None and again.paths() == first.paths() == ["ok.txt"]
    assert again.skipped == first.skipped == {"n" * 300: "its name is too long for the file system",
                                              "big": "too large: 50 bytes, over 10"}
