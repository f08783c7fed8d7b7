"""Scripted models for the bench's shipped task suite (tests/test_task_bench.py, bench/bench_task_overhead.py).

Either fake provider plays planner, implementer or judge, told apart by the tools offered; the task is
found by its title in the request. The planner names the reference fix's files; the strong implementer
writes the reference fix on every task, the cheap one on even-numbered tasks only and a harmless, useless
edit elsewhere; the judge scores every change 5 for correctness, right or wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.task_bench.tasks import Task, load_tasks
from tests import scenario as sc

SUITE = Path(__file__).resolve().parent.parent.parent / "bench" / "tasks"
TASKS = load_tasks(SUITE)
CHEAP_FIXES = {t.name for i, t in enumerate(TASKS) if i % 2 == 0}


def text_of(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _comment(path: str) -> str:
    return "# an attempt that changes nothing\n" if path.endswith(".py") else "// an attempt that changes nothing\n"


def script_for(task: Task, *, writes_fix: bool) -> list[tuple[str, dict[str, Any]]]:
    """The implementer's tool calls: the reference fix, or a useless edit of the same files."""
    fix_files, _ = task.fix_files()
    turns: list[tuple[str, dict[str, Any]]] = []
    for path, data in sorted(fix_files.items()):
        if writes_fix:
            turns.append(("write_file", {"path": path, "content": text_of(data)}))
        else:
            original = text_of((task.repo / path).read_bytes())
            turns.append(("write_file", {"path": path, "content": original + _comment(path)}))
    turns.append(("finish", {"summary": "done"}))
    return turns


def plan_for(task: Task) -> dict[str, Any]:
    fix_files, _ = task.fix_files()
    paths = sorted(fix_files)
    return {
        "summary": f"Fix: {task.title}", "root_cause": "The code named in the files below.",
        "steps": [{"title": "Change the code", "detail": "Apply the change the issue asks for.", "files": paths}],
        "files": [{"path": p, "action": "modify", "why": "the fix"} for p in paths],
        "tests": ["the project's tests"], "acceptance_criteria": ["the issue's example works"],
        "risks": ["none"], "out_of_scope": ["anything else"],
    }


def scorecard(correct: int) -> dict[str, Any]:
    return {"scores": [{"dimension": d, "score": s, "rationale": f"{d}."} for d, s in [
        ("root_cause", correct), ("plan_fidelity", 5), ("scope_discipline", 4), ("correctness", correct),
        ("tests", 3), ("code_quality", 4), ("safety", 5)]], "summary": "scored"}


def which_task(body: dict[str, Any]) -> Task:
    text = json.dumps(body)
    found = [t for t in TASKS if json.dumps(t.title)[1:-1] in text]
    assert len(found) == 1, [t.name for t in found]
    return found[0]


def play(module: Any, *, strong: bool) -> Any:
    """A responder for ``module``'s fake (anthropic_server or openai_server)."""
    def respond(body: dict[str, Any]) -> Any:
        tools = {t.get("name") or t.get("function", {}).get("name") for t in body.get("tools", [])}
        task = which_task(body)
        if "submit_plan" in tools:
            return module.tool_reply("submit_plan", plan_for(task), usage=sc.PLANNER_USAGE)
        if "submit_scorecard" in tools:
            # The judge believes every change is right: calibration must show where it was not.
            return module.tool_reply("submit_scorecard", scorecard(5), usage=sc.JUDGE_USAGE)
        turns = script_for(task, writes_fix=strong or task.name in CHEAP_FIXES)
        name, arguments = turns[min(sc.turn_number(body), len(turns) - 1)]
        return module.tool_reply(name, arguments, usage=sc.IMPLEMENTER_USAGE)
    return respond
