"""The bench's task format (SPEC section 12): reading and checking ``DIR/<name>/`` folders.

A task folder holds:

- ``task.toml``: ``title`` and ``body`` (the issue the models get), ``check`` (the shell command
  that decides whether the task is solved, run in a copy of the changed repository), ``timeout``
  in seconds, and optionally ``language`` and ``difficulty`` (1 one-line fix, 2 root cause far
  from the symptom, 3 multi-file change, 4 a fix that needs a new test; higher is allowed);
- ``repo/``: the project before the fix, the only thing the models see;
- ``hidden/``: files laid over the changed copy before ``check`` runs (the upstream fail-to-pass
  test and a pass-to-pass test); never shown to a model;
- ``fix/`` (optional): the reference fix, files laid over ``repo/``; a path listed in
  ``fix/.deleted`` (one per line) is removed.  CI uses it to prove that ``check`` fails on
  ``repo/`` and passes once fixed; the models never see it either.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TASK_FILE = "task.toml"
DELETED_LIST = ".deleted"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_TIMEOUT_SECONDS = 3600
_KEYS = {"title", "body", "check", "timeout", "language", "difficulty"}


class TaskError(ValueError):
    """A task folder that does not follow the format; the message names the folder and the problem."""


@dataclass(frozen=True)
class Task:
    """One task folder, validated."""

    name: str
    root: Path
    title: str
    body: str
    check: str
    timeout: float
    language: str | None = None
    difficulty: int | None = None

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def hidden(self) -> Path:
        return self.root / "hidden"

    @property
    def fix(self) -> Path:
        return self.root / "fix"

    def has_fix(self) -> bool:
        return self.fix.is_dir()

    def fingerprint(self) -> str:
        """A hash of everything that decides a cell's outcome (task.toml, repo/, hidden/): a
        finished cell is reused on a re-run only while its task is unchanged."""
        digest = hashlib.sha256()
        digest.update((self.root / TASK_FILE).read_bytes())
        for part in ("repo", "hidden"):
            for path, data in sorted(tree_files(self.root / part).items()):
                digest.update(f"{part}/{path}\0{len(data)}\0".encode())
                digest.update(data)
        return digest.hexdigest()[:16]

    def fix_files(self) -> tuple[dict[str, bytes], list[str]]:
        """The reference fix: files to write (path → bytes) and paths to delete."""
        files = tree_files(self.fix)
        deleted = files.pop(DELETED_LIST, b"").decode().split()
        return files, deleted


def tree_files(root: Path) -> dict[str, bytes]:
    """Regular files under ``root`` by POSIX path (links and ``.git`` skipped); {} when absent."""
    found: dict[str, bytes] = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and d != "__pycache__"
                             and not (Path(dirpath) / d).is_symlink())
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_file() and not full.is_symlink() and not name.endswith(".pyc"):
                found[full.relative_to(root).as_posix()] = full.read_bytes()
    return found


def load_task(folder: Path) -> Task:
    """Read and validate one task folder (raises TaskError naming the problem)."""
    folder = Path(folder)
    where = folder.name
    if not NAME_RE.match(where):
        raise TaskError(f"{where}: a task folder's name must be letters, digits, '.', '_' or '-'")
    path = folder / TASK_FILE
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"{where}: no {TASK_FILE}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaskError(f"{where}/{TASK_FILE}: {exc}") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise TaskError(f"{where}/{TASK_FILE}: unknown key(s) {', '.join(unknown)}; "
                        f"allowed: {', '.join(sorted(_KEYS))}")
    for key in ("title", "body", "check"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise TaskError(f"{where}/{TASK_FILE}: '{key}' must be a non-empty string")
    timeout = data.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise TaskError(f"{where}/{TASK_FILE}: 'timeout' must be a number of seconds in (0, {MAX_TIMEOUT_SECONDS}]")
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise TaskError(f"{where}/{TASK_FILE}: 'language' must be a string")
    difficulty = data.get("difficulty")
    if difficulty is not None and (isinstance(difficulty, bool) or not isinstance(difficulty, int)
                                   or difficulty < 1):
        raise TaskError(f"{where}/{TASK_FILE}: 'difficulty' must be a whole number from 1 up")
    if not (folder / "repo").is_dir():
        raise TaskError(f"{where}: no repo/ folder (the project before the fix)")
    if not tree_files(folder / "repo"):
        raise TaskError(f"{where}: repo/ holds no files")
    if (folder / "hidden").exists() and not (folder / "hidden").is_dir():
        raise TaskError(f"{where}: hidden must be a folder")
    return Task(name=where, root=folder.resolve(), title=data["title"].strip(), body=data["body"].strip(),
                check=data["check"].strip(), timeout=float(timeout), language=language, difficulty=difficulty)


def load_tasks(directory: Path, *, only: list[str] | None = None) -> list[Task]:
    """Every task folder under ``directory`` (sorted by difficulty, then name); ``only`` picks some.

    Raises TaskError listing every broken folder at once, so one run fixes them all.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise TaskError(f"{directory}: not a folder")
    tasks, problems = [], []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if only and folder.name not in only:
            continue
        try:
            tasks.append(load_task(folder))
        except TaskError as exc:
            problems.append(str(exc))
    if problems:
        raise TaskError("\n".join(problems))
    missing = sorted(set(only or ()) - {t.name for t in tasks})
    if missing:
        raise TaskError(f"no such task(s) under {directory}: {', '.join(missing)}")
    if not tasks:
        raise TaskError(f"{directory}: no task folders (each needs {TASK_FILE} and repo/)")
    return sorted(tasks, key=lambda t: (t.difficulty or 0, t.name))
