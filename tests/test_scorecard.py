"""The rubric, submit_scorecard validation, partial acceptance and the overall score."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from bot.core.scorecard import (
    DIMENSION_IDS,
    DIMENSIONS,
    SUBMIT_SCORECARD_SCHEMA,
    DimensionScore,
    Scorecard,
    accept_partial,
    check_scorecard,
    overall,
)

SPEC_ORDER = (
    "root_cause", "plan_fidelity", "scope_discipline", "correctness", "tests", "code_quality", "safety",
)


def full(score: int = 4, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "scores": [{"dimension": d, "score": score, "rationale": f"{d} looks fine"} for d in SPEC_ORDER],
        "summary": "Solid change.",
    }
    data.update(overrides)
    return data


def test_dimensions_match_spec_order_and_titles() -> None:
    assert tuple(d.id for d in DIMENSIONS) == SPEC_ORDER == DIMENSION_IDS
    titles = {d.id: d.title for d in DIMENSIONS}
    assert titles["scope_discipline"] == "Surgical scope"
    assert titles["root_cause"] == "Root-cause soundness"
    assert all(d.question.endswith("?") for d in DIMENSIONS)


def test_schema_accepts_valid_and_rejects_out_of_range() -> None:
    jsonschema.validate(full(), SUBMIT_SCORECARD_SCHEMA)
    bad = full()
    bad["scores"][0]["score"] = 6
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SUBMIT_SCORECARD_SCHEMA)
    bad = full()
    bad["scores"][0]["dimension"] = "vibes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SUBMIT_SCORECARD_SCHEMA)
    item = SUBMIT_SCORECARD_SCHEMA["properties"]["scores"]["items"]
    assert item["properties"]["dimension"]["enum"] == list(SPEC_ORDER)
    assert sorted(SUBMIT_SCORECARD_SCHEMA["required"]) == ["scores", "summary"]


def test_check_valid_submission() -> None:
    parsed, problems = check_scorecard(full())
    assert problems == []
    assert parsed is not None
    assert [s.dimension for s in parsed.scores] == list(SPEC_ORDER)


def test_check_accepts_json_string_arguments_and_ignores_extra_fields() -> None:
    data = full()
    data["confidence"] = "high"
    parsed, problems = check_scorecard(json.dumps(data))
    assert problems == [] and parsed is not None


def test_check_names_missing_dimensions() -> None:
    data = full()
    data["scores"] = [s for s in data["scores"] if s["dimension"] not in ("tests", "safety")]
    parsed, problems = check_scorecard(data)
    assert parsed is None
    assert problems == ["missing dimensions: tests, safety; score all seven"]


def test_check_names_duplicates() -> None:
    data = full()
    data["scores"].append({"dimension": "correctness", "score": 2, "rationale": "again"})
    parsed, problems = check_scorecard(data)
    assert parsed is None
    assert problems == ["dimension 'correctness' is scored more than once; score it once"]


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (0, "greater than or equal to 1"),
        (6, "less than or equal to 5"),
        ("4", "valid integer"),
        (4.5, "valid integer"),
        (None, "valid integer"),
        (True, "valid integer"),
    ],
)
def test_check_refuses_bad_scores(bad: Any, fragment: str) -> None:
    data = full()
    data["scores"][3]["score"] = bad
    parsed, problems = check_scorecard(data)
    assert parsed is None
    assert len(problems) == 1
    assert problems[0].startswith("scores[3].score (correctness): ")
    assert fragment in problems[0]


def test_check_refuses_empty_rationale_and_unknown_dimension() -> None:
    data = full()
    data["scores"][0]["rationale"] = "   "
    data["scores"][1]["dimension"] = "vibes"
    _, problems = check_scorecard(data)
    assert any(p.startswith("scores[0].rationale (root_cause):") for p in problems)
    assert any(p.startswith("scores[1].dimension (vibes):") for p in problems)
    assert "missing dimensions: plan_fidelity; score all seven" in problems


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "must be an object"),
        (None, "must be an object"),
        ({}, "scores: Field required"),
        ({"scores": "all good", "summary": "x"}, "scores: Input should be a valid list"),
        ({"scores": [], "summary": 3}, "summary: Input should be a valid string"),
    ],
)
def test_check_bad_shapes(data: Any, fragment: str) -> None:
    parsed, problems = check_scorecard(data)
    assert parsed is None
    assert any(fragment in p for p in problems), problems


def test_check_truncates_huge_inputs_in_problems() -> None:
    data = full()
    data["scores"][0]["score"] = "x" * 10_000
    _, problems = check_scorecard(data)
    assert len(problems[0]) < 200


def test_accept_partial_keeps_only_valid_scores_and_never_invents() -> None:
    data = {
        "scores": [
            {"dimension": "tests", "score": 2, "rationale": "no test for the edge case"},
            {"dimension": "safety", "score": 9, "rationale": "out of range"},
            {"dimension": "correctness", "score": "4", "rationale": "string"},
            {"dimension": "vibes", "score": 5, "rationale": "unknown"},
            {"dimension": "tests", "score": 5, "rationale": "duplicate, first wins"},
            {"dimension": "root_cause", "score": 4, "rationale": "fixes the cause"},
            "garbage",
        ],
        "summary": "  partial  ",
    }
    card = accept_partial(data)
    assert list(card.scores) == ["root_cause", "tests"]  # rubric order, not submission order
    assert card.scores["tests"].score == 2
    assert card.missing == ("plan_fidelity", "scope_discipline", "correctness", "code_quality", "safety")
    assert card.summary == "partial"


@pytest.mark.parametrize("data", [None, "not json", [1], {"scores": None}, {"summary": 5}])
def test_accept_partial_garbage_gives_empty_card(data: Any) -> None:
    card = accept_partial(data)
    assert card.scores == {}
    assert card.missing == SPEC_ORDER
    assert card.summary == ""
    assert overall(card) is None


def test_accept_partial_of_valid_submission_is_complete() -> None:
    card = accept_partial(json.dumps(full(score=5)))
    assert card.missing == ()
    assert overall(card) == 5.0


def _card(*scores: int) -> Scorecard:
    entries = {
        d: DimensionScore(dimension=d, score=s, rationale="r")  # type: ignore[arg-type]
        for d, s in zip(SPEC_ORDER, scores, strict=False)  # fewer scores than dimensions is a case
    }
    return Scorecard(scores=entries, summary="", missing=SPEC_ORDER[len(scores):])


def test_overall_mean_one_decimal_half_up() -> None:
    assert overall(_card(4, 4, 5, 3, 4, 4, 5)) == 4.1  # 29/7 = 4.142…
    assert overall(_card(4, 4, 4, 5)) == 4.3  # 4.25 rounds up, not to even
    assert overall(_card(1)) == 1.0
    assert overall(_card()) is None
