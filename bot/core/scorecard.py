"""The seven-dimension rubric, the judge's submit_scorecard output and its validation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

TOOL_NAME = "submit_scorecard"

DimensionId = Literal[
    "root_cause",
    "plan_fidelity",
    "scope_discipline",
    "correctness",
    "tests",
    "code_quality",
    "safety",
]


@dataclass(frozen=True)
class Dimension:
    """One rubric row as SPEC section 6 words it."""

    id: str
    title: str
    question: str


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("root_cause", "Root-cause soundness",
              "Does the change fix the underlying cause, not a symptom?"),
    Dimension("plan_fidelity", "Fidelity to plan",
              "Did the implementation do what the approved plan said, step by step?"),
    Dimension("scope_discipline", "Surgical scope",
              "Is every changed line needed? No unrelated refactors, churn or extra files?"),
    Dimension("correctness", "Correctness",
              "Is the logic right, with edge cases handled and nothing broken?"),
    Dimension("tests", "Tests",
              "Are there tests that would fail before the change and pass after?"),
    Dimension("code_quality", "Code quality",
              "Is it readable and consistent with the codebase's conventions?"),
    Dimension("safety", "Safety",
              "No invented APIs or dependencies, no secrets, no security regressions?"),
)
DIMENSION_IDS: tuple[str, ...] = get_args(DimensionId)
assert DIMENSION_IDS == tuple(d.id for d in DIMENSIONS), "rubric and Literal disagree"


class DimensionScore(BaseModel):
    """The judge's verdict on one dimension."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    dimension: DimensionId
    """Which rubric row this scores."""
    score: Annotated[int, Field(strict=True, ge=1, le=5)]
    """1 (poor) to 5 (excellent); a whole number, never a string."""
    rationale: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    """One line saying why."""


class ScorecardSubmission(BaseModel):
    """The arguments of one ``submit_scorecard`` call."""

    model_config = ConfigDict(extra="ignore")

    scores: list[DimensionScore]
    """One entry per dimension, all seven."""
    summary: str
    """A short overall verdict."""


SUBMIT_SCORECARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "scores": {
            "type": "array",
            "description": "Exactly one entry for each of the seven dimensions.",
            "minItems": len(DIMENSIONS),
            "maxItems": len(DIMENSIONS),
            "items": {
                "type": "object",
                "properties": {
                    "dimension": {"type": "string", "enum": list(DIMENSION_IDS)},
                    "score": {"type": "integer", "minimum": 1, "maximum": 5},
                    "rationale": {"type": "string", "minLength": 1,
                                  "description": "One line saying why."},
                },
                "required": ["dimension", "score", "rationale"],
            },
        },
        "summary": {"type": "string", "description": "A short overall verdict."},
    },
    "required": ["scores", "summary"],
}


@dataclass(frozen=True)
class Scorecard:
    """What the review shows: the valid scores only, and which dimensions have none."""

    scores: dict[str, DimensionScore]
    summary: str
    missing: tuple[str, ...]


def _as_object(data: Any) -> Any:
    # OpenAI-compatible providers hand tool arguments over as a JSON string.
    if isinstance(data, (str, bytes)):
        return json.loads(data)
    return data


def _where(loc: tuple[int | str, ...], scores: Any) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if len(loc) >= 2 and loc[0] == "scores" and isinstance(loc[1], int):
        item = scores[loc[1]] if isinstance(scores, list) and loc[1] < len(scores) else None
        if isinstance(item, dict) and isinstance(item.get("dimension"), str):
            text += f" ({item['dimension']})"
    return text


def check_scorecard(data: Any) -> tuple[ScorecardSubmission | None, list[str]]:
    """Validate a ``submit_scorecard`` call; problems are worded to send back to the model."""
    try:
        data = _as_object(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, [f"arguments are not valid JSON: {exc}"]
    if not isinstance(data, dict):
        return None, [f"arguments must be an object with 'scores' and 'summary', got {type(data).__name__}"]
    problems: list[str] = []
    try:
        parsed: ScorecardSubmission | None = ScorecardSubmission.model_validate(data)
    except ValidationError as exc:
        parsed = None
        for error in exc.errors(include_url=False):
            shown = repr(error.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            got = f" (got {shown})" if error["type"] != "missing" else ""
            problems.append(f"{_where(error['loc'], data.get('scores'))}: {error['msg']}{got}")
    seen: list[str] = []
    raw_scores = data.get("scores")
    for item in raw_scores if isinstance(raw_scores, list) else []:
        dimension = item.get("dimension") if isinstance(item, dict) else None
        if isinstance(dimension, str) and dimension in DIMENSION_IDS:
            if dimension in seen:
                problems.append(f"dimension '{dimension}' is scored more than once; score it once")
            seen.append(dimension)
    missing = [d for d in DIMENSION_IDS if d not in seen]
    if missing:
        problems.append("missing dimensions: " + ", ".join(missing) + "; score all seven")
    return (parsed if not problems else None), problems


def accept_partial(data: Any) -> Scorecard:
    """Keep every individually valid score (first one wins) and name the rest as missing.

    Used after the retry also failed: an absent score stays absent, nothing is invented.
    """
    try:
        data = _as_object(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    data = data if isinstance(data, dict) else {}
    scores: dict[str, DimensionScore] = {}
    raw_scores = data.get("scores")
    for item in raw_scores if isinstance(raw_scores, list) else []:
        try:
            score = DimensionScore.model_validate(item)
        except ValidationError:
            continue
        scores.setdefault(score.dimension, score)
    ordered = {d: scores[d] for d in DIMENSION_IDS if d in scores}
    summary = data.get("summary")
    return Scorecard(
        scores=ordered,
        summary=summary.strip() if isinstance(summary, str) else "",
        missing=tuple(d for d in DIMENSION_IDS if d not in scores),
    )


def overall(scorecard: Scorecard) -> float | None:
    """Mean of the scores present, to one decimal; None when nothing was scored."""
    if not scorecard.scores:
        return None
    values = [s.score for s in scorecard.scores.values()]
    # Half-up, as people round: four scores summing to 17 show 4.3, not banker's 4.2.
    mean = Decimal(sum(values)) / Decimal(len(values))
    return float(mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
