"""The plan: the `submit_plan` tool input (SPEC section 5), its versions and its Markdown."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bot.core.markers import strip_markers

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
MAX_FEEDBACK_ERRORS = 20


def _check_repo_path(path: str) -> str:
    parts = path.split("/")
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            "must be a repository-relative path like src/app.py (no '..', no leading '/')"
        )
    return path


RepoPath = Annotated[Text, AfterValidator(_check_repo_path)]


class PlanStep(BaseModel):
    """One numbered step of the plan."""

    model_config = ConfigDict(extra="ignore")

    title: Text = Field(description="Short imperative title of the step.")
    detail: Text = Field(description="Exactly what to change: functions, names, logic, edge cases.")
    files: list[RepoPath] = Field(description="Repository paths this step touches (may be empty).")


class PlanFile(BaseModel):
    """One file the implementer will change."""

    model_config = ConfigDict(extra="ignore")

    path: RepoPath = Field(description="Repository-relative path.")
    action: Literal["modify", "create", "delete"] = Field(description="What happens to the file.")
    why: Text = Field(description="Why this file changes.")


class Plan(BaseModel):
    """The planner's answer; extra fields a model adds are ignored."""

    model_config = ConfigDict(extra="ignore")

    summary: Text = Field(description="What the change does, in two or three sentences.")
    root_cause: Text = Field(description="The underlying cause of the issue, with evidence.")
    steps: list[PlanStep] = Field(min_length=1, description="Ordered, specific steps.")
    files: list[PlanFile] = Field(min_length=1, description="Every file to create, modify, delete.")
    tests: list[Text] = Field(description="Tests to add or change, each one concrete.")
    acceptance_criteria: list[Text] = Field(
        min_length=1, description="Checks that show the issue is fixed (at least one).")
    risks: list[Text] = Field(description="What could go wrong (may be empty).")
    out_of_scope: list[Text] = Field(description="What the implementer must leave alone.")

    @model_validator(mode="after")
    def _unique_files(self) -> Plan:
        seen: set[str] = set()
        for entry in self.files:
            if entry.path in seen:
                raise ValueError(f"files lists {entry.path!r} more than once")
            seen.add(entry.path)
        return self

    def planned_paths(self) -> list[str]:
        """Every path the plan names (files first, then step files), without duplicates."""
        paths = [entry.path for entry in self.files]
        for step in self.steps:
            paths.extend(path for path in step.files if path not in paths)
        return paths


def _inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema with $refs inlined and titles dropped: a tool schema must stand alone."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
            out = {k: walk(v) for k, v in node.items() if k not in ("$defs", "title", "properties")}
            if "properties" in node:  # keys here are field names (one is "title"), not keywords
                out["properties"] = {name: walk(sub) for name, sub in node["properties"].items()}
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)


SUBMIT_PLAN_SCHEMA: dict[str, Any] = _inline_schema(Plan.model_json_schema())


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(input)"


def validation_feedback(err: ValidationError) -> str:
    """A compact list of what is wrong, one ``- where: problem`` line per error, for the model."""
    errors = err.errors()
    lines = []
    for error in errors[:MAX_FEEDBACK_ERRORS]:
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] not in ("missing", "value_error"):
            shown = repr(error.get("input"))
            message += f" (got {shown[:60] + '…' if len(shown) > 60 else shown})"
        lines.append(f"- {_format_loc(error['loc'])}: {message}")
    if len(errors) > MAX_FEEDBACK_ERRORS:
        lines.append(f"- … and {len(errors) - MAX_FEEDBACK_ERRORS} more")
    return "\n".join(lines)


@dataclass(frozen=True)
class PlanVersion:
    """One version of an issue's plan; a human-authored one has ``markdown`` instead of ``plan``."""

    number: int
    plan: Plan | None
    markdown: str | None
    author: str  # "planner:<model spec>" or "@login"
    base_sha: str
    created_at: float

    @property
    def human(self) -> bool:
        return self.markdown is not None


# --- Markdown -------------------------------------------------------------------------


REASONING_SUFFIX = " (reasoning: "


def model_span(name: str) -> str:
    """A model as comments name it: the spec as a code span, then the reasoning level it ran with
    when it had one ("`anthropic:claude-opus-4-1` (reasoning: high)", SPEC 8)."""
    spec, found, rest = name.partition(REASONING_SUFFIX)
    return code_span(spec) + (f"{REASONING_SUFFIX}{rest}" if found else "")


def code_span(text: str) -> str:
    """``text`` as an inline code span, safe even when it contains backticks."""
    text = text.replace("\n", " ")
    if "`" not in text:
        return f"`{text}`"
    # A span is closed by a backtick run of its own length: use one longer than any inside.
    fence = "`" * (max(len(run) for run in re.findall(r"`+", text)) + 1)
    return f"{fence} {text} {fence}"


def table_cell(text: str) -> str:
    """``text`` made safe for one GFM table cell."""
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _bullets(items: list[str]) -> str:
    if not items:
        return "- _none_"
    return "\n".join("- " + item.replace("\n", "\n  ") for item in items)


def plan_to_markdown(plan: Plan) -> str:
    """The plan as Markdown: the text the implementer gets verbatim and the plan comment shows."""
    steps = []
    for number, step in enumerate(plan.steps, 1):
        entry = f"{number}. **{step.title}**\n   " + step.detail.replace("\n", "\n   ")
        if step.files:
            entry += "\n   Files: " + ", ".join(code_span(path) for path in step.files)
        steps.append(entry)
    rows = "\n".join(
        f"| {table_cell(code_span(entry.path))} | {entry.action} | {table_cell(entry.why)} |"
        for entry in plan.files
    )
    return "\n\n".join(
        [
            f"#### Summary\n{plan.summary}",
            f"#### Root cause\n{plan.root_cause}",
            "#### Steps\n" + "\n".join(steps),
            f"#### Files to change\n| path | action | why |\n|---|---|---|\n{rows}",
            f"#### Tests to add\n{_bullets(plan.tests)}",
            f"#### Acceptance criteria\n{_bullets(plan.acceptance_criteria)}",
            f"#### Risks\n{_bullets(plan.risks)}",
            f"#### Out of scope\n{_bullets(plan.out_of_scope)}",
        ]
    )


def plan_text(version: PlanVersion) -> str:
    """The plan the implementer works from: the human's Markdown when set, else the model's plan."""
    if version.markdown is not None:
        # A maintainer may paste a whole bot comment; its hidden markers mean nothing here.
        return strip_markers(version.markdown)
    if version.plan is None:
        raise ValueError(f"plan version {version.number} has neither a plan nor Markdown")
    return plan_to_markdown(version.plan)
