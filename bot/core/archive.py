"""Safe extraction of a GitHub tarball (tar.gz stream) into a directory, producing a Snapshot."""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bot.core.snapshot import Snapshot

log = logging.getLogger(__name__)

_SHA_RE = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories
_CHUNK = 1 << 16


class UnsafeArchive(Exception):
    """The archive is hostile, malformed or over a cap; nothing was left in the destination."""


# Linux's limit on one path component (NAME_MAX); git itself allows longer names.
MAX_NAME_BYTES = 255
TOO_LARGE = "too large"
NAME_TOO_LONG = "its name is too long for the file system"


@dataclass(frozen=True)
class Extraction:
    """A snapshot plus the files left out of it (over ``max_file_bytes``, or a name too long)."""

    snapshot: Snapshot
    skipped: tuple[str, ...]


def is_full_sha(value: str) -> bool:
    """True for a full lower-case hex commit id (40 or 64 characters)."""
    return _SHA_RE.fullmatch(value) is not None


def extract_snapshot(
    fileobj: BinaryIO,
    dest: Path,
    *,
    max_total_bytes: int = 1_000_000_000,
    max_files: int = 200_000,
    max_file_bytes: int = 10_000_000,
    expected_sha: str | None = None,
) -> Snapshot:
    """Extract a GitHub tarball into ``dest`` (which must not exist or be empty); see ``extract``."""
    return extract(
        fileobj,
        dest,
        max_total_bytes=max_total_bytes,
        max_files=max_files,
        max_file_bytes=max_file_bytes,
        expected_sha=expected_sha,
    ).snapshot


