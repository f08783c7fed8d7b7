"""Workspace overlay: path rules, reads, edits, the resulting change and its guards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.core.changes import FileChange
from bot.core.paths import PathRefused, Refused, check_path, structural_path_problem
from bot.core.snapshot import Snapshot
from bot.core.workspace import GuardRefused, Workspace

A_PY = "import os\n\n\ndef f():\n    return 1\n"


def build_repo(root: Path, outside: Path) -> Snapshot:
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text(A_PY)
    (root / "src" / "b.txt").write_text("one\ntwo\nthree\n")
    (root / "README.md").write_text("# demo\n")
    (root / "data.bin").write_bytes(b"\x00\x01\x02binary")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    os.symlink(outside / "secret.txt", root / "escape.txt")
    os.symlink(outside, root / "outdir")
    os.symlink(root / "src", root / "srclink")
    return Snapshot.from_directory(root, "abc123")


@pytest.fixture
def snapshot(tmp_path: Path) -> Snapshot:
    return build_repo(tmp_path / "repo", tmp_path / "outside")


def deny_workflows(path: str) -> str | None:
    if path.startswith(".github/workflows/"):
        return ".github/workflows/** is denied by the repository config"
    return None


@pytest.fixture
def ws(snapshot: Snapshot) -> Workspace:
    return Workspace(snapshot, deny=deny_workflows)


HOSTILE = [
    "../x",
    "/etc/passwd",
    "a/../../x",
    "src/../../outside/secret.txt",
    ".git/config",
    "sub/.git/hooks/pre-commit",
    ".GIT/config",
    ".git./config",
    "escape.txt",
    "outdir/secret.txt",
    "srclink/a.py",
    "src\\a.py",
    "C:\\windows\\x",
    "C:/windows/x",
    "\\\\server\\share",
    "src/a\x00.py",
    "src/a\n.py",
    "./src/a.py",
    "src//a.py",
    "src/./a.py",
    "src/",
    "",
    "x" * 5000,
    "d/" + "y" * 256,
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_refused_and_change_nothing(ws: Workspace, path: str) -> None:
    with pytest.raises(PathRefused):
        ws.write(path, "pwned\n")
    with pytest.raises(PathRefused):
        ws.delete(path)
    with pytest.raises(PathRefused):
        ws.replace(path, "a", "b")
    assert ws.changes() == []
    assert ws.exists(path) is False


def test_symlink_target_outside_is_never_read(ws: Workspace) -> None:
    with pytest.raises(PathRefused, match="symlink"):
        ws.read("escape.txt")
    with pytest.raises(PathRefused, match="goes through the symlink 'outdir'"):
        ws.read("outdir/secret.txt")
    assert "escape.txt" not in ws.list_files()


def test_denied_path_is_refused_with_the_policy_reason(ws: Workspace) -> None:
    with pytest.raises(PathRefused, match="denied by the repository config"):
        ws.write(".github/workflows/x.yml", "on: push\n")
    with pytest.raises(PathRefused):
        ws.delete(".github/workflows/ci.yml")
    # Reading a denied path is fine: the policy limits changes, not exploration.
    assert ws.read(".github/workflows/ci.yml") == "on: push\n"
    assert ws.changes() == []


def test_non_canonical_path_error_names_the_canonical_form(snapshot: Snapshot) -> None:
    with pytest.raises(PathRefused, match="did you mean 'src/a.py'"):
        check_path("./src//a.py", snapshot=snapshot)
    with pytest.raises(PathRefused, match="did you mean 'etc/passwd'"):
        check_path("/etc/passwd", snapshot=snapshot)


def test_check_path_accepts_canonical_paths(snapshot: Snapshot) -> None:
    assert check_path("src/a.py", snapshot=snapshot) == "src/a.py"
    assert check_path("new dir/ünïcode file.py", snapshot=snapshot) == "new dir/ünïcode file.py"
    assert check_path(".github/x.yml", snapshot=snapshot) == ".github/x.yml"
    assert check_path(".gitignore", snapshot=snapshot) == ".gitignore"


def test_structural_problem_for_non_strings_and_surrogates() -> None:
    assert structural_path_problem(None) == "a path must be a string"
    assert structural_path_problem(["a"]) == "a path must be a string"
    assert structural_path_problem("a\ud800b") == "the path is not valid UTF-8"
    assert structural_path_problem("ok/path.py") is None


def test_read_prefers_overlay_and_reports_missing_and_binary(ws: Workspace) -> None:
    assert ws.read("src/a.py") == A_PY
    ws.write("src/a.py", "x = 1\n")
    assert ws.read("src/a.py") == "x = 1\n"
    with pytest.raises(FileNotFoundError):
        ws.read("nope.py")
    with pytest.raises(ValueError, match="binary"):
        ws.read("data.bin")
    ws.delete("src/b.txt")
    with pytest.raises(FileNotFoundError, match="deleted"):
        ws.read("src/b.txt")
    assert ws.exists("src/b.txt") is False


def test_list_files_includes_created_and_excludes_deleted(ws: Workspace) -> None:
    ws.write("src/new.py", "pass\n")
    ws.delete("README.md")
    assert ws.list_files() == [
        ".github/workflows/ci.yml", "data.bin", "src/a.py", "src/b.txt", "src/new.py",
    ]
    assert ws.list_files("src") == ["src/a.py", "src/b.txt", "src/new.py"]
    assert ws.list_files("src/") == ["src/a.py", "src/b.txt", "src/new.py"]
    assert ws.list_files("sr") == []  # a prefix is a directory, not a string prefix
    with pytest.raises(PathRefused):
        ws.list_files("../")


def test_changes_create_modify_delete(ws: Workspace) -> None:
    ws.write("src/new.py", "print('hi')\n")
    ws.replace("src/a.py", "return 1", "return 2")
    ws.delete("src/b.txt")
    assert ws.changes() == [
        FileChange("src/a.py", "modify", A_PY, A_PY.replace("return 1", "return 2")),
        FileChange("src/b.txt", "delete", "one\ntwo\nthree\n", None),
        FileChange("src/new.py", "create", None, "print('hi')\n"),
    ]
    assert ws.changed_lines() == (2, 4)


def test_writing_back_the_original_is_no_change(ws: Workspace) -> None:
    ws.write("src/a.py", "changed\n")
    ws.write("src/a.py", A_PY)
    assert ws.changes() == []
    assert ws.changed_lines() == (0, 0)


def test_create_then_delete_is_nothing_and_delete_then_restore_is_nothing(ws: Workspace) -> None:
    ws.write("tmp.py", "x\n")
    ws.delete("tmp.py")
    ws.delete("README.md")
    ws.write("README.md", "# demo\n")
    assert ws.changes() == []
    assert "tmp.py" not in ws.list_files()


def test_delete_missing_file(ws: Workspace) -> None:
    with pytest.raises(FileNotFoundError):
        ws.delete("missing.txt")


def test_binary_files_cannot_be_changed(ws: Workspace) -> None:
    with pytest.raises(GuardRefused, match="binary"):
        ws.write("data.bin", "text")
    with pytest.raises(GuardRefused, match="binary"):
        ws.delete("data.bin")
    assert ws.changes() == []


def test_file_and_directory_clashes_are_refused(ws: Workspace) -> None:
    with pytest.raises(PathRefused, match="is a file"):
        ws.write("src/a.py/inner.py", "x\n")
    with pytest.raises(PathRefused, match="is a directory"):
        ws.write("src", "x\n")
    assert ws.changes() == []


# replace ---------------------------------------------------------------------------


def test_replace_exactly_once(ws: Workspace) -> None:
    ws.replace("src/b.txt", "two\n", "TWO\n")
    assert ws.read("src/b.txt") == "one\nTWO\nthree\n"


def test_replace_zero_occurrences_shows_closest_lines(ws: Workspace) -> None:
    with pytest.raises(Refused) as info:
        ws.replace("src/a.py", "def f( ):\n  return 1", "x")
    message = str(info.value)
    assert "occurred 0 times" in message
    assert "    4| def f():" in message
    assert ws.changes() == []


def test_replace_zero_occurrences_without_similar_line(ws: Workspace) -> None:
    with pytest.raises(Refused, match="No similar line"):
        ws.replace("src/a.py", "completely unrelated zebra", "x")


def test_replace_many_occurrences_reports_count_and_lines(ws: Workspace) -> None:
    ws.write("dup.txt", "x = 1\ny = 2\nx = 1\nx = 1\n")
    with pytest.raises(Refused, match=r"occurred 3 times \(starting at lines 1, 3, 4\)"):
        ws.replace("dup.txt", "x = 1", "x = 9")
    assert ws.read("dup.txt") == "x = 1\ny = 2\nx = 1\nx = 1\n"


def test_replace_empty_old_and_missing_file(ws: Workspace) -> None:
    with pytest.raises(Refused, match="'old' is empty"):
        ws.replace("src/a.py", "", "x")
    with pytest.raises(FileNotFoundError):
        ws.replace("nope.py", "a", "b")


def test_replace_mentions_crlf(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_bytes(b"alpha\r\nbeta\r\n")
    ws = Workspace(Snapshot.from_directory(tmp_path, "s"))
    with pytest.raises(Refused, match="CRLF"):
        ws.replace("w.txt", "alpha\nbeta\n", "x")


# guards ----------------------------------------------------------------------------


def test_max_files_guard(snapshot: Snapshot) -> None:
    ws = Workspace(snapshot, max_files=2)
    ws.write("one.py", "1\n")
    ws.write("two.py", "2\n")
    with pytest.raises(GuardRefused, match="3 files; the limit is 2"):
        ws.write("three.py", "3\n")
    assert [c.path for c in ws.changes()] == ["one.py", "two.py"]
    ws.write("two.py", "22\n")  # editing an already-changed file is fine
    ws.delete("two.py")
    ws.write("three.py", "3\n")
    assert [c.path for c in ws.changes()] == ["one.py", "three.py"]


def test_max_changed_lines_guard_counts_and_allows_shrinking(snapshot: Snapshot) -> None:
    ws = Workspace(snapshot, max_changed_lines=5)
    ws.write("small.txt", "a\nb\nc\n")
    with pytest.raises(GuardRefused, match="6 changed lines; the limit is 5"):
        ws.write("more.txt", "d\ne\nf\n")
    assert ws.changed_lines() == (3, 0)
    with pytest.raises(GuardRefused):
        ws.write("small.txt", "a\nb\nc\nd\ne\nf\n")
    assert ws.read("small.txt") == "a\nb\nc\n"  # refused edit rolled back
    ws.write("small.txt", "a\n")
    assert ws.changed_lines() == (1, 0)


def test_over_limit_change_loaded_from_branch_can_still_shrink(snapshot: Snapshot) -> None:
    changes = [FileChange("big.txt", "create", None, "x\n" * 10)]
    ws = Workspace.from_changes(snapshot, changes, max_changed_lines=5)
    assert ws.changed_lines() == (10, 0)
    ws.write("big.txt", "x\n" * 7)
    assert ws.changed_lines() == (7, 0)
    with pytest.raises(GuardRefused):
        ws.write("other.txt", "y\n")


def test_file_size_guard(snapshot: Snapshot) -> None:
    ws = Workspace(snapshot, max_file_bytes=10)
    with pytest.raises(GuardRefused, match="11 bytes; the limit is 10"):
        ws.write("f.txt", "x" * 11)
    with pytest.raises(GuardRefused, match="11 bytes"):
        ws.write("f.txt", "é" * 5 + "x")  # bytes, not characters
    ws.write("f.txt", "x" * 10)
    assert ws.read("f.txt") == "x" * 10


def test_lone_surrogate_content_refused(ws: Workspace) -> None:
    with pytest.raises(GuardRefused, match="not valid Unicode"):
        ws.write("f.txt", "a\ud800")


# from_changes ------------------------------------------------------------------------


def test_from_changes_round_trips(ws: Workspace, snapshot: Snapshot) -> None:
    ws.write("src/new.py", "x = 1\n")
    ws.replace("src/a.py", "return 1", "return 3")
    ws.delete("README.md")
    rebuilt = Workspace.from_changes(snapshot, ws.changes(), deny=deny_workflows)
    assert rebuilt.changes() == ws.changes()
    assert rebuilt.list_files() == ws.list_files()
    assert rebuilt.deny is deny_workflows


@pytest.mark.parametrize(
    "change, message",
    [
        (FileChange("src/a.py", "create", None, "x"), "already exists"),
        (FileChange("nope.py", "modify", "a", "b"), "not in the snapshot"),
        (FileChange("src/a.py", "modify", "stale", "b"), "differs"),
        (FileChange("data.bin", "delete", None, None), "binary"),
    ],
)
def test_from_changes_rejects_inconsistent_changes(
    snapshot: Snapshot, change: FileChange, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Workspace.from_changes(snapshot, [change])


def test_from_changes_rejects_bad_paths(snapshot: Snapshot) -> None:
    with pytest.raises(PathRefused):
        Workspace.from_changes(snapshot, [FileChange("../x", "create", None, "x")])
