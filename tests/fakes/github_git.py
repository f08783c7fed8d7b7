"""Git plumbing for the fake GitHub: a bare repository on disk driven through `git`."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40
BLOB_MODES = frozenset({"100644", "100755", "120000"})
_SHA_RE = re.compile(r"^[0-9a-f]{4,40}$")
_BAD_SEGMENTS = frozenset({"", ".", "..", ".git"})


class GitError(RuntimeError):
    """A git command failed; ``stderr`` says why."""


@dataclass(frozen=True)
class TreeEntry:
    """One line of ``git ls-tree -l``."""

    mode: str
    type: str
    sha: str
    path: str
    size: int | None


@dataclass(frozen=True)
class FileDiff:
    """One file of a diff between two commits, as GitHub's pulls/{n}/files reports it."""

    filename: str
    status: str
    additions: int
    deletions: int
    sha: str
    patch: str | None


@dataclass(frozen=True)
class Author:
    """Name, e-mail and an ISO-8601 date, as the Git Data API takes them."""

    name: str
    email: str
    date: str


def valid_tree_path(path: str) -> bool:
    """GitHub refuses absolute paths, ``.``/``..``/``.git`` segments and empty segments."""
    return not path.startswith("/") and not any(s in _BAD_SEGMENTS for s in path.split("/"))


