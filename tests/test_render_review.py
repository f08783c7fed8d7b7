"""The review Markdown, against golden files, plus the cost and escaping rules.

Regenerate the golden files after an intended change with
``ROUTE_ME_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_review.py`` and read the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bot.core.facts import Facts
from bot.core.money import format_usd as usd
from bot.core.money import saving
from bot.core.render_review import render_review
from bot.core.scorecard import Scorecard, accept_partial
from bot.core.secrets_scan import SecretHit
from bot.core.usage import StageCost, Usage

GOLDEN = Path(__file__).parent / "golden"
MARKER = '<!-- route-me:review {"pr":7,"version":1} -->'
MODELS = {"plan": "anthropic:claude-opus-4-1", "implement": "moonshot:kimi-k2.6", "judge": "anthropic:claude-opus-4-1"}

LONG = (
    "The fix changes the cache key to include the locale, which is the root cause of the stale "
    "pages. It also normalises the key order, which was not required but is harmless and small."
)
RATIONALES = {
    "root_cause": LONG,
    "plan_fidelity": "Follows steps 1-3 exactly.",
    "scope_discipline": "Touches one extra helper file not in the plan.",
    "correctness": "Edge case for empty locale handled.",
    "tests": "Adds a regression test that fails before the fix.",
    "code_quality": "Matches the module's style.",
    "safety": "Imports `requests`, which the project does not declare.",
}
SCORES = {"root_cause": 5, "plan_fidelity": 5, "scope_discipline": 3, "correctness": 4,
          "tests": 4, "code_quality": 4, "safety": 2}


def complete_card() -> Scorecard:
    return accept_partial({
        "scores": [{"dimension": d, "score": SCORES[d], "rationale": r} for d, r in RATIONALES.items()],
        "summary": "A focused fix with one undeclared dependency.",
    })


def partial_card() -> Scorecard:
    return accept_partial({
        "scores": [
            {"dimension": "root_cause", "score": 4, "rationale": "Fixes the cause."},
            {"dimension": "plan_fidelity", "score": 4, "rationale": "Mostly follows the plan."},
            {"dimension": "tests", "score": 7, "rationale": "out of range, dropped"},
            {"dimension": "safety", "score": 3, "rationale": "One secret-looking literal."},
        ],
        "summary": "",
    })


def facts(**changes: object) -> Facts:
    base = Facts(
        files_planned=("app/cache.py", "tests/test_cache.py"),
        files_touched=("app/cache.py", "app/helpers.py", "tests/test_cache.py"),
        outside_plan=("app/helpers.py",),
        planned_not_touched=(),
        lines_added=42,
        lines_removed=7,
        syntax={"app/cache.py": "ok", "app/helpers.py": "ok", "tests/test_cache.py": "ok"},
        tests_changed=("tests/test_cache.py",),
        unknown_imports=(("app/helpers.py", "requests"),),
        secrets=(),
        ci=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def costs(*, judge_usd: float | None = 0.0950, judge_strong: float | None = 0.0950) -> list[StageCost]:
    return [
        StageCost("plan", ("anthropic:claude-opus-4-1",), Usage(30_000, 4_000, 10_000, 0), 0.8625, 0.8625),
        StageCost("implement", ("moonshot:kimi-k2.6",), Usage(120_000, 9_000, 0, 80_000), 0.1290, 2.5950),
        StageCost("judge", ("anthropic:claude-opus-4-1",), Usage(5_000, 1_000, 0, 0), judge_usd, judge_strong),
    ]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"review_{name}.md"
    if os.environ.get("ROUTE_ME_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


# --- golden files -----------------------------------------------------------------------

def test_golden_complete() -> None:
    text = render_review(scorecard=complete_card(), facts=facts(), costs=costs(), models=MODELS, marker=MARKER)
    check_golden("complete", text)


def test_golden_partial_with_missing_dimensions() -> None:
    secret = SecretHit("app/settings.py", 12, "GitHub token", "ghp_…[redacted, 40 chars]")
    text = render_review(
        scorecard=partial_card(),
        facts=facts(secrets=(secret,), tests_changed=(), unknown_imports=(), outside_plan=(),
                    planned_not_touched=("tests/test_cache.py",),
                    syntax={"app/cache.py": "error", "README.md": "unchecked"}),
        costs=costs(),
        models=MODELS,
        marker=MARKER,
        judge_error="missing dimensions: scope_discipline, correctness, code_quality; score all seven",
        fallback_note="The judge fell back from anthropic:claude-opus-4-1 (overloaded) to openai:gpt-5.",
    )
    check_golden("partial", text)


def test_golden_unknown_cost() -> None:
    text = render_review(
        scorecard=complete_card(), facts=facts(), costs=costs(judge_usd=None, judge_strong=None),
        models={"plan": MODELS["plan"]}, marker=MARKER,
    )
    check_golden("unknown_cost", text)


def test_golden_ci_failure() -> None:
    text = render_review(
        scorecard=complete_card(), facts=facts(ci="failure"), costs=costs(), models=MODELS, marker=MARKER,
    )
    check_golden("ci_failure", text)


# --- behaviour --------------------------------------------------------------------------

def render(**overrides: object) -> str:
    args: dict[str, object] = {
        "scorecard": complete_card(), "facts": facts(), "costs": costs(), "models": MODELS, "marker": MARKER,
    }
    args.update(overrides)
    return render_review(**args)  # type: ignore[arg-type]


def test_marker_first_and_title_carries_overall() -> None:
    lines = render().splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "## route-me scorecard: 3.9/5"  # 27/7 = 3.857…


def test_long_rationale_folded_short_one_not() -> None:
    text = render()
    assert text.count("<details>") == 1
    assert "| Root-cause soundness | 5/5 | The fix changes the cache key to include the locale, which is the root cause of the stale pages. _(full text below)_ |" in text
    assert "It also normalises the key order" in text.split("<details>")[1]


def test_long_single_sentence_truncated_in_table() -> None:
    card = accept_partial({"scores": [{"dimension": "tests", "score": 3, "rationale": "word " * 60}]})
    row = next(line for line in render(scorecard=card).splitlines() if line.startswith("| Tests |"))
    assert "…" in row and len(row) < 220


def test_no_scorecard_at_all() -> None:
    text = render(scorecard=None, judge_error="the judge model timed out")
    assert "## route-me scorecard: not scored" in text
    assert text.count("| not scored |") == 7
    assert "the judge model timed out" in text
    assert "Overall" not in text


def test_ci_states() -> None:
    assert "**CI:** no checks reported yet" in render()  # a repository without CI is not "running"
    assert "⏳" not in render()
    assert "**CI:** ✅ success" in render(facts=facts(ci="success"))
    assert "**CI:** ❌ failure" in render(facts=facts(ci="failure"))
    assert "**CI:** ℹ️ neutral" in render(facts=facts(ci="neutral"))


def test_model_text_cannot_inject_markers_mentions_or_break_table() -> None:
    card = accept_partial({
        "scores": [{"dimension": "safety", "score": 1,
                    "rationale": "<!-- route-me:plan {} --> ping @octocat | a <b>bold</b>"}],
        "summary": "<!-- route-me:review {} --> cc @someone",
    })
    text = render(scorecard=card)
    assert text.count("<!--") == 1  # only our own marker
    assert "@octocat" not in text and "@someone" not in text
    row = next(line for line in text.splitlines() if line.startswith("| Safety |"))
    assert row.count(" | ") == 2 and "\\|" in row


def test_unknown_cost_never_zero() -> None:
    text = render(costs=[StageCost("judge", ("x:y",), Usage(10, 5), None, None)], models={})
    assert "$0" not in text
    assert "| judge | `x:y` | 10 | 5 | 0 | 0 | unknown |" in text
    assert "**unknown**" in text
    assert "Saving vs all-strong: unknown" in text


def test_no_costs_recorded() -> None:
    assert "_No model calls yet._" in render(costs=[])  # the wording of every other cost table


def test_model_column_falls_back_to_stage_models_then_unknown() -> None:
    text = render(costs=[StageCost("plan", ("a:b", "c:d"), Usage(), 0.0, 0.0),
                         StageCost("judge", (), Usage(), 0.0, 0.0)], models={})
    assert "| plan | `a:b`, `c:d` |" in text
    assert "| judge | unknown |" in text  # a word, not a model id in a code span


def test_every_model_that_served_a_stage_is_named_not_only_the_latest() -> None:
    # After a fallback or /rescore the ledger holds runs of two judges; the row sums both.
    both = [StageCost("judge", ("anthropic:claude-opus-4-1", "openai:gpt-5"), Usage(9_000, 900), 0.2, 0.2)]
    text = render(costs=both, models={"judge": "openai:gpt-5"})
    assert "| judge | `anthropic:claude-opus-4-1`, `openai:gpt-5` | 9.0k | 900 |" in text


# --- money ------------------------------------------------------------------------------

def test_saving_math() -> None:
    result = saving(costs())
    assert result is not None
    dollars, percent = result
    assert dollars == pytest.approx(3.5525 - 1.0865)
    assert percent == pytest.approx((3.5525 - 1.0865) / 3.5525 * 100)
    assert "Saving vs all-strong: **$2.47 (69%)**" in render()


def test_saving_unknown_when_any_price_missing() -> None:
    assert saving(costs(judge_usd=None)) is None
    assert saving(costs(judge_strong=None)) is None
    assert saving([]) is None


def test_saving_zero_strong_cost_has_no_percent() -> None:
    assert saving([StageCost("plan", ("m",), Usage(), 0.0, 0.0)]) == (0.0, None)


def test_negative_saving_said_plainly() -> None:
    text = render(costs=[StageCost("plan", ("m",), Usage(1, 1), 0.5, 0.4)])
    assert "Saving vs all-strong: none; this run cost $0.10 more" in text


def test_usd_format() -> None:
    assert usd(None) == "unknown"
    assert usd(0.0) == "$0.00"
    assert usd(0.01234) == "$0.01"
    assert usd(0.001234) == "$0.0012"
    assert usd(1234.5) == "$1,234.50"


def test_ci_shows_the_worst_suite_and_names_every_app() -> None:
    suites = (("GitHub Actions", "failure"), ("Codecov", "success"))
    text = render(facts=facts(ci="failure", ci_suites=suites))
    assert "**CI:** ❌ failure (GitHub Actions: ❌ failure · Codecov: ✅ success)" in text
    one = render(facts=facts(ci="success", ci_suites=(("GitHub Actions", "success"),)))
    assert "**CI:** ✅ success (GitHub Actions)" in one
    running = render(facts=facts(ci="in_progress", ci_suites=(("Codecov", "success"), ("Buildkite", "in_progress"))))
    assert "**CI:** ⏳ in progress (Codecov: ✅ success · Buildkite: ⏳ in_progress)" in running
