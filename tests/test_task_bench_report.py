"""The bench's report arithmetic (spread over repeats, dollars per solved task, saving against OO,
judge calibration) and the --reasoning cells, on hand-made records."""

from __future__ import annotations

import pytest

from bot.cli import main as cli_main
from bot.core.repo_config import parse_repo_config
from bot.task_bench.report import render_report, summarize
from bot.task_bench.runner import parse_reasoning, plan_cells, reasoning_label, with_reasoning
from bot.task_bench.tasks import Task

DIMENSIONS = ("root_cause", "plan_fidelity", "scope_discipline", "correctness", "tests", "code_quality", "safety")


def record(task: str, split: str, repeat: int, *, passed: bool, usd: float | None, correctness: int | None = 5,
           tests: int | None = 2, reasoning: str | None = None) -> dict:
    scores = dict.fromkeys(DIMENSIONS, 4)
    scores.update(correctness=correctness, tests=tests)
    return {"cell": f"{task}__{split}__r{repeat}", "task": task, "split": split, "repeat": repeat,
            "reasoning": reasoning, "difficulty": 1, "language": "python", "pass": passed, "usd": usd,
            "scores": scores, "overall": 4.0, "error": None}


def test_summary_spread_cost_saving_and_calibration():
    records = [
        # OO: 2/2 then 2/2; $0.40 per task.
        *(record(t, "OO", r, passed=True, usd=0.40) for r in (1, 2) for t in ("a", "b")),
        # OK: 2/2 then 0/2 (spread), $0.10 per task; the judge says "correct" every time.
        record("a", "OK", 1, passed=True, usd=0.10), record("b", "OK", 1, passed=True, usd=0.10),
        record("a", "OK", 2, passed=False, usd=0.10), record("b", "OK", 2, passed=False, usd=0.10, correctness=2),
    ]
    oo, ok = summarize(records)
    assert (oo.pass_rate, oo.pass_rate_stdev, oo.saving_vs_oo) == (1.0, 0.0, 0.0)
    assert ok.pass_rate == 0.5 and ok.pass_rate_by_repeat == [1.0, 0.0]
    assert ok.pass_rate_stdev == pytest.approx(0.7071, abs=1e-4)
    assert ok.usd_total == pytest.approx(0.40) and ok.usd_per_solved == pytest.approx(0.20)
    assert ok.saving_vs_oo == pytest.approx(0.75)
    # correctness ≥ 4 agrees with the check in 3 of 4 cells; tests (2) says "not solved" and agrees in 2.
    assert ok.judge_correctness_agreement == pytest.approx(0.75)
    assert ok.judge_tests_agreement == pytest.approx(0.5)
    report = render_report(records, settings={"strong": "s", "cheap": "c", "judge": "j", "network": "none"})
    assert "| OK | 4 | 2 | 50% | ±71 pts (100%, 0%) | $0.4000 | $0.1000 | $0.2000 | 75% |" in report
    assert "| OK | 4 | 75% | 50% |" in report


def test_unpriced_cells_and_no_solved_task_are_shown_as_such():
    records = [record("a", "KK", 1, passed=False, usd=None), record("b", "KK", 1, passed=False, usd=0.05)]
    (kk,) = summarize(records)
    assert kk.unpriced_cells == 1 and kk.usd_per_solved is None and kk.saving_vs_oo is None
    report = render_report(records, settings={})
    assert "$0.0500 (+1 unpriced)" in report and "| — | — |" in report


def test_reasoning_settings_parse_and_multiply_cells(tmp_path):
    assert parse_reasoning("planner=high, implementer=off,judge=2048") == {
        "planner": "high", "implementer": "off", "judge": 2048}
    for bad in ("planer=high", "planner=extreme", "planner", ""):
        with pytest.raises(ValueError):
            parse_reasoning(bad)
    task = Task(name="t", root=tmp_path, title="T", body="B", check="true", timeout=5)
    settings = [parse_reasoning("planner=high"), parse_reasoning("planner=off")]
    cells = plan_cells([task], ["OO", "OK"], repeats=2, reasonings=settings)
    assert len(cells) == 8 and len({c.key for c in cells}) == 8
    assert {reasoning_label(c.reasoning) for c in cells} == {"planner=high", "planner=off"}
    assert "t__OK__r2__planner-high" in {c.key for c in cells}


def test_reasoning_is_applied_through_the_repository_setting_over_the_task_own():
    config = parse_repo_config("reasoning: {planner: off, judge: medium}\n")
    applied = with_reasoning(config, parse_reasoning("planner=high,implementer=2048"))
    assert applied.reasoning == {"planner": "high", "judge": "medium", "implementer": 2048}
    assert with_reasoning(config, None) is config


def test_bench_needs_tasks_or_an_issue(capsys):
    assert cli_main(["bench"]) == 2
    assert "give --tasks DIR" in capsys.readouterr().err
