"""``route-me bench --tasks``: every cell (split × task × repeat × reasoning setting) run offline.

A cell runs the real stages through ``split_bench.run_cell`` (the code path of the GitHub-issue
mode too) on a context that serves the task's ``repo/`` from disk and posts nothing; then the
change is checked by ``check.run_check``.  Each finished cell is written to ``OUT/cells/`` at
once, so an interrupted run resumes where it stopped: a cell is skipped when its file exists
and was made from the same task content and the same models.  A cell that ended on a provider
failure (rate limit or outage after every retry and fallback) is reported but not kept, so the
next run tries it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bot.core.repo_config import CONFIG_PATH, RepoConfig, parse_repo_config
from bot.core.scorecard import DIMENSION_IDS
from bot.core.snapshot import Snapshot
from bot.models.budget import Budget
from bot.models.ledger import CallContext
from bot.services import Services
from bot.split_bench import BenchContext, run_cell
from bot.stages import model_choice
from bot.stages.state import IssueState
from bot.task_bench.check import isolation_prefix, run_check
from bot.task_bench.tasks import Task

REASONING_ROLES = ("planner", "implementer", "judge")
REASONING_LEVELS = ("off", "low", "medium", "high")
INSTALLATION = 0  # the ledger's installation for local bench calls (there is no GitHub App)


def parse_reasoning(text: str) -> dict[str, str | int]:
    """``planner=high,implementer=off`` → {"planner": "high", "implementer": "off"} (SPEC 8 levels)."""
    setting: dict[str, str | int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        role, _, level = part.partition("=")
        role, level = role.strip().lower(), level.strip().lower()
        if role not in REASONING_ROLES:
            raise ValueError(f"reasoning: unknown role {role!r} in {text!r}; roles: {', '.join(REASONING_ROLES)}")
        if level.isdigit() and int(level) > 0:
            setting[role] = int(level)
        elif level in REASONING_LEVELS:
            setting[role] = level
        else:
            raise ValueError(f"reasoning: {part!r} needs a level: {', '.join(REASONING_LEVELS)} or a token budget")
    if not setting:
        raise ValueError(f"reasoning: {text!r} names no role")
    return setting


def reasoning_label(setting: dict[str, str | int] | None) -> str | None:
    if not setting:
        return None
    return ",".join(f"{role}={setting[role]}" for role in REASONING_ROLES if role in setting)


def with_reasoning(config: RepoConfig, setting: dict[str, str | int] | None) -> RepoConfig:
    """The repository config with the cell's reasoning per role (the SPEC 8 ``reasoning`` key)."""
    if not setting:
        return config
    data = config.model_dump(exclude_unset=True)
    data["reasoning"] = {**(data.get("reasoning") or {}), **setting}
    return RepoConfig.model_validate(data)


@dataclass(frozen=True)
class Cell:
    task: Task
    split: str
    repeat: int
    reasoning: dict[str, str | int] | None = None

    @property
    def key(self) -> str:
        """The cell's file name in OUT/cells/ (stable across runs)."""
        label = reasoning_label(self.reasoning)
        suffix = "" if label is None else "__" + re.sub(r"[^A-Za-z0-9]+", "-", label)
        return f"{self.task.name}__{self.split}__r{self.repeat}{suffix}"


def plan_cells(tasks: Sequence[Task], splits: Sequence[str], *, repeats: int,
               reasonings: Sequence[dict[str, str | int] | None] = (None,)) -> list[Cell]:
    return [Cell(task=t, split=s, repeat=r, reasoning=z)
            for z in reasonings for r in range(1, repeats + 1) for s in splits for t in tasks]


@dataclass
class LocalTaskContext(BenchContext):
    """A bench context over a task folder: the snapshot and config come from ``repo/`` on disk, and
    every model call is booked under its own ledger issue number so each cell's dollars are exact."""

    task: Task | None = None
    local_snapshot: Snapshot | None = None
    ledger_issue: int = 0
    reasoning: dict[str, str | int] | None = None

    def call_context(self, stage: str) -> CallContext:
        return CallContext(installation_id=INSTALLATION, repo=self.repo, issue=self.ledger_issue,
                           stage=f"bench:{self.split}:{stage}")

    def budgets(self) -> list[Budget]:
        return model_choice.issue_budgets(store=self.services.store, settings=self.services.settings,
                                          config=self.config, clock=self.services.clock, repo=self.repo,
                                          number=self.ledger_issue, installation_id=INSTALLATION)

    def cancelled(self) -> bool:
        return False

    async def load_config(self) -> RepoConfig:
        assert self.task is not None
        path = self.task.repo / CONFIG_PATH
        self.config_text = path.read_text(encoding="utf-8") if path.is_file() else None
        self.config = with_reasoning(parse_repo_config(self.config_text), self.reasoning)
        return self.config

    async def snapshot(self, ref: str) -> Snapshot:
        assert self.local_snapshot is not None
        return self.local_snapshot


def task_snapshot(task: Task) -> Snapshot:
    """``repo/`` as the stages' read-only snapshot; its "sha" is derived from the task's content."""
    sha = hashlib.sha1(task.fingerprint().encode()).hexdigest()
    return Snapshot.from_directory(task.repo, sha)


def models_signature(services: Services) -> dict[str, str]:
    settings = services.settings
    return {"strong": settings.strong, "cheap": settings.cheap, "judge": settings.judge,
            "fallbacks": ",".join(settings.fallbacks)}


