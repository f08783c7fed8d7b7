"""Which repository files GitHub Actions runs, so the implementer leaves them alone unless allowed.

Workflows (``.github/workflows/**``) are denied by ``repo_config.is_path_denied``.  What they
run from the repository runs with the same secrets: a composite action
(``.github/actions/*/action.yml`` and its scripts), any local action a step ``uses: ./dir``,
a reusable workflow a job ``uses: ./.github/workflows/x.yml``, and the scripts a ``run:``
step (or a composite action's step) names, e.g. ``./scripts/ci.sh`` or ``python tools/lint.py``.
``ci_executed`` finds them by parsing the snapshot's workflows and local actions; it is a
pure function of the file list and a reader.  Only files that exist are protected, and only
paths the YAML names.

A ``run:`` step's ``npm test`` / ``yarn X`` / ``pnpm run X`` / ``make [-C dir] X`` is followed
one level, into the *entry* it invokes (``scripts.test`` with its ``pre``/``post`` hooks, the
``X`` rule and its prerequisites; ``bot.core.ci_entries``): ``edit_denial`` refuses an edit
that changes or removes one, and any other edit of the file stays allowed.  Not followed:
Makefile variables (``test:\n\t$(PYTEST)`` with ``PYTEST = true`` is not seen) and included
makefiles (a Makefile with ``include`` or conditionals is protected whole), npm workspaces,
tox/nox, pyproject test configuration (pytest's ``addopts``), and what the scripts then call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.core.ci_entries import DEFAULT_GOAL, entry_changes, repo_path, run_entries
from bot.core.repo_config import glob_match

# libyaml's loader when present (about five times faster); the pure-Python one otherwise.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
WORKFLOWS_DIR = ".github/workflows/"
ACTIONS_DIR = ".github/actions/"
ACTION_FILES = ("action.yml", "action.yaml")
MAX_YAML_CHARS = 256_000  # a workflow or action file larger than this is not parsed
MAX_ACTIONS = 200  # local actions followed per repository (a cycle or a flood stops here)
# Steps scanned per repository: YAML aliases can make one small file list the same steps in
# every job, and the scan must stay linear in what we choose to read.
MAX_STEPS = 2_000
# Extensions that make a bare word (no "/") in a run script a script path worth checking.
_SCRIPT_EXTENSIONS = (".sh", ".bash", ".zsh", ".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl",
                      ".php", ".ps1", ".bat", ".cmd", ".lua", ".r", ".R")
# A word of a shell script that could be a path (expressions like ${{ … }} end a word).
_WORD = re.compile(r"[A-Za-z0-9_.@+\-/]+")
_COMMAND_START = re.compile(r"(?:^|[;&|(`]|\$\()\s*$")


@dataclass(frozen=True)
class CiExecuted:
    """Files and directories CI runs: path -> why (which workflow or action runs it, and how)."""

    files: Mapping[str, str] = field(default_factory=dict)
    dirs: Mapping[str, str] = field(default_factory=dict)
    # package.json / Makefile path -> {entry ("scripts.test", a make target) -> why}
    entries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def reason(self, path: str) -> str | None:
        """Why CI runs ``path`` (a file it names, or a file inside a local action), else None."""
        if path in self.files:
            return self.files[path]
        parts = path.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            why = self.dirs.get("/".join(parts[:depth]))
            if why is not None:
                return why
        return None

    def denial(self, path: str, *, allowed_paths: Sequence[str]) -> str | None:
        """The refusal for changing ``path``, or None when CI does not run it or it is allowed.

        Like workflows, it opens up only for an allowed pattern that names it: one whose first
        directory is literal (``scripts/**`` names ``scripts/ci.sh``; ``**`` names nothing).
        """
        why = self.reason(path)
        if why is None or any(_names(pattern, path) for pattern in allowed_paths):
            return None
        return (f"{path} is run by CI ({why}) with the repository's secrets, so it is protected "
                f"like .github/workflows/; to let route-me change it, add a pattern naming it "
                f"(e.g. {path!r}) to allowed_paths in .github/route-me.yml")

    def edit_denial(self, path: str, old: str | None, new: str | None, *,
                    allowed_paths: Sequence[str]) -> str | None:
        """The refusal for an edit of ``path`` (``old`` -> ``new``, None = absent) that changes
        a package script or make target CI invokes; None when it changes none of them."""
        protected = self.entries.get(path)
        if not protected or any(_names(pattern, path) for pattern in allowed_paths):
            return None
        changed = entry_changes(path, protected, old, new)
        if not changed:
            return None
        shown = ", ".join(f"`{_entry_label(name)}`" for name in changed[:3])
        verb = "deleting it would remove" if new is None else "this edit changes"
        return (f"{verb} {shown} of {path}, which CI runs ({protected[changed[0]]}); route-me may "
                f"not change what CI runs; to let it, add a pattern naming it (e.g. {path!r}) to "
                f"allowed_paths in .github/route-me.yml")


def _entry_label(name: str) -> str:
    return "the default make goal" if name == DEFAULT_GOAL else name


def _names(pattern: str, path: str) -> bool:
    first = pattern.split("/", 1)[0]
    return bool(first) and not any(c in first for c in "*?[") and glob_match(pattern, path)


def ci_executed(paths: Iterable[str], read: Callable[[str], str | None]) -> CiExecuted:
    """What the workflows in ``paths`` run from the repository (``read(path)``: text or None)."""
    present = set(paths)
    files: dict[str, str] = {}
    dirs: dict[str, str] = {}
    entries: dict[str, dict[str, str]] = {}
    for path in sorted(present):
        if path.startswith(ACTIONS_DIR) and path.count("/") >= 3:
            action_dir = "/".join(path.split("/")[:3])
            dirs.setdefault(action_dir, f"{action_dir} is a local action directory")
    pending: list[tuple[str, str]] = []  # (action directory, who uses it)
    budget = [MAX_STEPS]
    for workflow in sorted(p for p in present if _is_workflow(p)):
        document = _load(read, workflow)
        jobs = document.get("jobs") if isinstance(document, dict) else None
        if not isinstance(jobs, dict):
            continue
        defaults = _working_dir(document.get("defaults"))
        for job_id, job in jobs.items():
            if not isinstance(job, dict):
                continue
            where = f"{workflow}, job {job_id}"
            uses = job.get("uses")
            if isinstance(uses, str) and uses.startswith("./"):
                target = _normal(uses)
                if target is not None and target in present:
                    files.setdefault(target, f"{where} calls it as a reusable workflow")
            job_dir = _working_dir(job.get("defaults")) or defaults
            _scan_steps(job.get("steps"), where=where, base="", default_dir=job_dir,
                        present=present, files=files, entries=entries, pending=pending,
                        budget=budget)
    seen: set[str] = set()
    while pending and len(seen) < MAX_ACTIONS:
        action_dir, who = pending.pop(0)
        if action_dir in seen:
            continue
        seen.add(action_dir)
        _add_action(action_dir, who=who, present=present, read=read, files=files, dirs=dirs,
                    entries=entries, pending=pending, budget=budget)
    return CiExecuted(files=files, dirs=dirs, entries=entries)


def ci_executed_in(snapshot: Any) -> CiExecuted:
    """``ci_executed`` over a ``Snapshot`` (its file list and text reader)."""
    return ci_executed(snapshot.paths(), snapshot.read_text)


def _is_workflow(path: str) -> bool:
    rest = path[len(WORKFLOWS_DIR):] if path.startswith(WORKFLOWS_DIR) else None
    return rest is not None and "/" not in rest and rest.endswith((".yml", ".yaml"))


def _load(read: Callable[[str], str | None], path: str) -> Any:
    try:
        text = read(path)
    except (OSError, ValueError):
        return None
    if text is None or len(text) > MAX_YAML_CHARS:
        return None
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
    except yaml.YAMLError:
        return None  # a broken workflow runs nothing; the file itself stays protected


def _working_dir(defaults: Any) -> str:
    if isinstance(defaults, dict) and isinstance(defaults.get("run"), dict):
        value = defaults["run"].get("working-directory")
        if isinstance(value, str):
            return _normal(value) or ""
    return ""


def _normal(raw: str, base: str = "") -> str | None:
    """A repo-relative path for ``raw`` (relative to ``base``), or None when it leaves the repo;
    a local ``uses: ./dir@ref`` loses its ``@ref``."""
    return repo_path(raw.strip().split("@", 1)[0] if raw.startswith("./") else raw.strip(), base)


def _scan_steps(steps: Any, *, where: str, base: str, default_dir: str, present: set[str],
                files: dict[str, str], entries: dict[str, dict[str, str]],
                pending: list[tuple[str, str]], budget: list[int]) -> None:
    """Record what each step runs: a local action it ``uses``, scripts its ``run`` names, the
    package scripts and make targets it invokes (``bot.core.ci_entries``)."""
    if not isinstance(steps, list):
        return
    for number, step in enumerate(steps, 1):
        if budget[0] <= 0:
            return
        budget[0] -= 1
        if not isinstance(step, dict):
            continue
        label = f"{where}, step {step.get('name') or step.get('id') or number}"
        uses = step.get("uses")
        if isinstance(uses, str) and uses.startswith("./"):
            action_dir = _normal(uses)
            if action_dir is not None:
                pending.append((action_dir, f"{label} uses it"))
        for key in ("run", "shell"):
            script = step.get(key)
            if isinstance(script, str):
                step_dir = step.get("working-directory")
                work = _normal(step_dir) if isinstance(step_dir, str) else default_dir
                for path in _script_paths(script, bases=(base, work or "")):
                    if path in present:
                        files.setdefault(path, f"{label} runs it")
                if key == "run":
                    for (path, name), command in run_entries(script, work=work, exists=present.__contains__):
                        entries.setdefault(path, {}).setdefault(name, f"{label} runs `{command}`")


def _script_paths(script: str, *, bases: Sequence[str]) -> list[str]:
    """Repo-relative paths a shell script may run: words with a '/', a script extension, or
    in command position, resolved against each of ``bases``."""
    found: list[str] = []
    script = script.replace("${{ github.workspace }}/", "./").replace("$GITHUB_WORKSPACE/", "./")
    script = script.replace("${{ github.action_path }}/", "./").replace("$GITHUB_ACTION_PATH/", "./")
    for match in _WORD.finditer(script):
        word = match.group(0)
        before = script[max(0, match.start() - 80):match.start()]
        command = _COMMAND_START.search(before.split("\n")[-1]) is not None
        if "/" not in word and not word.endswith(_SCRIPT_EXTENSIONS) and not command:
            continue
        if word.startswith("-"):
            continue
        for base in bases:
            path = _normal(word, base)
            if path and path not in found:
                found.append(path)
    return found


def _add_action(action_dir: str, *, who: str, present: set[str], read: Callable[[str], str | None],
                files: dict[str, str], dirs: dict[str, str], entries: dict[str, dict[str, str]],
                pending: list[tuple[str, str]], budget: list[int]) -> None:
    """Protect a local action (its metadata, its files) and follow what its steps run."""
    metadata = next((f"{action_dir}/{name}" if action_dir else name for name in ACTION_FILES
                     if (f"{action_dir}/{name}" if action_dir else name) in present), None)
    if action_dir:
        # Every file of a local action can run (scripts, Dockerfile, node bundle).
        dirs.setdefault(action_dir, f"{who}; it is a local action")
    if metadata is None:
        return
    files.setdefault(metadata, f"{who}; it is a local action's definition")
    document = _load(read, metadata)
    runs = document.get("runs") if isinstance(document, dict) else None
    if not isinstance(runs, dict):
        return
    for key in ("main", "pre", "post", "image"):
        value = runs.get(key)
        if isinstance(value, str) and not value.startswith("docker://"):
            path = _normal(value, action_dir)
            if path is not None and path in present:
                files.setdefault(path, f"{who}; the action runs it ({key})")
    # A composite step's relative paths resolve against the workspace (the repository root);
    # ${{ github.action_path }} (rewritten to ./) against the action's own directory.
    _scan_steps(runs.get("steps"), where=f"the action {action_dir or './'}", base=action_dir,
                default_dir="", present=present, files=files, entries=entries, pending=pending,
                budget=budget)
