"""Facts the bot measures about a change itself, shown beside the judge's scores."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bot.core.changes import FileChange
from bot.core.dependencies import COMPONENT_SUFFIXES, JS_SUFFIXES, unknown_imports
from bot.core.secrets_scan import SecretHit, find_secrets
from bot.core.snapshot import Snapshot

# Files whose content says which dependencies exist; read from the snapshot, then the change.
_MANIFEST_NAMES = frozenset(
    {"pyproject.toml", "setup.cfg", "setup.py", "Pipfile", "package.json", "pytest.ini", "tox.ini",
     "tsconfig.json", "jsconfig.json"}
)
_MANIFEST_MAX_BYTES = 1_000_000
_SKIP_DIRS = frozenset({"node_modules", ".venv", "venv", "site-packages", "vendor", "third_party"})

_SOURCE_SUFFIXES = (".py", ".pyi", ".pyx", *JS_SUFFIXES, *COMPONENT_SUFFIXES, ".json")

_TEST_DIRS = frozenset({"tests", "test", "__tests__"})
_TEST_FILE_PATTERNS = (
    "test_*.py", "*_test.py", "conftest.py", "*.test.*", "*.spec.*", "*_test.go",
    "*_spec.rb", "*Test.java", "*Tests.java", "*Test.kt", "*Tests.cs",
)


@dataclass(frozen=True)
class Facts:
    """Measured, not judged: every field is computed from the snapshot, change and plan."""

    files_planned: tuple[str, ...]
    files_touched: tuple[str, ...]
    outside_plan: tuple[str, ...]
    planned_not_touched: tuple[str, ...]
    lines_added: int
    lines_removed: int
    syntax: dict[str, str]
    tests_changed: tuple[str, ...]
    unknown_imports: tuple[tuple[str, str], ...]
    secrets: tuple[SecretHit, ...]
    ci: str | None = None
    ci_suites: tuple[tuple[str, str], ...] = ()
    """(app name, outcome) of each check suite reported on the head commit."""


def is_test_path(path: str) -> bool:
    """Common test-file conventions across Python, JS/TS, Go, Ruby and the JVM."""
    *dirs, name = path.split("/")
    if any(d in _TEST_DIRS for d in dirs):
        return True
    if any(a == "src" and b == "test" for a, b in zip(dirs, dirs[1:], strict=False)):
        return True
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _TEST_FILE_PATTERNS)


def _clean(path: str) -> str:
    path = path.strip().lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    return path


def _split(text: str | None) -> list[str]:
    # Split on "\n" only, as git does: str.splitlines would also split on \r and \f.
    lines = text.split("\n") if text else []
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start another
    return lines


def _added_and_removed(change: FileChange) -> tuple[int, int, list[tuple[int, str]]]:
    """Counts and the added lines as (1-based line number in the new file, text)."""
    old, new = _split(change.old), _split(change.new)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    added_lines: list[tuple[int, str]] = []
    removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added_lines.extend((j + 1, new[j]) for j in range(j1, j2))
    return len(added_lines), removed, added_lines


def _is_manifest(path: str) -> bool:
    *dirs, name = path.split("/")
    if any(d in _SKIP_DIRS for d in dirs):
        return False
    if name in _MANIFEST_NAMES:
        return True
    in_requirements_dir = bool(dirs) and dirs[-1] == "requirements"
    return name.endswith((".txt", ".in")) and ("requirements" in name or in_requirements_dir)


def _manifests_after(snapshot: Snapshot, changes: Sequence[FileChange]) -> dict[str, str]:
    """Manifest texts as they stand after the change (a dependency added with it counts)."""
    manifests: dict[str, str] = {}
    for path in snapshot.paths():
        if _is_manifest(path) and snapshot.size(path) <= _MANIFEST_MAX_BYTES:
            text = snapshot.read_text(path)
            if text is not None:
                manifests[path] = text
    for change in changes:
        if _is_manifest(change.path):
            if change.new is None:
                manifests.pop(change.path, None)
            else:
                manifests[change.path] = change.new
    return manifests


def _paths_after(snapshot: Snapshot, changes: Sequence[FileChange]) -> list[str]:
    paths = set(snapshot.paths())
    for change in changes:
        if change.new is None:
            paths.discard(change.path)
        else:
            paths.add(change.path)
    return sorted(paths)


def _in_plan(path: str, planned: Sequence[str]) -> bool:
    # A planned entry ending in "/" (e.g. "tests/") covers the files under it.
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in planned)


def compute_facts(
    *,
    snapshot: Snapshot,
    changes: Sequence[FileChange],
    planned_files: Sequence[str],
    syntax: Callable[[str, str], str],
    ci: str | None = None,
    ci_suites: Sequence[tuple[str, str]] = (),
) -> Facts:
    """Everything measurable about ``changes`` against the base ``snapshot`` and the plan."""
    planned = sorted({_clean(p) for p in planned_files if _clean(p)})
    touched = sorted({change.path for change in changes})
    manifests = _manifests_after(snapshot, changes)
    # Only source files name local modules; filtering once keeps big trees cheap per file.
    repo_paths = [p for p in _paths_after(snapshot, changes) if p.endswith(_SOURCE_SUFFIXES)]

    added_total = removed_total = 0
    added_lines: list[tuple[str, int, str]] = []
    syntax_by_path: dict[str, str] = {}
    unknown: list[tuple[str, str]] = []
    for change in sorted(changes, key=lambda c: c.path):
        added, removed, lines = _added_and_removed(change)
        added_total += added
        removed_total += removed
        added_lines.extend((change.path, number, text) for number, text in lines)
        if change.new is None:
            continue
        syntax_by_path[change.path] = syntax(change.path, change.new)
        for module in unknown_imports(
            path=change.path, old=change.old, new=change.new,
            repo_paths=repo_paths, manifests=manifests,
        ):
            unknown.append((change.path, module))

    return Facts(
        files_planned=tuple(planned),
        files_touched=tuple(touched),
        # A plan that names no files (a human's free-form plan) cannot put a file outside it.
        outside_plan=tuple(p for p in touched if planned and not _in_plan(p, planned)),
        planned_not_touched=tuple(
            p for p in planned
            if not (p in touched or (p.endswith("/") and any(t.startswith(p) for t in touched)))
        ),
        lines_added=added_total,
        lines_removed=removed_total,
        syntax=syntax_by_path,
        tests_changed=tuple(
            c.path for c in sorted(changes, key=lambda c: c.path)
            if c.new is not None and is_test_path(c.path)
        ),
        unknown_imports=tuple(unknown),
        secrets=tuple(find_secrets(added_lines)),
        ci=ci,
        ci_suites=tuple(ci_suites),
    )


def _listing(items: Sequence[str], empty: str = "none") -> str:
    return ", ".join(items) if items else empty


def _prompt_lines(facts: Facts) -> Iterator[str]:
    yield f"files planned ({len(facts.files_planned)}): {_listing(facts.files_planned, 'the plan lists no files')}"
    yield f"files touched ({len(facts.files_touched)}): {_listing(facts.files_touched)}"
    yield f"touched outside the plan: {_listing(facts.outside_plan)}"
    yield f"planned but not touched: {_listing(facts.planned_not_touched)}"
    yield f"lines: +{facts.lines_added} -{facts.lines_removed}"
    syntax = [f"{path}={status}" for path, status in sorted(facts.syntax.items())]
    yield f"syntax: {_listing(syntax)}"
    yield f"test files added or changed: {_listing(facts.tests_changed)}"
    imports = [f"{module} (in {path})" for path, module in facts.unknown_imports]
    yield f"imports not provided by stdlib, repo or manifests: {_listing(imports)}"
    secrets = [f"{hit.kind} at {hit.path}:{hit.line}" for hit in facts.secrets]
    yield f"secret-looking strings in added lines: {_listing(secrets)}"
    suites = "".join(f"; {app}: {outcome}" for app, outcome in facts.ci_suites)
    yield f"CI: {facts.ci or 'no checks reported yet'}{suites}"


def facts_for_prompt(facts: Facts) -> str:
    """Compact plain text for the judge's prompt (secret previews are never included)."""
    return "\n".join(f"- {line}" for line in _prompt_lines(facts))
