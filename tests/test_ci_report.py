"""Cutting a CI log down to what explains the failure, and naming the failing tests (pure)."""

from __future__ import annotations

from bot.core.ci_report import LOG_CHARS, REPORT_CHARS, FailingCheck, failing_tests, render_ci_report, trim_log

NOISE = "".join(f"2026-11-25T10:00:00.0000000Z \x1b[36mDownloading package {n}\x1b[0m\n" for n in range(50_000))


def test_a_huge_log_keeps_the_failure_and_its_end_within_the_bound():
    log = (NOISE + "2026-11-25T10:01:00.0000000Z E       AssertionError: assert 3 == 4 TOKEN-1\n" + NOISE
           + "2026-11-25T10:02:00.0000000Z FAILED tests/test_x.py::test_y - AssertionError\n")
    trimmed = trim_log(log)
    assert len(trimmed) <= LOG_CHARS + 40
    assert "TOKEN-1" in trimmed and "FAILED tests/test_x.py::test_y" in trimmed
    assert "\x1b[" not in trimmed and "2026-11-25T" not in trimmed  # colours and timestamps gone


def test_failing_test_names_across_runners():
    text = "\n".join([
        "FAILED tests/test_ops.py::test_divide_by_zero - ValueError",
        "--- FAIL: TestDivide (0.00s)",
        "  ✕ divides by zero (3 ms)",
        "not ok 2 - parses empty input",
        "FAILED tests/test_ops.py::test_divide_by_zero - ValueError",  # once only
    ])
    assert failing_tests([text, None]) == ("tests/test_ops.py::test_divide_by_zero", "TestDivide",
                                           "divides by zero", "parses empty input")


def test_the_report_is_bounded_and_fences_stay_closed():
    checks = [FailingCheck(name=f"job {n}", url=None, conclusion="failure", log="```\n" + "x" * 10_000)
              for n in range(10)]
    report = render_ci_report(checks)
    assert len(report) <= REPORT_CHARS + 20
    assert "\n```\n```" not in report  # a log's own fence cannot close ours
    assert render_ci_report([]).startswith("(CI failed but reported no details")
