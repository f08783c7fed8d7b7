"""Commits, branches and pull requests through the Git Data API, safe to repeat after a failure.

A change becomes one tree (base tree plus inline contents, ``sha: null`` for deletions),
one commit and one ref.  The base is the commit's real tree, listed once with
``GET git/trees/{sha}?recursive=1`` (``fetch_tree``): only changed entries are sent, so every
other path keeps its exact blob and mode (symlinks stay 120000), whatever the tarball held.  Creating a ref or a pull request is not repeatable, so when such
a call fails with a 5xx, a network error or a timeout (GitHub may have done the work and
lost only the answer) the code first looks for what GitHub may already have made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import gidgethub

from bot.core.changes import FileChange
from bot.core.git_tree import GitTree
from bot.github.client import GitHubClient, get_optional

log = logging.getLogger(__name__)

MAX_BRANCH_SUFFIX = 20
# Failures after which the request may or may not have taken effect.
MAYBE_DONE = (gidgethub.GitHubBroken, aiohttp.ClientError, asyncio.TimeoutError, TimeoutError)


async def fetch_tree(gh: GitHubClient, api: str, commit: str) -> GitTree:
    """The real tree of ``commit``: one recursive listing (GitHub resolves a commit to its tree).

    GitHub truncates a listing over 100,000 entries or 7 MB (``truncated: true``); the
    directories a change touches are then listed one level at a time by ``complete_tree``.
    """
    return GitTree.from_api(await gh.getitem(f"{api}/git/trees/{commit}?recursive=1"))


async def complete_tree(gh: GitHubClient, api: str, tree: GitTree, paths: Sequence[str]) -> GitTree:
    """``tree`` with every directory above ``paths`` listed, when the recursive listing was truncated.

    No request at all for a complete listing; otherwise one per directory not yet known.
    """
    for directory in tree.missing_dirs(paths):
        if directory == "":
            sha = tree.sha
        else:
            item = tree.items.get(directory)
            if item is None or item.type != "tree":
                tree = tree.with_directory(directory, {"tree": []})  # nothing can be below it
                continue
            sha = item.sha
        tree = tree.with_directory(directory, await gh.getitem(f"{api}/git/trees/{sha}"))
    return tree


async def create_commit(gh: GitHubClient, api: str, *, parent: str, changes: Sequence[FileChange],
                        message: str, mode_of: Callable[[str], str] = lambda path: "100644",
                        base_tree: str | None = None) -> str:
    """One tree and one commit on top of ``parent``; returns the new commit sha.

    ``mode_of`` gives an existing file's git mode, so an edited script keeps its exec bit.
    ``base_tree`` is the parent's root tree when already known (from ``fetch_tree``).
    """
    if base_tree is None:
        # base_tree must be a tree id, not a commit id: GET trees resolves the commit's root tree.
        base_tree = (await gh.getitem(f"{api}/git/trees/{parent}"))["sha"]
    entries: list[dict[str, Any]] = []
    for change in changes:
        if change.action == "delete":
            entries.append({"path": change.path, "mode": "100644", "type": "blob", "sha": None})
        else:
            mode = mode_of(change.path) if change.action == "modify" else "100644"
            entries.append({"path": change.path, "mode": mode, "type": "blob", "content": change.new})
    tree = await gh.post(f"{api}/git/trees", data={"base_tree": base_tree, "tree": entries})
    commit = await gh.post(f"{api}/git/commits", data={
        "message": message, "tree": tree["sha"], "parents": [parent],
    })
    return str(commit["sha"])


async def ref_sha(gh: GitHubClient, api: str, branch: str) -> str | None:
    ref = await get_optional(gh, f"{api}/git/ref/heads/{branch}")
    return None if ref is None else str(ref["object"]["sha"])


async def create_branch(gh: GitHubClient, api: str, *, name: str, sha: str) -> str:
    """Create ``name`` (or ``name-2``, ``name-3``… when taken) at ``sha``; returns the branch made.

    A branch that already points at ``sha`` is ours from an earlier attempt and is reused.
    """
    for n in range(1, MAX_BRANCH_SUFFIX + 1):
        branch = name if n == 1 else f"{name}-{n}"
        try:
            await gh.post(f"{api}/git/refs", data={"ref": f"refs/heads/{branch}", "sha": sha})
            return branch
        except MAYBE_DONE:
            # The ref may exist despite the error; look before trying again.
            if await ref_sha(gh, api, branch) == sha:
                return branch
            await gh.post(f"{api}/git/refs", data={"ref": f"refs/heads/{branch}", "sha": sha})
            return branch
        except gidgethub.BadRequest as exc:
            if int(exc.status_code) != 422:
                raise
            if await ref_sha(gh, api, branch) == sha:
                return branch
    raise RuntimeError(f"no free branch name for {name} after {MAX_BRANCH_SUFFIX} tries")


async def delete_branch(gh: GitHubClient, api: str, branch: str) -> None:
    try:
        await gh.delete(f"{api}/git/refs/heads/{branch}")
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) not in (404, 422):
            raise


async def find_open_pull(gh: GitHubClient, api: str, *, owner: str, branch: str) -> dict[str, Any] | None:
    pulls = await gh.getitem(f"{api}/pulls{{?head,state}}", {"head": f"{owner}:{branch}", "state": "open"})
    return pulls[0] if pulls else None


async def open_pull_request(gh: GitHubClient, api: str, *, owner: str, branch: str, base: str,
                            title: str, body: str, draft: bool) -> dict[str, Any]:
    """Open the pull request, or find the one a failed earlier call already opened."""
    data = {"title": title, "head": branch, "base": base, "body": body, "draft": draft}
    try:
        return await gh.post(f"{api}/pulls", data=data)
    except MAYBE_DONE:
        existing = await find_open_pull(gh, api, owner=owner, branch=branch)
        if existing is not None:
            return existing
        return await gh.post(f"{api}/pulls", data=data)
    except gidgethub.BadRequest as exc:
        # GitHub's "A pull request already exists" is a 422 whose text sits in errors[0].
        if int(exc.status_code) == 422:
            existing = await find_open_pull(gh, api, owner=owner, branch=branch)
            if existing is not None:
                return existing
        raise


async def advance_branch(gh: GitHubClient, api: str, *, branch: str, sha: str) -> None:
    """Move ``branch`` to ``sha`` (a fast-forward; GitHub refuses anything else without force)."""
    await gh.patch(f"{api}/git/refs/heads/{branch}", data={"sha": sha, "force": False})