async def run_one(services: Services, cell: Cell, *, snapshot: Snapshot) -> dict[str, Any]:
    """Run one cell and return its record (see results.json in docs/bench.md)."""
    task = cell.task
    started = time.monotonic()
    ledger_issue = secrets.randbelow(2**31 - 1) + 1
    ctx = LocalTaskContext(services=services, gh=None, owner="bench", name=task.name,  # type: ignore[arg-type]
                           number=1, installation_id=INSTALLATION, default_branch="main",
                           issue_title=task.title, issue_body=task.body, split=cell.split, task=task,
                           local_snapshot=snapshot, ledger_issue=ledger_issue, reasoning=cell.reasoning)
    ctx.state = IssueState(repo=ctx.repo, number=1, variant=cell.split)
    await ctx.load_config()
    run = await run_cell(ctx, cell.split, snapshot.sha)
    check = await run_check(task, changes=run.changes) if run.changes is not None else None
    result = run.result
    model_seconds = sum(f["model_seconds"] for f in run.stages.values())
    seconds = time.monotonic() - started
    return {
        "cell": cell.key, "task": task.name, "split": cell.split, "repeat": cell.repeat,
        "reasoning": reasoning_label(cell.reasoning), "difficulty": task.difficulty, "language": task.language,
        "pass": bool(check and check.passed),
        "check": check.to_json() if check else None,
        "scores": {d: result.scores.get(d) for d in DIMENSION_IDS},
        "overall": result.overall,
        "stages": run.stages,
        "usd": result.total_usd,
        "seconds": round(seconds, 3),
        "model_seconds": round(model_seconds, 3),
        "models": result.models,
        "files_changed": result.files_changed, "lines": list(result.lines),
        "tests_changed": result.tests_changed,
        "error": result.error, "error_kind": run.error_kind,
        "ledger": {"repo": ctx.repo, "issue": ledger_issue},
    }


def crashed_record(cell: Cell, exc: BaseException) -> dict[str, Any]:
    """The record of a cell that raised something unexpected: reported, failed, not kept."""
    return {
        "cell": cell.key, "task": cell.task.name, "split": cell.split, "repeat": cell.repeat,
        "reasoning": reasoning_label(cell.reasoning), "difficulty": cell.task.difficulty,
        "language": cell.task.language, "pass": False, "check": None,
        "scores": dict.fromkeys(DIMENSION_IDS), "overall": None, "stages": {}, "usd": None,
        "seconds": 0.0, "model_seconds": 0.0, "models": {}, "files_changed": 0, "lines": [0, 0],
        "tests_changed": 0, "error": f"{type(exc).__name__}: {exc}", "error_kind": "crash", "ledger": None,
    }


class Progress:
    """A one-line progress bar on a terminal; one line per finished cell otherwise (logs, CI)."""

    def __init__(self, total: int, *, done: int = 0, stream: IO[str] | None = None) -> None:
        self.total, self.done, self.passed, self.usd = total, done, 0, 0.0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        if done:
            self.stream.write(f"{done} of {total} cells already done in OUT; running the rest\n")

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.passed += bool(record["pass"])
        self.usd += record["usd"] or 0.0
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        elapsed = time.monotonic() - self.started
        line = (f"[{bar}] {self.done}/{self.total} cells  {self.passed} passed  ${self.usd:.4f}  "
                f"{elapsed:.0f}s  last: {record['cell']} {'pass' if record['pass'] else 'FAIL'}")
        if self.tty:
            self.stream.write("\r" + line[:200])
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@dataclass
class BenchRun:
    """What ``run_bench`` leaves behind: every record in cell order, and how many were reused."""

    records: list[dict[str, Any]] = field(default_factory=list)
    reused: int = 0
    not_kept: int = 0


def _load_kept(path: Path, *, fingerprint: str, models: dict[str, str]) -> dict[str, Any] | None:
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if kept.get("fingerprint") != fingerprint or kept.get("model_config") != models:
        return None
    return kept.get("record")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


async def run_bench(services: Services, cells: Sequence[Cell], *, out: Path, concurrency: int = 4,
                    progress: Progress | None = None,
                    on_record: Callable[[dict[str, Any]], None] | None = None) -> BenchRun:
    """Run the cells not already kept in ``out/cells``, at most ``concurrency`` at a time."""
    cell_dir = out / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    models = models_signature(services)
    fingerprints = {t.name: t.fingerprint() for t in {c.task.name: c.task for c in cells}.values()}
    records: dict[str, dict[str, Any]] = {}
    for cell in cells:
        kept = _load_kept(cell_dir / f"{cell.key}.json", fingerprint=fingerprints[cell.task.name], models=models)
        if kept is not None:
            records[cell.key] = kept
    pending = [c for c in cells if c.key not in records]
    progress = progress or Progress(len(cells), done=len(records))
    snapshots = {name: task_snapshot(c.task) for name, c in {c.task.name: c for c in pending}.items()}
    isolation_prefix()  # probe once, before the cells race for it
    gate = asyncio.Semaphore(max(1, concurrency))
    run = BenchRun(reused=len(records))

    async def one(cell: Cell) -> None:
        async with gate:
            try:
                record = await run_one(services, cell, snapshot=snapshots[cell.task.name])
            except Exception as exc:  # noqa: BLE001 - one broken cell must not stop the others
                record = crashed_record(cell, exc)
        records[cell.key] = record
        if record["error_kind"] not in ("model", "crash"):
            _write_atomic(cell_dir / f"{cell.key}.json", json.dumps(
                {"fingerprint": fingerprints[cell.task.name], "model_config": models, "record": record}, indent=1))
        else:
            run.not_kept += 1
        progress.update(record)
        if on_record is not None:
            on_record(record)

    await asyncio.gather(*(one(c) for c in pending))
    run.records = [records[c.key] for c in cells]
    return run
