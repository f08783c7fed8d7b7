"""Validation of a proposed change: syntax of changed files, path policy and size limits."""

from __future__ import annotations

import ast
import json
import posixpath
import tomllib
import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import yaml

from bot.core.changes import FileChange, changes_between
from bot.core.diff import line_stats
from bot.core.paths import structural_path_problem
from bot.core.workspace import EditDeny, Workspace

SyntaxStatus = Literal["ok", "error", "unchecked"]
Deny = Callable[[str], str | None]

_PYTHON = (".py", ".pyi", ".pyw")
_JSON = (".json", ".ipynb")
_YAML = (".yml", ".yaml")
_TOML = (".toml",)
# JSON files that tools conventionally read as JSON-with-comments; a strict parser would
# reject perfectly valid files, so we leave them unchecked.
_JSONC_NAMES = frozenset({"tsconfig", "jsconfig", ".eslintrc", "devcontainer", ".devcontainer"})
_JSONC_DIRS = (".vscode", ".devcontainer")


def syntax_problems(path: str, content: str) -> str | None:
    """A one-line description of the first syntax error in ``content``, or None.

    None also means "not checked" (no parser for this kind of file); use
    :func:`syntax_status` to tell the two apart.
    """
    checker = _checker_for(path)
    if checker is None:
        return None
    return checker(path, content)


def syntax_status(path: str, content: str) -> SyntaxStatus:
    """``"ok"``, ``"error"``, or ``"unchecked"`` when we have no parser for the file."""
    checker = _checker_for(path)
    if checker is None:
        return "unchecked"
    return "ok" if checker(path, content) is None else "error"


def validate_changes(
    changes: Sequence[FileChange],
    *,
    deny: Deny,
    max_files: int,
    max_changed_lines: int,
    deny_edit: EditDeny | None = None,
) -> list[str]:
    """Every reason the change set cannot be committed, model-readable; empty = valid."""
    problems = content_problems(changes, deny=deny, deny_edit=deny_edit)
    if changes:
        problems += limit_problems(changes, max_files=max_files, max_changed_lines=max_changed_lines)
    return problems


def content_problems(changes: Sequence[FileChange], *, deny: Deny,
                     deny_edit: EditDeny | None = None) -> list[str]:
    """Paths, policy and syntax of each changed file; an empty change is a problem too."""
    if not changes:
        return ["no changes were made: edit at least one file before calling finish"]
    problems: list[str] = []
    seen: set[str] = set()
    for change in changes:
        if change.path in seen:
            problems.append(f"{change.path}: changed more than once in the same change set")
        seen.add(change.path)
        problems.extend(_change_problems(change, deny=deny, deny_edit=deny_edit))
    return problems


def limit_problems(changes: Sequence[FileChange], *, max_files: int, max_changed_lines: int) -> list[str]:
    """Whether the change fits ``max_files`` and ``max_changed_lines``."""
    problems: list[str] = []
    if len(changes) > max_files:
        problems.append(
            f"{len(changes)} files changed; the limit is {max_files} files. "
            "Revert the changes that the plan does not need."
        )
    added, removed = line_stats(changes)
    if added + removed > max_changed_lines:
        problems.append(
            f"{added + removed} lines changed ({added} added, {removed} removed); "
            f"the limit is {max_changed_lines}. Make a smaller change."
        )
    return problems


def make_validator(
    *, deny: Deny, max_files: int, max_changed_lines: int, committed: Sequence[FileChange] = (),
    deny_edit: EditDeny | None = None,
) -> Callable[[Workspace], list[str]]:
    """A validator for ``ToolExecutor``: the workspace's current changes, checked.

    With ``committed`` (the pull request's change so far, for ``/fix``) the workspace holds
    the whole change against the plan's base: the limits apply to that whole, while paths
    and syntax are checked only on what this run adds, so an earlier human commit cannot
    block it.
    """

    def validate(workspace: Workspace) -> list[str]:
        whole = workspace.changes()
        if not committed:
            return validate_changes(whole, deny=deny, max_files=max_files,
                                    max_changed_lines=max_changed_lines, deny_edit=deny_edit)
        problems = content_problems(changes_between(committed, whole), deny=deny, deny_edit=deny_edit)
        if whole:
            problems += limit_problems(whole, max_files=max_files, max_changed_lines=max_changed_lines)
        return problems

    return validate


