"""The submit_plan model and schema, validation feedback, plan versions and the plan's Markdown."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from bot.core.plan import (
    SUBMIT_PLAN_SCHEMA,
    Plan,
    PlanVersion,
    code_span,
    plan_text,
    plan_to_markdown,
    table_cell,
    validation_feedback,
)

SAMPLE: dict[str, Any] = {
    "summary": "Make `slugify` keep digits.",
    "root_cause": "The regex in slugify() strips [0-9] along with punctuation.",
    "steps": [
        {
            "title": "Fix the regex",
            "detail": "In `slugify`, change `[^a-z]` to `[^a-z0-9]`.\nKeep the lower-casing.",
            "files": ["src/text.py"],
        },
        {"title": "Add a test", "detail": "Cover digits and a | pipe.", "files": ["tests/test_text.py"]},
    ],
    "files": [
        {"path": "src/text.py", "action": "modify", "why": "the bug lives here"},
        {"path": "tests/test_text.py", "action": "create", "why": "regression test"},
    ],
    "tests": ["slugify('a1') == 'a1'"],
    "acceptance_criteria": ["digits survive slugify"],
    "risks": [],
    "out_of_scope": ["unicode handling"],
}


def sample(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SAMPLE)
    data.update(changes)
    return data


def feedback_for(data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Plan.model_validate(data)
    return validation_feedback(caught.value)


def test_schema_accepts_the_sample_and_the_model_agrees() -> None:
    jsonschema.validate(SAMPLE, SUBMIT_PLAN_SCHEMA)
    plan = Plan.model_validate(SAMPLE)
    assert plan.steps[1].files == ["tests/test_text.py"]
    assert plan.files[1].action == "create"


def test_schema_is_self_contained_for_tool_use() -> None:
    text = json.dumps(SUBMIT_PLAN_SCHEMA)
    assert "$ref" not in text and "$defs" not in text
    assert SUBMIT_PLAN_SCHEMA["type"] == "object"
    assert set(SUBMIT_PLAN_SCHEMA["required"]) == {
        "summary", "root_cause", "steps", "files", "tests", "acceptance_criteria", "risks", "out_of_scope",
    }
    step = SUBMIT_PLAN_SCHEMA["properties"]["steps"]["items"]
    assert set(step["properties"]) == {"title", "detail", "files"}  # "title" field survives
    assert step["required"] == ["title", "detail", "files"]
    action = SUBMIT_PLAN_SCHEMA["properties"]["files"]["items"]["properties"]["action"]
    assert action["enum"] == ["modify", "create", "delete"]
    assert SUBMIT_PLAN_SCHEMA["properties"]["summary"]["description"]
    jsonschema.Draft202012Validator.check_schema(SUBMIT_PLAN_SCHEMA)


def test_schema_rejects_what_the_model_rejects() -> None:
    for bad in [sample(steps=[]), sample(summary=""), {k: v for k, v in SAMPLE.items() if k != "risks"}]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SUBMIT_PLAN_SCHEMA)
        with pytest.raises(ValidationError):
            Plan.model_validate(bad)


def test_extra_fields_are_ignored() -> None:
    plan = Plan.model_validate(sample(confidence=0.9))
    assert not hasattr(plan, "confidence")


def test_feedback_names_missing_fields_with_paths() -> None:
    data = sample()
    del data["root_cause"]
    del data["steps"][0]["files"]
    text = feedback_for(data)
    assert text.splitlines() == ["- root_cause: Field required", "- steps[0].files: Field required"]


def test_feedback_for_wrong_values_shows_input() -> None:
    text = feedback_for(sample(files=[{"path": "a.py", "action": "update", "why": "x"}]))
    assert text.startswith("- files[0].action: Input should be 'modify', 'create' or 'delete'")
    assert "(got 'update')" in text


def test_feedback_for_empty_and_blank_strings() -> None:
    text = feedback_for(sample(summary="   ", steps=[]))
    assert "- summary: String should have at least 1 character" in text
    assert "- steps: List should have at least 1 item" in text


def test_feedback_for_bad_paths_and_duplicates() -> None:
    bad = feedback_for(sample(files=[{"path": "../etc/passwd", "action": "modify", "why": "x"}]))
    assert bad.startswith("- files[0].path: must be a repository-relative path")
    dup = sample(files=[SAMPLE["files"][0], SAMPLE["files"][0]])
    assert "files lists 'src/text.py' more than once" in feedback_for(dup)
    assert "steps[0].files[0]" in feedback_for(sample(steps=[{"title": "t", "detail": "d", "files": ["/abs"]}]))


def test_feedback_for_non_object_input() -> None:
    assert feedback_for(["not", "a", "plan"]).startswith("- (input): Input should be")


def test_feedback_is_capped() -> None:
    text = feedback_for(sample(tests=[""] * 30))
    assert len(text.splitlines()) == 21
    assert text.splitlines()[-1] == "- … and 10 more"


def test_strings_are_stripped() -> None:
    assert Plan.model_validate(sample(summary="  hi  ")).summary == "hi"


def test_planned_paths_deduplicates_in_order() -> None:
    plan = Plan.model_validate(
        sample(steps=[{"title": "t", "detail": "d", "files": ["docs/x.md", "src/text.py"]}])
    )
    assert plan.planned_paths() == ["src/text.py", "tests/test_text.py", "docs/x.md"]


def test_plan_markdown_sections_and_escaping() -> None:
    text = plan_to_markdown(Plan.model_validate(SAMPLE))
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings == [
        "#### Summary", "#### Root cause", "#### Steps", "#### Files to change",
        "#### Tests to add", "#### Acceptance criteria", "#### Risks", "#### Out of scope",
    ]
    assert "1. **Fix the regex**\n   In `slugify`" in text
    assert "\n   Keep the lower-casing." in text  # multi-line detail stays inside the list item
    assert "   Files: `src/text.py`" in text
    assert "| `src/text.py` | modify | the bug lives here |" in text
    assert "#### Risks\n- _none_" in text


def test_code_span_and_table_cell() -> None:
    assert code_span("a.py") == "`a.py`"
    assert code_span("we`ird") == "`` we`ird ``"
    assert table_cell("a | b\nc") == "a \\| b<br>c"


def _version(**kw: Any) -> PlanVersion:
    base = dict(number=1, plan=None, markdown=None, author="@alice", base_sha="abc", created_at=0.0)
    base.update(kw)
    return PlanVersion(**base)


def test_plan_text_prefers_human_markdown_and_strips_markers() -> None:
    plan = Plan.model_validate(SAMPLE)
    assert plan_text(_version(plan=plan, author="planner:a:b")) == plan_to_markdown(plan)
    human = _version(plan=plan, markdown='\n<!-- route-me:plan {"version":1} -->\nDo X.\n')
    assert plan_text(human) == "Do X."
    assert human.human and not _version(plan=plan).human


def test_plan_text_without_content_raises() -> None:
    with pytest.raises(ValueError, match="version 1"):
        plan_text(_version())


def test_a_plan_needs_at_least_one_acceptance_criterion() -> None:
    with pytest.raises(ValidationError) as caught:
        Plan.model_validate(sample(acceptance_criteria=[]))
    assert "acceptance_criteria" in feedback_for(sample(acceptance_criteria=[]))
    assert caught.value.errors()[0]["loc"] == ("acceptance_criteria",)
    assert SUBMIT_PLAN_SCHEMA["properties"]["acceptance_criteria"]["minItems"] == 1


def test_the_planner_prompt_follows_maintainer_feedback_and_states_assumptions() -> None:
    from bot.prompts import load_prompts

    system = load_prompts().text("planner_system")
    assert "<feedback>" in system and "maintainer" in system
    assert "Assumes" in system and "`risks`" in system
