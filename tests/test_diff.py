"""Unified diffs: git-style output that the real `git apply` accepts, and line counts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.core.changes import FileChange
from bot.core.diff import line_stats, per_file_stats, split_lines, unified_diff

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git binary not installed")

LONG = "".join(f"line {n}\n" for n in range(1, 41))


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd), "LC_ALL": "C"}
    return subprocess.run(
        [GIT or "git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=check
    )


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, content in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content.encode("utf-8"))


def read_tree(root: Path) -> dict[str, str]:
    found = {}
    for full in root.rglob("*"):
        if full.is_file():
            found[full.relative_to(root).as_posix()] = full.read_bytes().decode("utf-8")
    return found


def changes_between(old: dict[str, str], new: dict[str, str]) -> list[FileChange]:
    result = []
    for path in sorted(set(old) | set(new)):
        if path not in new:
            result.append(FileChange(path, "delete", old[path], None))
        elif path not in old:
            result.append(FileChange(path, "create", None, new[path]))
        elif old[path] != new[path]:
            result.append(FileChange(path, "modify", old[path], new[path]))
    return result


CASES = {
    "modify one line": ({"a.py": "x = 1\ny = 2\n"}, {"a.py": "x = 1\ny = 3\n"}),
    "create and delete": ({"gone.txt": "bye\n"}, {"new/dir/hello.txt": "hi\nthere\n"}),
    "add newline at eof": ({"f.txt": "a\nb"}, {"f.txt": "a\nb\n"}),
    "remove newline at eof": ({"f.txt": "a\nb\n"}, {"f.txt": "a\nb"}),
    "both without newline": ({"f.txt": "a\nb"}, {"f.txt": "a\nc"}),
    "create without newline": ({}, {"f.txt": "no newline"}),
    "delete without newline": ({"f.txt": "no newline"}, {}),
    "empty file created": ({}, {"empty.txt": ""}),
    "empty file deleted": ({"empty.txt": ""}, {}),
    "file emptied": ({"f.txt": "a\nb\n"}, {"f.txt": ""}),
    "empty file filled": ({"f.txt": ""}, {"f.txt": "a\n"}),
    "two distant hunks": (
        {"long.txt": LONG},
        {"long.txt": LONG.replace("line 3\n", "line three\n").replace("line 35\n", "")},
    ),
    "crlf and lone cr": ({"w.txt": "a\r\nb\r\nc\rd\n"}, {"w.txt": "a\r\nB\r\nc\rd\n"}),
    "unicode separators are not line breaks": (
        {"u.txt": "a\u2028b\x0cc\n"}, {"u.txt": "a\u2028B\x0cc\n"},
    ),
    "space in path": ({"my dir/a file.txt": "1\n"}, {"my dir/a file.txt": "2\n"}),
    "non-ascii path": ({"dé/ñ.txt": "1\n"}, {"dé/ñ.txt": "2\n"}),
    "quote in path": ({'say "hi".txt': "1\n"}, {'say "hi".txt': "2\n"}),
}


@needs_git
@pytest.mark.parametrize("name", list(CASES))
def test_git_apply_accepts_and_reproduces_the_change(tmp_path: Path, name: str) -> None:
    old, new = CASES[name]
    write_tree(tmp_path, old)
    patch = unified_diff(changes_between(old, new))
    (tmp_path.parent / f"{tmp_path.name}.patch").write_text(patch)
    patch_file = str(tmp_path.parent / f"{tmp_path.name}.patch")
    checked = git("apply", "--check", patch_file, cwd=tmp_path, check=False)
    assert checked.returncode == 0, checked.stderr + "\n" + patch
    git("apply", patch_file, cwd=tmp_path)
    assert read_tree(tmp_path) == new


@needs_git
def test_matches_git_diff_no_index_for_a_simple_change(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f.py").write_text("x = 1\ny = 2\nz = 3\n")
    (tmp_path / "b" / "f.py").write_text("x = 1\ny = 20\nz = 3\n")
    result = git("diff", "--no-index", "--no-color", "a/f.py", "b/f.py", cwd=tmp_path, check=False)
    theirs = [line for line in result.stdout.splitlines(keepends=True) if not line.startswith("index ")]
    theirs = "".join(theirs).replace("a/a/f.py", "a/f.py").replace("b/b/f.py", "b/f.py")
    ours = unified_diff([FileChange("f.py", "modify", "x = 1\ny = 2\nz = 3\n", "x = 1\ny = 20\nz = 3\n")])
    assert ours == theirs


def test_created_file_headers() -> None:
    patch = unified_diff([FileChange("n.txt", "create", None, "a\nb\n")])
    assert patch == (
        "diff --git a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n"
        "@@ -0,0 +1,2 @@\n+a\n+b\n"
    )


def test_deleted_file_headers() -> None:
    patch = unified_diff([FileChange("n.txt", "delete", "a\n", None)])
    assert patch == (
        "diff --git a/n.txt b/n.txt\ndeleted file mode 100644\n--- a/n.txt\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-a\n"
    )


def test_no_newline_marker_follows_the_unterminated_line() -> None:
    patch = unified_diff([FileChange("f", "modify", "a\nb", "a\nb\n")])
    assert patch.endswith("-b\n\\ No newline at end of file\n+b\n")


def test_context_parameter() -> None:
    old = LONG
    new = LONG.replace("line 20\n", "line twenty\n")
    assert " line 17\n" in unified_diff([FileChange("l", "modify", old, new)])
    narrow = unified_diff([FileChange("l", "modify", old, new)], context=1)
    assert " line 17\n" not in narrow and " line 19\n" in narrow
    assert "@@ -19,3 +19,3 @@" in narrow


def test_identical_change_renders_nothing() -> None:
    assert unified_diff([FileChange("f", "modify", "same\n", "same\n")]) == ""
    assert unified_diff([]) == ""


def test_path_with_space_gets_git_trailing_tab() -> None:
    patch = unified_diff([FileChange("a b.txt", "modify", "1\n", "2\n")])
    assert "--- a/a b.txt\t\n+++ b/a b.txt\t\n" in patch


def test_quoted_path_uses_c_escapes() -> None:
    patch = unified_diff([FileChange('q"x.txt', "modify", "1\n", "2\n")])
    assert patch.startswith('diff --git "a/q\\"x.txt" "b/q\\"x.txt"\n')


def test_split_lines_only_on_newline() -> None:
    assert split_lines("a\r\nb\rc\u2028d\n") == ["a\r\n", "b\rc\u2028d\n"]
    assert split_lines("a\nb") == ["a\n", "b"]
    assert split_lines("") == [] and split_lines(None) == []


def test_line_stats_and_per_file_stats() -> None:
    changes = [
        FileChange("m.py", "modify", "a\nb\nc\n", "a\nB\nc\nd\n"),
        FileChange("n.py", "create", None, "1\n2\n3\n"),
        FileChange("d.py", "delete", "x\ny\n", None),
        FileChange("e.txt", "create", None, ""),
    ]
    assert per_file_stats(changes) == [("m.py", 2, 1), ("n.py", 3, 0), ("d.py", 0, 2), ("e.txt", 0, 0)]
    assert line_stats(changes) == (5, 3)
    assert line_stats([]) == (0, 0)


def test_stats_agree_with_the_diff_body() -> None:
    old = LONG
    new = LONG.replace("line 3\n", "3\n").replace("line 30\n", "").replace("line 40\n", "end")
    change = FileChange("l", "modify", old, new)
    body = [line for line in unified_diff([change]).splitlines() if not line.startswith(("+++", "---"))]
    added = sum(line.startswith("+") for line in body)
    removed = sum(line.startswith("-") for line in body)
    assert line_stats([change]) == (added, removed) == (2, 3)
