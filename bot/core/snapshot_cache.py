"""An on-disk LRU of extracted snapshots keyed by repository and commit, shared by the stages of an issue."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.core.archive import is_full_sha
from bot.core.snapshot import Snapshot

log = logging.getLogger(__name__)

_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SIDECAR = ".json"
_PARTIAL_PREFIX = ".fetch-"
# Names this cache creates: trees, and staging entries of fetches ("<dest>", the extractor's
# ".<dest>.partial-*", a caller's ".<dest>.tar.gz"), all starting with dots and "fetch-".
_TREE_RE = re.compile(r"[A-Za-z0-9_.-]+\+[A-Za-z0-9_.-]+@[0-9a-f]{40,64}")
_STAGING_RE = re.compile(r"\.+fetch-")

Fetch = Callable[[Path], Awaitable[Snapshot]]


class SnapshotCache:
    """Extracted trees under ``root``, at most ``max_entries`` of them, least recently used evicted.

    Each tree ``<owner>+<name>@<sha>/`` has a JSON sidecar ``<owner>+<name>@<sha>.json``
    holding the repo, sha, symlinks and skipped files; it is written last, so a tree without one is an
    interrupted fetch and is deleted when a new process indexes the directory.
    """

    def __init__(self, root: Path, *, max_entries: int = 8) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.root = Path(root)
        self.max_entries = max_entries
        # key -> Snapshot, or None for a tree indexed from disk and not walked yet.
        self._entries: OrderedDict[tuple[str, str], Snapshot | None] = OrderedDict()
        self._symlinks: dict[tuple[str, str], frozenset[str]] = {}
        self._skipped: dict[tuple[str, str], dict[str, str]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[Snapshot]] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self._reindex()

    def path_for(self, repo: str, sha: str) -> Path:
        """Where the tree of ``repo`` (``owner/name``) at ``sha`` lives."""
        _check_repo(repo)
        if not is_full_sha(sha):
            raise ValueError(f"not a full commit sha: {sha!r}")
        owner, name = repo.split("/")
        return self.root / f"{owner}+{name}@{sha}"

    def get(self, repo: str, sha: str) -> Snapshot | None:
        """The cached snapshot, or None.  A hit counts as a use for eviction."""
        if not is_full_sha(sha):
            return None
        key = (repo, sha)
        if key not in self._entries:
            return None
        snapshot = self._entries[key]
        if snapshot is None:
            path = self.path_for(repo, sha)
            if not path.is_dir():
                self._forget(key)
                return None
            snapshot = Snapshot.from_directory(path, sha, symlinks=self._symlinks.get(key, frozenset()),
                                               skipped=self._skipped.get(key))
            self._entries[key] = snapshot
        self._entries.move_to_end(key)
        # Touch the sidecar so a restarted process rebuilds the same LRU order.
        _touch(self._sidecar(self.path_for(repo, sha)))
        return snapshot

    async def get_or_fetch(self, repo: str, sha_or_ref: str, fetch: Fetch) -> Snapshot:
        """The snapshot of ``repo`` at a sha or a ref, fetching it at most once at a time.

        ``fetch(dest_dir)`` must create ``dest_dir`` (it does not exist yet) and return the
        snapshot extracted there.  Concurrent callers for the same key share one fetch; a
        ref (e.g. ``main``) is always fetched anew, since it moves, and the result is stored
        under the sha the snapshot reports.
        """
        if is_full_sha(sha_or_ref):
            self.path_for(repo, sha_or_ref)  # validates repo before any work
            hit = self.get(repo, sha_or_ref)
            if hit is not None:
                return hit
        else:
            _check_repo(repo)
        key = (repo, sha_or_ref)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._fetch_and_store(repo, sha_or_ref, fetch))
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._fetch_done(key, done))
        # shield: one caller giving up must not cancel the fetch other callers are awaiting.
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Cancel fetches still running (application shutdown)."""
        pending = list(self._inflight.values())
        for future in pending:
            future.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._entries)

    async def _fetch_and_store(self, repo: str, sha_or_ref: str, fetch: Fetch) -> Snapshot:
        staging = self.root / f"{_PARTIAL_PREFIX}{uuid.uuid4().hex}"
        try:
            fetched = await fetch(staging)
            if is_full_sha(sha_or_ref) and fetched.sha != sha_or_ref:
                raise ValueError(f"fetched commit {fetched.sha}, wanted {sha_or_ref}")
            key = (repo, fetched.sha)
            final = self.path_for(repo, fetched.sha)
            existing = self.get(repo, fetched.sha)
            if existing is not None:  # a ref resolved to a sha we already hold
                return existing
            if final.exists():  # an orphan without sidecar; removed inline so no one races us
                shutil.rmtree(final, ignore_errors=True)
            os.rename(staging, final)
        finally:
            if staging.exists():
                await asyncio.to_thread(shutil.rmtree, staging, True)
        snapshot = Snapshot(
            root=final, sha=fetched.sha, symlinks=fetched.symlinks, _paths=tuple(fetched.paths()),
            skipped=dict(fetched.skipped),
        )
        _write_json(
            self._sidecar(final),
            {"repo": repo, "sha": fetched.sha, "symlinks": sorted(fetched.symlinks),
             "skipped": dict(fetched.skipped)},
        )
        self._entries[key] = snapshot
        self._symlinks[key] = fetched.symlinks
        self._skipped[key] = dict(fetched.skipped)
        self._entries.move_to_end(key)
        await self._evict(keep=key)
        return snapshot

    def _fetch_done(self, key: tuple[str, str], done: asyncio.Future[Snapshot]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if not done.cancelled() and done.exception() is not None:
            # Marks the exception retrieved even if every caller was cancelled meanwhile.
            log.debug("snapshot fetch %s failed: %r", key, done.exception())

    async def _evict(self, *, keep: tuple[str, str]) -> None:
        while len(self._entries) > self.max_entries:
            oldest = next(k for k in self._entries if k != keep)
            path = self.path_for(*oldest)
            self._forget(oldest)
            # Sidecar first: a crash mid-delete then leaves an orphan that reindex removes.
            self._sidecar(path).unlink(missing_ok=True)
            await asyncio.to_thread(shutil.rmtree, path, True)
            log.info("evicted snapshot %s@%s", *oldest)

    def _forget(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)
        self._symlinks.pop(key, None)
        self._skipped.pop(key, None)

    def _reindex(self) -> None:
        found: list[tuple[float, tuple[str, str], frozenset[str], dict[str, str]]] = []
        sidecars: set[str] = set()
        for entry in self.root.iterdir():
            tree = entry.with_name(entry.name.removesuffix(_SIDECAR))
            if entry.name.endswith(_SIDECAR) and _TREE_RE.fullmatch(tree.name) and entry.is_file():
                record = _read_json(entry)
                try:
                    key = (str(record["repo"]), str(record["sha"]))
                    valid = self.path_for(*key) == tree and tree.is_dir()
                    links = frozenset(str(p) for p in record.get("symlinks", []))
                    skipped = {str(k): str(v) for k, v in dict(record.get("skipped", {})).items()}
                except (KeyError, TypeError, ValueError):
                    valid = False
                if not valid:
                    entry.unlink(missing_ok=True)
                    continue
                sidecars.add(tree.name)
                found.append((entry.stat().st_mtime, key, links, skipped))
        for entry in self.root.iterdir():
            if _STAGING_RE.match(entry.name):  # an interrupted fetch: its dir, archive or extraction
                _remove(entry)
            elif _TREE_RE.fullmatch(entry.name) and entry.is_dir() and entry.name not in sidecars:
                _remove(entry)  # a tree whose sidecar was never written
            elif entry.name.endswith(".json.tmp") and _TREE_RE.fullmatch(entry.name[:-9]):
                _remove(entry)
            # anything else is not ours: never delete what another component put here
        for _, key, links, skipped in sorted(found, key=lambda item: (item[0], item[1])):
            self._entries[key] = None
            self._symlinks[key] = links
            self._skipped[key] = skipped
        if len(self._entries) > self.max_entries:
            for key in list(self._entries)[: len(self._entries) - self.max_entries]:
                path = self.path_for(*key)
                self._forget(key)
                self._sidecar(path).unlink(missing_ok=True)
                shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def _sidecar(tree: Path) -> Path:
        return tree.with_name(tree.name + _SIDECAR)


def _check_repo(repo: str) -> None:
    if not _REPO_RE.fullmatch(repo) or any(part in (".", "..") for part in repo.split("/")):
        raise ValueError(f"not an owner/name repository: {repo!r}")


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(value), encoding="utf-8")
    os.replace(partial, path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        pass
