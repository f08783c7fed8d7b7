"""The one loader for prompt files in ``prompts/``, with their placeholders checked at start.

Prompts use ``string.Template`` placeholders (``$name``) so JSON and code in a prompt need
no escaping.  ``load_prompts`` fails fast when a file is missing or its placeholders differ
from what the code fills in; ``render`` refuses unknown or missing values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from string import Template

# Every prompt file and exactly the placeholders the code supplies for it.
EXPECTED: dict[str, frozenset[str]] = {
    "planner_system": frozenset(),
    "planner_user": frozenset({"issue_number", "repo", "issue_title", "issue_body", "feedback", "base_sha",
                               "max_files", "max_changed_lines", "allowed_paths", "denied_paths"}),
    "planner_feedback": frozenset({"previous_version", "previous_plan", "feedback"}),
    "planner_last_turns": frozenset(),
    "implementer_system": frozenset(),
    "implementer_user": frozenset({"plan_version", "issue_number", "repo", "issue_title", "plan",
                                   "max_files", "max_changed_lines", "max_turns", "extra", "preloaded"}),
    "implementer_preload": frozenset({"files"}),
    "implementer_turns_left": frozenset({"turns_left"}),
    "implementer_fix": frozenset({"current_diff", "feedback"}),
    "implementer_ci": frozenset({"current_diff", "ci_report", "round", "rounds"}),
    "advisor_system": frozenset(),
    "advisor_user": frozenset({"repo", "issue_number", "issue_title", "issue_body", "plan_version", "plan",
                               "question"}),
    "judge_system": frozenset(),
    "judge_user": frozenset({"pr_number", "issue_number", "repo", "issue_title", "issue_body",
                             "plan_version", "plan", "facts", "diff"}),
}


class PromptError(Exception):
    """A prompt file is missing, or its placeholders do not match the code."""


def default_prompt_dir() -> Path:
    """``ROUTE_ME_PROMPTS`` if set; else ``prompts/`` beside the ``bot`` package (a checkout or an
    editable install); else the copy a wheel ships as ``bot/_prompts`` (see setup.py)."""
    override = os.environ.get("ROUTE_ME_PROMPTS")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    checkout = package.parent / "prompts"
    # In site-packages, a sibling "prompts" would be some other distribution's: only trust it
    # when it holds our files.
    if (checkout / "planner_system.md").is_file():
        return checkout
    return package / "_prompts"


@dataclass(frozen=True)
class Prompts:
    templates: dict[str, Template]

    def render(self, name: str, **values: object) -> str:
        expected = EXPECTED[name]
        given = set(values)
        if given != expected:
            raise PromptError(
                f"prompt {name}: missing {sorted(expected - given)}, unexpected {sorted(given - expected)}"
            )
        return self.templates[name].substitute({k: str(v) for k, v in values.items()})

    def text(self, name: str) -> str:
        return self.render(name)


def load_prompts(directory: Path | None = None) -> Prompts:
    directory = directory or default_prompt_dir()
    templates: dict[str, Template] = {}
    problems: list[str] = []
    for name, expected in EXPECTED.items():
        path = directory / f"{name}.md"
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        template = Template(path.read_text(encoding="utf-8"))
        if not template.is_valid():
            problems.append(f"{path}: a '$' that is not a placeholder (write $$ for a dollar sign)")
            continue
        found = set(template.get_identifiers())
        if found != expected:
            problems.append(
                f"{path}: placeholders {sorted(found)} but the code fills {sorted(expected)}"
            )
        templates[name] = template
    if problems:
        raise PromptError("; ".join(problems))
    return Prompts(templates=templates)