def _change_problems(change: FileChange, *, deny: Deny, deny_edit: EditDeny | None) -> list[str]:
    path_problem = structural_path_problem(change.path)
    if path_problem is not None:
        return [f"{change.path!r}: {path_problem}"]
    problems: list[str] = []
    reason = deny(change.path)
    if reason is not None:
        problems.append(f"{change.path}: this path may not be changed ({reason})")
    edit_reason = deny_edit(change.path, change.old, change.new) if deny_edit is not None else None
    if edit_reason is not None:
        problems.append(f"{change.path}: this change may not be made ({edit_reason})")
    shape = _shape_problem(change)
    if shape is not None:
        problems.append(f"{change.path}: {shape}")
    elif change.new is not None:
        problem = syntax_problems(change.path, change.new)
        # A file that was already unparsable before (Python 2, JSON with comments, a
        # template) is not the implementer's fault; only new breakage blocks the change.
        was_broken = change.old is not None and syntax_status(change.path, change.old) == "error"
        if problem is not None and not was_broken:
            problems.append(f"{change.path}: syntax error: {problem}")
    return problems


def _shape_problem(change: FileChange) -> str | None:
    expected = {"create": (False, True), "modify": (True, True), "delete": (True, False)}
    if change.action not in expected:
        return f"unknown action {change.action!r}"
    has_old, has_new = expected[change.action]
    if (change.old is not None) != has_old or (change.new is not None) != has_new:
        return f"inconsistent {change.action} (old/new content does not match the action)"
    return None


def _checker_for(path: str) -> Callable[[str, str], str | None] | None:
    lowered = path.lower()
    name = posixpath.basename(lowered)
    if lowered.endswith(_PYTHON):
        return _python_problem
    if lowered.endswith(_JSON):
        stem = name.rsplit(".", 1)[0] if name.startswith(".") else name.split(".", 1)[0]
        in_editor_dir = any(part in _JSONC_DIRS for part in lowered.split("/")[:-1])
        if in_editor_dir or stem in _JSONC_NAMES:
            return None
        return _json_problem
    if lowered.endswith(_YAML):
        return _yaml_problem
    if lowered.endswith(_TOML):
        return _toml_problem
    return None


def _python_problem(path: str, content: str) -> str | None:
    try:
        with warnings.catch_warnings():
            # Invalid escape sequences and the like warn; they are not syntax errors.
            warnings.simplefilter("ignore")
            ast.parse(content, filename=path)
    except SyntaxError as exc:
        where = f"line {exc.lineno}, column {exc.offset}" if exc.lineno else "unknown line"
        return f"{where}: {exc.msg}"
    except ValueError as exc:  # e.g. NUL bytes (3.11 raises ValueError, not SyntaxError)
        return str(exc)
    except (RecursionError, MemoryError):
        return "too deeply nested for the Python parser"
    return None


def _json_problem(path: str, content: str) -> str | None:
    try:
        json.loads(content)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        return "too deeply nested to parse"
    return None


def _yaml_problem(path: str, content: str) -> str | None:
    try:
        # Composing checks the syntax without constructing objects, so application tags
        # such as CloudFormation's `!Ref` are accepted and aliases are never expanded.
        for _node in yaml.compose_all(content, Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return f"{where}{exc.problem or exc.context or 'invalid YAML'}"
    except yaml.YAMLError as exc:
        return str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    except RecursionError:
        return "too deeply nested to parse"
    return None


def _toml_problem(path: str, content: str) -> str | None:
    try:
        tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        return str(exc)
    return None
