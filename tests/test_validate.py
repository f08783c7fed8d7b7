"""Change validation: syntax per file type, path policy, limits, and the workspace validator."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.changes import FileChange, changes_between
from bot.core.snapshot import Snapshot
from bot.core.validate import (
    make_validator,
    syntax_problems,
    syntax_status,
    validate_changes,
)
from bot.core.workspace import Workspace


def no_deny(path: str) -> str | None:
    return None


def deny_workflows(path: str) -> str | None:
    return "workflows are denied" if path.startswith(".github/workflows/") else None


LIMITS = {"deny": no_deny, "max_files": 20, "max_changed_lines": 1000}


@pytest.mark.parametrize(
    "path, content",
    [
        ("a.py", "def f(:\n    pass\n"),
        ("pkg/a.pyi", "x: = 1\n"),
        ("a.json", '{"a": 1,}'),
        ("nb.ipynb", "{"),
        ("c.yml", "a: [1, 2\n"),
        ("c.yaml", "key: value\n  bad: indent\n"),
        ("p.toml", "[tool\nname = 1\n"),
    ],
)
def test_syntax_errors_are_found(path: str, content: str) -> None:
    assert syntax_problems(path, content) is not None
    assert syntax_status(path, content) == "error"


@pytest.mark.parametrize(
    "path, content",
    [
        ("a.py", "def f():\n    return '\\d'\n"),  # invalid escape only warns
        ("a.json", '{"a": [1, 2]}'),
        ("c.yml", "a: 1\n---\nb: 2\n"),
        ("cfn.yaml", "Value: !Ref MyBucket\nOther: !GetAtt A.B\n"),
        ("p.toml", "[tool.x]\nname = 'y'\n"),
        ("UPPER.PY", "x = 1\n"),
    ],
)
def test_valid_files_are_ok(path: str, content: str) -> None:
    assert syntax_problems(path, content) is None
    assert syntax_status(path, content) == "ok"


@pytest.mark.parametrize(
    "path", ["main.rs", "README.md", "Makefile", "tsconfig.json", "tsconfig.build.json",
             ".vscode/settings.json", "x.jsonc", ".eslintrc.json"]
)
def test_unchecked_kinds(path: str) -> None:
    assert syntax_problems(path, "{ not valid in any language ((") is None
    assert syntax_status(path, "{ not valid in any language ((") == "unchecked"


def test_python_error_names_line_and_column() -> None:
    problem = syntax_problems("m.py", "x = 1\ny = (\n")
    assert problem is not None and problem.startswith("line 2, column 5:")


def test_python_nul_byte_and_deep_nesting_do_not_crash() -> None:
    assert syntax_problems("m.py", "x = 1\x00\n") is not None
    assert syntax_status("m.py", "(" * 100_000 + ")" * 100_000) == "error"


def test_json_and_yaml_errors_name_the_line() -> None:
    assert syntax_problems("a.json", '{\n  "a": 1,\n}') == "line 3, column 1: Expecting property name enclosed in double quotes"
    yaml_problem = syntax_problems("c.yml", "a: 1\nb: [\n")
    assert yaml_problem is not None and yaml_problem.startswith("line 3")
    assert "line 1" in (syntax_problems("p.toml", "= 1\n") or "")


def test_yaml_aliases_are_not_expanded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)
    )
    assert syntax_status("bomb.yml", bomb) == "ok"


def test_valid_change_set_has_no_problems() -> None:
    changes = [
        FileChange("a.py", "modify", "x = 1\n", "x = 2\n"),
        FileChange("b.json", "create", None, "{}\n"),
        FileChange("c.toml", "delete", "broken = \n", None),
    ]
    assert validate_changes(changes, **LIMITS) == []


def test_empty_change_set_is_a_problem() -> None:
    assert validate_changes([], **LIMITS) == [
        "no changes were made: edit at least one file before calling finish"
    ]


def test_syntax_problem_names_file_and_line() -> None:
    changes = [FileChange("pkg/m.py", "modify", "x = 1\n", "x = (\n")]
    problems = validate_changes(changes, **LIMITS)
    assert len(problems) == 1
    assert problems[0].startswith("pkg/m.py: syntax error: line 1")


def test_already_broken_file_does_not_block() -> None:
    py2 = "print 'hello'\n"
    changes = [FileChange("legacy.py", "modify", py2, py2 + "print 'world'\n")]
    assert validate_changes(changes, **LIMITS) == []
    # ... but a new broken file does.
    assert validate_changes([FileChange("new.py", "create", None, py2)], **LIMITS) != []


def test_denied_and_structurally_bad_paths() -> None:
    changes = [
        FileChange(".github/workflows/ci.yml", "modify", "on: push\n", "on: pull_request\n"),
        FileChange("../escape.py", "create", None, "x = 1\n"),
        FileChange(".git/config", "create", None, "x"),
    ]
    problems = validate_changes(changes, deny=deny_workflows, max_files=20, max_changed_lines=1000)
    assert problems[0] == ".github/workflows/ci.yml: this path may not be changed (workflows are denied)"
    assert "'..' is not allowed" in problems[1]
    assert ".git directory" in problems[2]
    assert len(problems) == 3


def test_limits_are_reported_with_numbers() -> None:
    changes = [FileChange(f"f{i}.txt", "create", None, "a\nb\n") for i in range(3)]
    problems = validate_changes(changes, deny=no_deny, max_files=2, max_changed_lines=5)
    assert any(p.startswith("3 files changed; the limit is 2 files") for p in problems)
    assert any(p.startswith("6 lines changed (6 added, 0 removed); the limit is 5") for p in problems)


def test_inconsistent_and_duplicate_changes() -> None:
    changes = [
        FileChange("a.txt", "create", "old", "new"),
        FileChange("b.txt", "modify", "x", "y"),
        FileChange("b.txt", "modify", "x", "z"),
        FileChange("c.txt", "rename", "x", "y"),  # type: ignore[arg-type]
    ]
    problems = validate_changes(changes, **LIMITS)
    assert "a.txt: inconsistent create (old/new content does not match the action)" in problems
    assert "b.txt: changed more than once in the same change set" in problems
    assert "c.txt: unknown action 'rename'" in problems


def test_make_validator_checks_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1\n")
    ws = Workspace(Snapshot.from_directory(tmp_path, "s"))
    validate = make_validator(deny=no_deny, max_files=1, max_changed_lines=100)
    assert validate(ws) == ["no changes were made: edit at least one file before calling finish"]
    ws.write("m.py", "x = \n")
    assert validate(ws)[0].startswith("m.py: syntax error: line 1")
    ws.write("m.py", "x = 2\n")
    assert validate(ws) == []
    ws.write("n.py", "y = 1\n")  # the workspace allows 20 files; this validator only 1
    assert validate(ws) == ["2 files changed; the limit is 1 files. Revert the changes that the plan does not need."]


def test_changes_between_is_what_a_fix_adds_on_top_of_the_branch():
    committed = [FileChange("a.py", "modify", "a = 1\n", "a = 2\n"),
                 FileChange("new.py", "create", None, "n = 1\n"),
                 FileChange("gone.py", "delete", "g = 1\n", None)]
    whole = [FileChange("a.py", "modify", "a = 1\n", "a = 3\n"),     # edited again
             FileChange("gone.py", "delete", "g = 1\n", None),       # untouched by the fix
             FileChange("b.py", "modify", "b = 1\n", "b = 2\n")]     # new in the fix; new.py reverted
    assert changes_between(committed, whole) == [
        FileChange("a.py", "modify", "a = 2\n", "a = 3\n"),
        FileChange("b.py", "modify", "b = 1\n", "b = 2\n"),
        FileChange("new.py", "delete", "n = 1\n", None),
    ]
    assert changes_between(committed, committed) == []


def test_a_fix_validator_checks_limits_on_the_whole_and_content_on_its_own_part(tmp_path: Path):
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    snapshot = Snapshot.from_directory(tmp_path, "s")
    # A colleague committed a broken b.py and a workflow edit: not this run's doing, not blocking.
    committed = [FileChange("b.py", "modify", "b = 1\n", "b = (\n"),
                 FileChange(".github/workflows/ci.yml", "create", None, "on: push\n")]
    workspace = Workspace.from_changes(snapshot, committed)
    validate = make_validator(deny=deny_workflows, max_files=3, max_changed_lines=1000, committed=committed)
    assert validate(workspace) == ["no changes were made: edit at least one file before calling finish"]
    workspace.write("a.py", "a = 2\n")
    assert validate(workspace) == []
    workspace.write("c.py", "c = 1\n")
    assert validate(workspace) == ["4 files changed; the limit is 3 files. Revert the changes that the plan does not need."]