def _env(author: Author | None = None, committer: Author | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    for prefix, who in (("AUTHOR", author), ("COMMITTER", committer or author)):
        if who is not None:
            env[f"GIT_{prefix}_NAME"] = who.name
            env[f"GIT_{prefix}_EMAIL"] = who.email
            env[f"GIT_{prefix}_DATE"] = who.date
    return env


class GitRepo:
    """A bare repository; every method is one or a few git plumbing commands."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def init_bare(cls, path: Path, *, default_branch: str) -> GitRepo:
        """``git init --bare`` with HEAD pointing at ``default_branch``."""
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        # An empty --template skips copying sample hooks: init drops from ~60 ms to ~10 ms.
        repo.run("init", "--quiet", "--bare", "--template=", f"--initial-branch={default_branch}")
        return repo

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        author: Author | None = None,
        committer: Author | None = None,
    ) -> bytes:
        """Run git in the repository and return stdout; raise GitError on failure."""
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input,
            capture_output=True,
            env=_env(author, committer),
            check=False,
        )
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def text(self, *args: str) -> str:
        """Stdout of a git command, decoded and stripped."""
        return self.run(*args).decode("utf-8", errors="replace").strip()

    # objects -------------------------------------------------------------------------
    def hash_blob(self, data: bytes) -> str:
        """Write a blob and return its sha."""
        return self.run("hash-object", "-w", "--stdin", input=data).decode().strip()

    def hash_blobs(self, blobs: Sequence[bytes]) -> list[str]:
        """Write many blobs with one git process (one per blob costs ~4 ms each)."""
        if not blobs:
            return []
        with tempfile.TemporaryDirectory(dir=self.path) as staging:
            paths = []
            for index, data in enumerate(blobs):
                target = Path(staging) / str(index)
                target.write_bytes(data)
                paths.append(str(target))
            out = self.run("hash-object", "-w", "--no-filters", "--stdin-paths",
                           input="\n".join(paths).encode())
        return out.decode().split()

    def object_type(self, sha: str) -> str | None:
        """``blob``/``tree``/``commit``/``tag`` for a full or abbreviated sha, else None."""
        if not _SHA_RE.match(sha or ""):
            return None
        try:
            return self.text("cat-file", "-t", sha)
        except GitError:
            return None

    def read_blob(self, sha: str) -> bytes | None:
        """The blob's bytes, or None when ``sha`` is not a blob."""
        if self.object_type(sha) != "blob":
            return None
        return self.run("cat-file", "blob", sha)

    def resolve(self, rev: str, *, peel: str = "commit") -> str | None:
        """Full sha of ``rev^{peel}`` (branch, ``heads/x``, ``refs/...`` or sha), else None."""
        if not rev or rev.startswith("-") or any(c in rev for c in "\0\n ^~:"):
            return None
        try:
            return self.text("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{{peel}}}")
        except GitError:
            return None

    def ls_tree(self, tree_ish: str, *, recursive: bool = False) -> list[TreeEntry]:
        """Entries of a tree (``-r -t`` lists subtrees too, like GitHub's recursive=1)."""
        flags = ["-r", "-t"] if recursive else []
        out = self.run("ls-tree", "-l", "-z", *flags, "--end-of-options", tree_ish)
        entries = []
        for record in out.decode("utf-8", errors="surrogateescape").split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, path, None if size == "-" else int(size)))
        return entries

    def flat_files(self, tree_ish: str) -> dict[str, tuple[str, str, str]]:
        """path → (mode, type, sha) of every non-tree entry below ``tree_ish``."""
        return {
            e.path: (e.mode, e.type, e.sha)
            for e in self.ls_tree(tree_ish, recursive=True)
            if e.type != "tree"
        }

    def write_tree(self, files: Mapping[str, tuple[str, str, str]]) -> str:
        """Build nested trees bottom-up from a flat path → (mode, type, sha) map."""
        children: dict[str, dict[str, tuple[str, str, str]]] = {"": {}}
        for path in sorted(files):
            parts = path.split("/")
            for depth in range(1, len(parts)):
                parent, name = "/".join(parts[: depth - 1]), parts[depth - 1]
                children.setdefault("/".join(parts[:depth]), {})
                children.setdefault(parent, {})[name] = ("040000", "tree", "")
            children.setdefault("/".join(parts[:-1]), {})[parts[-1]] = files[path]
        written: dict[str, str] = {}
        for directory in sorted(children, key=lambda d: -d.count("/") if d else 1):
            lines = []
            for name, (mode, kind, sha) in sorted(children[directory].items()):
                if kind == "tree":
                    sha = written[f"{directory}/{name}" if directory else name]
                lines.append(f"{mode} {kind} {sha}\t{name}")
            body = ("\0".join(lines) + "\0").encode() if lines else b""
            written[directory] = self.run("mktree", "-z", "--missing", input=body).decode().strip()
        return written[""]

    def commit_tree(
        self, tree: str, *, parents: Sequence[str], message: str, author: Author,
        committer: Author | None = None,
    ) -> str:
        """``git commit-tree``; the message is passed verbatim on stdin."""
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(
            *args, input=message.encode(), author=author, committer=committer
        ).decode().strip()

    def commit_info(self, sha: str) -> dict[str, object] | None:
        """Tree, parents, author, committer and message of a commit, or None."""
        if self.object_type(sha) != "commit":
            return None
        raw = self.run("cat-file", "commit", sha).decode("utf-8", errors="replace")
        header, _, message = raw.partition("\n\n")
        info: dict[str, object] = {"parents": [], "message": message}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "parent":
                info["parents"].append(value)  # type: ignore[union-attr]
            elif key in ("tree", "author", "committer"):
                info[key] = value
        return info

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ``ancestor`` is reachable from ``descendant``."""
        try:
            self.run("merge-base", "--is-ancestor", ancestor, descendant)
            return True
        except GitError:
            return False

    # refs ----------------------------------------------------------------------------
    def ref_sha(self, ref: str) -> str | None:
        """Exact ref lookup (``refs/heads/x``); no abbreviation, unlike rev-parse."""
        try:
            out = self.text("show-ref", "--verify", "--end-of-options", ref)
        except GitError:
            return None
        return out.split()[0] if out else None

    def set_ref(self, ref: str, sha: str) -> None:
        """Create or move ``ref``."""
        self.run("update-ref", "--end-of-options", ref, sha)

    def delete_ref(self, ref: str) -> None:
        """Delete ``ref``."""
        self.run("update-ref", "-d", "--end-of-options", ref)

    def refs(self, prefix: str = "refs/heads/") -> dict[str, str]:
        """All refs under ``prefix`` → sha."""
        out = self.text("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return dict(line.split(" ", 1) for line in out.splitlines() if line)  # type: ignore[misc]

    # diffs and archives ---------------------------------------------------------------
    def diff_files(self, base: str, head: str) -> list[FileDiff]:
        """Per-file status, line counts and hunk text of ``merge-base(base, head)..head``."""
        merge_base = self.text("merge-base", base, head)
        raw = self.run("diff", "--no-renames", "--raw", "--numstat", "-z", "--no-abbrev",
                       merge_base, head).decode("utf-8", errors="surrogateescape")
        fields = raw.split("\0")
        statuses: dict[str, tuple[str, str, str]] = {}
        stats: dict[str, tuple[int, int, bool]] = {}
        i = 0
        while i < len(fields) - 1:
            item = fields[i]
            if item.startswith(":"):
                _old_mode, _new_mode, old_sha, new_sha, letter = item[1:].split()
                statuses[fields[i + 1]] = (letter, old_sha, new_sha)
                i += 2
            elif item:
                added, deleted, path = item.split("\t", 2)
                binary = added == "-"
                stats[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
                i += 1
            else:
                i += 1
        names = {"A": "added", "D": "removed", "M": "modified", "T": "changed"}
        result = []
        for path, (letter, old_sha, new_sha) in sorted(statuses.items()):
            additions, deletions, binary = stats.get(path, (0, 0, True))
            patch = None if binary else self._hunks(merge_base, head, path=path)
            result.append(FileDiff(
                filename=path, status=names.get(letter, "modified"), additions=additions,
                deletions=deletions, sha=new_sha if letter != "D" else old_sha, patch=patch,
            ))
        return result

    def _hunks(self, base: str, head: str, *, path: str) -> str:
        # GitHub's `patch` is the unified diff from the first "@@" on, without headers.
        out = self.run("diff", "--no-renames", "--no-color", base, head, "--", path)
        text = out.decode("utf-8", errors="replace")
        start = text.find("\n@@")
        return text[start + 1:].rstrip("\n") if start >= 0 else ""

    def archive_targz(self, sha: str, *, prefix: str) -> bytes:
        """``git archive --format=tar.gz``; for a commit git writes its sha as pax comment."""
        return self.run("archive", "--format=tar.gz", f"--prefix={prefix}", sha)


class FakeRepo(GitRepo):
    """A fake GitHub repository: identity plus the bare git repository holding its data."""

    def __init__(
        self, path: Path, *, owner: str, name: str, repo_id: int, default_branch: str,
        installation_id: int, private: bool,
    ) -> None:
        super().__init__(path)
        self.owner = owner
        self.name = name
        self.id = repo_id
        self.default_branch = default_branch
        self.installation_id = installation_id
        self.private = private

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    def head_sha(self, branch: str | None = None) -> str:
        """Tip of ``branch`` (default branch when omitted); KeyError when it does not exist."""
        sha = self.ref_sha(f"refs/heads/{branch or self.default_branch}")
        if sha is None:
            raise KeyError(branch or self.default_branch)
        return sha

    def git(self, *args: str) -> str:
        """Run any git command in the bare repository and return its stripped stdout."""
        return self.text(*args)

    def read_file(self, ref: str, path: str) -> bytes | None:
        """Bytes of ``path`` at ``ref`` (branch or sha), or None when absent or not a blob."""
        tree = self.resolve(ref, peel="tree")
        if tree is None:
            return None
        entry = self.flat_files(tree).get(path)
        return self.read_blob(entry[2]) if entry and entry[1] == "blob" else None

    def tree_paths(self, ref: str) -> dict[str, str]:
        """Every non-tree path at ``ref`` → its mode (``100644``, ``100755``, ``120000``…)."""
        tree = self.resolve(ref, peel="tree")
        if tree is None:
            raise KeyError(ref)
        return {path: mode for path, (mode, _kind, _sha) in self.flat_files(tree).items()}

    def commit_parents(self, sha: str) -> list[str]:
        """Parent shas of a commit (KeyError when ``sha`` is not a commit)."""
        info = self.commit_info(sha)
        if info is None:
            raise KeyError(sha)
        return list(info["parents"])  # type: ignore[call-overload]

    def branches(self) -> list[str]:
        """Branch names, sorted."""
        return sorted(ref.removeprefix("refs/heads/") for ref in self.refs("refs/heads/"))
