"""`route-me bench --tasks`: the shipped suite run end to end against the fake providers.

The fakes play scripted models: the planner names the reference fix's files; the strong implementer
writes the reference fix on every task, the cheap one on even-numbered tasks only and a harmless,
useless edit elsewhere. So the hidden checks must pass exactly where the fix was written, whatever the
judge says, and the report, ledger and chart are checked against that.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main as cli_main
from bot.store import open_store
from bot.task_bench.tasks import tree_files
from tests.fakes import anthropic_server, openai_server
from tests.fakes.task_roles import CHEAP_FIXES, SUITE, TASKS, play, text_of
from tests.node import needs_node

SPLITS = ("OO", "OK", "KO", "KK")
MIN_LINE = 24  # lines this long are distinctive enough to trace into a request


def bench_env(tmp_path: Path, anthropic: Any, openai: Any) -> dict[str, str]:
    return {
        "ROUTE_ME_DB": str(tmp_path / "state" / "bench.db"), "ROUTE_ME_DATA_DIR": str(tmp_path / "snapshots"),
        "ANTHROPIC_API_KEY": anthropic.api_key, "ANTHROPIC_BASE_URL": anthropic.base_url,
        "OPENAI_API_KEY": openai.api_key, "OPENAI_BASE_URL": openai.base_url,
        "ROUTE_ME_STRONG": "anthropic:claude-opus-5-5", "ROUTE_ME_CHEAP": "openai:kimi-k2.6",
    }


def distinctive_lines(files: dict[str, bytes], *, visible: set[str], issue: str) -> set[str]:
    """Long lines of ``files`` that the models may not see: in neither repo/ nor the issue text."""
    lines = set()
    for data in files.values():
        for line in text_of(data).splitlines():
            line = line.strip()
            if len(line) >= MIN_LINE and line not in visible and line not in issue:
                lines.add(line)
    return lines


def requests(anthropic: Any, openai: Any) -> list[tuple[str, str, str]]:
    """(provider, role, JSON text) of every request the models received."""
    found = []
    for provider, bodies in (("anthropic", anthropic.message_bodies), ("openai", openai.completion_bodies)):
        for body in bodies:
            tools = {t.get("name") or t.get("function", {}).get("name") for t in body.get("tools", [])}
            role = "plan" if "submit_plan" in tools else "judge" if "submit_scorecard" in tools else "implement"
            found.append((provider, role, json.dumps(body)))
    return found


def carries(text: str, lines: set[str]) -> bool:
    return any(json.dumps(line)[1:-1] in text for line in lines)


@pytest.fixture
def scripted(anthropic, openai):
    anthropic.responder = play(anthropic_server, strong=True)
    openai.responder = play(openai_server, strong=False)
    return anthropic, openai


async def test_bench_over_the_suite_matches_the_hidden_checks(tmp_path, scripted, monkeypatch, capsys):
    needs_node()
    anthropic, openai = scripted
    for key, value in bench_env(tmp_path, anthropic, openai).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_must_not_reach_the_check")
    out = tmp_path / "out"
    argv = ["bench", "--tasks", str(SUITE), "--splits", ",".join(SPLITS), "--out", str(out), "--concurrency", "8"]

    code = await asyncio.to_thread(cli_main, argv)

    assert code == 0, capsys.readouterr().err[-3000:]
    results = json.loads((out / "results.json").read_text())
    cells = results["cells"]
    # Every cell is present, once.
    assert sorted((c["task"], c["split"]) for c in cells) == sorted((t.name, s) for t in TASKS for s in SPLITS)
    for cell in cells:
        # Pass/fail is what the hidden check decided, and that is exactly where the fix was written.
        wrote_fix = cell["split"][1] == "O" or cell["task"] in CHEAP_FIXES
        assert cell["error"] is None, cell["error"]
        assert cell["pass"] is wrote_fix is cell["check"]["passed"], (cell["cell"], cell["check"]["output"][-800:])
        assert cell["models"]["implement"] == ("anthropic:claude-opus-5-5" if cell["split"][1] == "O"
                                               else "openai:kimi-k2.6")
        assert cell["scores"]["correctness"] == 5 and len(cell["scores"]) == 7
        assert set(cell["stages"]) == {"plan", "implement", "judge"}
    # Dollars per cell and stage are the ledger's sums for that cell's calls.
    store = open_store(str(tmp_path / "state" / "bench.db"))
    try:
        for cell in cells:
            rows = store.ledger_rows(repo=cell["ledger"]["repo"], issue=cell["ledger"]["issue"])
            assert {r["stage"] for r in rows} == {f"bench:{cell['split']}:{s}" for s in ("plan", "implement", "judge")}
            assert math.isclose(cell["usd"], sum(r["cost_usd"] for r in rows), rel_tol=1e-9)
            for stage, figures in cell["stages"].items():
                mine = [r for r in rows if r["stage"].endswith(":" + stage)]
                assert math.isclose(figures["usd"], sum(r["cost_usd"] for r in mine), rel_tol=1e-9)
                assert figures["input_tokens"] == sum(r["usage"]["input_tokens"] for r in mine)
    finally:
        store.close()
    # The report: one row per split, pass rates and the judge's calibration against the checks.
    summary = {s["split"]: s for s in results["summary"]}
    assert summary["OO"]["pass_rate"] == 1.0 and summary["KO"]["pass_rate"] == 1.0
    assert summary["OK"]["passed"] == summary["KK"]["passed"] == len(CHEAP_FIXES)
    assert summary["OK"]["judge_correctness_agreement"] == pytest.approx(len(CHEAP_FIXES) / len(TASKS))
    assert summary["OO"]["saving_vs_oo"] == 0.0 and summary["KK"]["saving_vs_oo"] > summary["OK"]["saving_vs_oo"] > 0
    report = (out / "report.md").read_text()
    for split in SPLITS:
        assert f"\n| {split} | {len(TASKS)} |" in report
    assert "Judge calibration" in report and "![pass rate against dollars per split](chart.png)" in report
    assert "network: none" in report or "network: open" in report
    # No request to a model carried hidden/ content; fix content only where a model wrote it itself.
    sent = requests(anthropic, openai)
    for task in TASKS:
        visible = {line.strip() for data in tree_files(task.repo).values() for line in text_of(data).splitlines()}
        hidden = distinctive_lines(tree_files(task.hidden), visible=visible, issue=task.body)
        fix = distinctive_lines(task.fix_files()[0], visible=visible, issue=task.body)
        assert hidden and fix, task.name
        title = json.dumps(task.title)[1:-1]
        mine = [(provider, role, text) for provider, role, text in sent if title in text]
        assert not [role for _, role, text in mine if carries(text, hidden)], task.name
        # The planner never sees the fix; a cheap implementer that did not write it never sees it either.
        assert not [role for _, role, text in mine if role == "plan" and carries(text, fix)], task.name
        if task.name not in CHEAP_FIXES:
            assert not [1 for provider, role, text in mine
                        if role == "implement" and provider == "openai" and carries(text, fix)], task.name
        # The judge sees the fix exactly in the cells whose implementer wrote it.
        judged_fix = sum(1 for _, role, text in mine if role == "judge" and carries(text, fix))
        assert judged_fix == (4 if task.name in CHEAP_FIXES else 2), task.name
    # The chart is a real picture: written, sizeable and drawn in several colours.
    chart = out / "chart.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000
    from matplotlib import image

    pixels = image.imread(chart)
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::7]}) > 50

    # A second run finds every cell kept in OUT and calls no model.
    calls = anthropic.calls + openai.calls
    assert await asyncio.to_thread(cli_main, argv) == 0
    assert anthropic.calls + openai.calls == calls
    assert "40 cells (40 reused" in capsys.readouterr().out


async def test_a_cell_stopped_by_a_provider_failure_is_not_kept_and_runs_again(tmp_path, scripted, monkeypatch,
                                                                                capsys):
    needs_node()
    anthropic, openai = scripted
    for key, value in bench_env(tmp_path, anthropic, openai).items():
        monkeypatch.setenv(key, value)
    broken = {"on": True}
    scripted_strong = play(anthropic_server, strong=True)

    def strong(body):
        if broken["on"] and "negative sizes" in json.dumps(body) and any(
                t.get("name") == "submit_plan" for t in body.get("tools", [])):
            return anthropic_server.failure(400, "invalid_request_error", message="prompt is malformed")
        return scripted_strong(body)

    anthropic.responder = strong
    out = tmp_path / "out"
    argv = ["bench", "--tasks", str(SUITE), "--only", "escape-regexp-hyphen", "--only", "humanize-negative-size",
            "--splits", "OO,KK", "--out", str(out)]

    assert await asyncio.to_thread(cli_main, argv) == 1
    cells = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    failed = cells["humanize-negative-size__OO__r1"]
    assert failed["error_kind"] == "model" and failed["pass"] is False and failed["check"] is None
    assert "were not kept" in capsys.readouterr().err
    assert sorted(p.stem for p in (out / "cells").glob("*.json")) == sorted(set(cells) - {failed["cell"]})
    assert "Cells that stopped early" in (out / "report.md").read_text()

    broken["on"] = False
    before = anthropic.calls + openai.calls
    assert await asyncio.to_thread(cli_main, argv) == 0
    assert "4 cells (3 reused" in capsys.readouterr().out
    assert anthropic.calls + openai.calls - before == 4  # plan, two implementer turns (write, finish), judge
    cells = {c["cell"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert cells["humanize-negative-size__OO__r1"]["pass"] is True