def extract(
    fileobj: BinaryIO,
    dest: Path,
    *,
    max_total_bytes: int = 1_000_000_000,
    max_files: int = 200_000,
    max_file_bytes: int = 10_000_000,
    expected_sha: str | None = None,
) -> Extraction:
    """Stream-extract ``fileobj`` into ``dest``, stripping GitHub's single top-level directory.

    The commit sha comes from the pax global header (``git archive`` writes it as
    ``comment``), else ``expected_sha``.  Symlinks are recorded, never created nor followed,
    wherever they point (SPEC 7: a link outside the repository makes only that path unusable);
    hard links, devices, FIFOs, absolute or ``..`` member paths and archives over the caps
    raise UnsafeArchive.  A file over ``max_file_bytes`` or whose name the file system cannot
    hold (a component over 255 bytes: git allows it) is skipped and named in ``skipped`` and
    ``Snapshot.skipped``, with the reason.  ``max_total_bytes`` counts every regular member,
    skipped ones too, because they are still decompressed: that is what bounds a gzip bomb.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"destination is not an empty directory: {dest}")
    if expected_sha is not None and not is_full_sha(expected_sha):
        raise ValueError(f"expected_sha is not a full commit sha: {expected_sha!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Extract next to dest and rename at the end, so a refused archive leaves nothing behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        sha, paths, symlinks, skipped = _extract_into(
            fileobj,
            staging,
            max_total_bytes=max_total_bytes,
            max_files=max_files,
            max_file_bytes=max_file_bytes,
        )
        sha = _choose_sha(sha, expected_sha)
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if skipped:
        log.info("snapshot %s: skipped %d files (over %d bytes or names too long)",
                 sha, len(skipped), max_file_bytes)
    snapshot = Snapshot(
        root=dest, sha=sha, symlinks=frozenset(symlinks), _paths=tuple(sorted(paths)),
        skipped=dict(sorted(skipped.items())),
    )
    return Extraction(snapshot=snapshot, skipped=tuple(sorted(skipped)))


def _choose_sha(from_header: str | None, expected: str | None) -> str:
    if from_header is not None and expected is not None and from_header != expected:
        raise UnsafeArchive(f"archive is commit {from_header}, expected {expected}")
    sha = from_header or expected
    if sha is None:
        raise UnsafeArchive("archive names no commit (no pax comment) and none was expected")
    return sha


def _extract_into(
    fileobj: BinaryIO,
    staging: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    max_file_bytes: int,
) -> tuple[str | None, list[str], set[str], dict[str, str]]:
    paths: list[str] = []
    symlinks: set[str] = set()
    skipped: dict[str, str] = {}  # path -> why it is not in the snapshot
    seen: set[str] = set()
    top: str | None = None
    members = 0
    total = 0
    name = ""
    try:
        # "r|gz" reads the stream strictly forward: the archive is never held in memory.
        with tarfile.open(fileobj=fileobj, mode="r|gz") as tar:
            comment = tar.pax_headers.get("comment", "").strip()
            for member in tar:
                name = member.name
                members += 1
                if members > max_files:
                    raise UnsafeArchive(f"archive has more than {max_files} entries")
                root, rel = _split_member_name(member.name)
                if top is None:
                    top = root
                elif root != top:
                    raise UnsafeArchive("archive has more than one top-level directory")
                if rel is None:
                    if not member.isdir():
                        raise UnsafeArchive(f"top-level entry is not a directory: {member.name!r}")
                    continue
                _check_unique(rel, seen, symlinks)
                if member.isreg():
                    total += member.size
                    if total > max_total_bytes:
                        raise UnsafeArchive(f"archive expands to more than {max_total_bytes} bytes")
                if (member.isdir() or member.isreg() or member.issym()) and _name_too_long(rel):
                    if not member.isdir():  # what lies below a long directory name has it too
                        skipped[rel] = NAME_TOO_LONG
                    continue
                if member.isdir():
                    _make_dir(staging / rel)
                elif member.issym():
                    _check_link_target(rel, member.linkname)
                    symlinks.add(rel)
                elif member.isreg():
                    if member.size > max_file_bytes:
                        skipped[rel] = f"{TOO_LARGE}: {member.size} bytes, over {max_file_bytes}"
                        continue
                    try:
                        _write_member(tar, member, staging / rel)
                    except OSError as exc:
                        # A whole path over PATH_MAX: skipped like a long name, never fatal.
                        if exc.errno != errno.ENAMETOOLONG:
                            raise
                        skipped[rel] = NAME_TOO_LONG
                        continue
                    paths.append(rel)
                else:
                    kind = "hard link" if member.islnk() else "special file"
                    raise UnsafeArchive(f"{kind} not allowed: {member.name!r}")
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        # A truncated or corrupt download is refused like a hostile one: one error for callers.
        raise UnsafeArchive(f"unreadable archive: {exc}") from exc
    except (FileExistsError, NotADirectoryError) as exc:
        # Named by the member, never by our disk path: the message may reach an issue comment.
        raise UnsafeArchive(f"conflicting entries (a file where a directory goes): {name!r}") from exc
    sha = comment if is_full_sha(comment) else None
    return sha, paths, symlinks, skipped


def _split_member_name(name: str) -> tuple[str, str | None]:
    """(top-level directory, repo-relative path or None for the top directory itself)."""
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise UnsafeArchive(f"unsafe member path: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeArchive(f"unsafe member path: {name!r}")
    return parts[0], ("/".join(parts[1:]) or None)


def _check_unique(rel: str, seen: set[str], symlinks: set[str]) -> None:
    # A later entry must not replace an earlier one, nor live "inside" a recorded symlink:
    # that is how link-then-write escapes are built, even though links are never created.
    if rel in seen:
        raise UnsafeArchive(f"duplicate member: {rel!r}")
    seen.add(rel)
    parent = posixpath.dirname(rel)
    while parent:
        if parent in symlinks:
            raise UnsafeArchive(f"member below a symlink: {rel!r}")
        parent = posixpath.dirname(parent)


def _name_too_long(rel: str) -> bool:
    """True when a component of ``rel`` is longer than a file name may be on this disk."""
    return any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in rel.split("/"))


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # A whole path over PATH_MAX: the files below it are skipped when they are written.
        if exc.errno != errno.ENAMETOOLONG:
            raise


def _check_link_target(rel: str, target: str) -> None:
    # Only what git itself cannot store is refused: a link is never created nor followed, so
    # wherever it points (absolute, "../", /dev/null) it is only a path the models cannot use.
    if not target or "\0" in target:
        raise UnsafeArchive(f"symlink {rel!r} has an empty or NUL-bearing target")


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - isreg() members always have data
        raise UnsafeArchive(f"no data for {member.name!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    # "xb": never write through or over something already there.
    with source, open(target, "xb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            out.write(chunk)
    if written != member.size:
        raise UnsafeArchive(f"truncated member: {member.name!r}")
    # Keep only the executable bit: git tracks 644 vs 755 and a commit must preserve it.
    os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
