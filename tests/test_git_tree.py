"""The commit's real tree against the snapshot: what a change may touch (bot/core/git_tree.py)."""

from __future__ import annotations

import hashlib
import subprocess

from bot.core.changes import FileChange
from bot.core.git_tree import UNKNOWN, GitTree, TreeItem, blob_sha, change_problems, why_not_editable


def listing(entries: dict[str, tuple[str, str, str]], *, truncated: bool = False) -> GitTree:
    return GitTree.from_api({"sha": "t" * 40, "truncated": truncated, "tree": [
        {"path": p, "mode": m, "type": t, "sha": s} for p, (m, t, s) in entries.items()]})


TEXT = b"print(1)\n"
TREE = listing({
    "app.py": ("100644", "blob", blob_sha(TEXT, like="a" * 40)),
    "run.sh": ("100755", "blob", blob_sha(b"x", like="a" * 40)),
    "lib": ("040000", "tree", "d" * 40),
    "lib/big.bin": ("100644", "blob", "b" * 40),
    "link": ("120000", "blob", "c" * 40),
    "vendor": ("160000", "commit", "e" * 40),
})


def test_blob_sha_is_gits_for_sha1_and_sha256() -> None:
    expected = subprocess.run(["git", "hash-object", "--stdin"], input=TEXT, capture_output=True,
                              check=True).stdout.decode().strip()
    assert blob_sha(TEXT, like="a" * 40) == expected
    assert blob_sha(TEXT, like="a" * 64) == hashlib.sha256(b"blob 9\0" + TEXT).hexdigest()


def test_what_the_snapshot_cannot_stand_for_is_named() -> None:
    assert why_not_editable("app.py", tree=TREE, snapshot_bytes=TEXT) is None
    assert why_not_editable("new.py", tree=TREE, snapshot_bytes=None) is None
    assert "not in the snapshot" in why_not_editable("lib/big.bin", tree=TREE, snapshot_bytes=None)
    assert "differs from the committed file" in why_not_editable("app.py", tree=TREE, snapshot_bytes=b"print(2)\n")
    assert "symlink" in why_not_editable("link", tree=TREE, snapshot_bytes=None)
    assert "submodule" in why_not_editable("vendor", tree=TREE, snapshot_bytes=None)
    assert "submodule" in why_not_editable("vendor/x.c", tree=TREE, snapshot_bytes=None)
    assert "a file in the repository" in why_not_editable("app.py/x", tree=TREE, snapshot_bytes=None)
    assert "directory" in why_not_editable("lib", tree=TREE, snapshot_bytes=None)


def test_modes_come_from_the_tree() -> None:
    assert TREE.mode_of("run.sh") == "100755" and TREE.mode_of("app.py") == "100644"
    assert TREE.mode_of("new.py") == "100644"


def test_a_truncated_listing_knows_what_it_does_not_know() -> None:
    partial = listing({"a.py": ("100644", "blob", "1" * 40), "src": ("040000", "tree", "2" * 40)},
                      truncated=True)
    assert partial.lookup("a.py") == TreeItem("100644", "blob", "1" * 40)
    assert partial.lookup("b.py") is UNKNOWN
    assert partial.lookup("a.py/x") is None  # nothing lies below a file
    # src's sha is known: listing src alone decides src/x.py; deep/er needs the root first
    assert partial.missing_dirs(["src/x.py", "deep/er/y.py", "a.py"]) == ["src", "", "deep", "deep/er"]
    completed = partial.with_directory("", {"tree": [{"path": "b.py", "mode": "100644", "type": "blob",
                                                      "sha": "3" * 40}]})
    assert completed.lookup("b.py") == TreeItem("100644", "blob", "3" * 40)
    assert completed.lookup("c.py") is None


def test_change_problems_before_the_commit() -> None:
    changes = [
        FileChange("app.py", "modify", TEXT.decode(), "print(3)\n"),  # fine
        FileChange("new.py", "create", None, "x"),  # fine
        FileChange("lib/big.bin", "create", None, "tiny"),  # exists, not in the snapshot
        FileChange("run.sh", "modify", "not what is committed", "y"),  # old text is not the blob
        FileChange("gone.py", "delete", "z", None),  # the commit has no such file
    ]
    problems = change_problems(changes, TREE)
    assert [p.split(":")[0] for p in problems] == ["lib/big.bin", "run.sh", "gone.py"]
    partial = listing({}, truncated=True)
    assert change_problems([FileChange("x.py", "create", None, "x")], partial) == [
        "x.py: the repository's tree listing does not reach it"]
