"""One small repository, one issue and scripted model turns, shared by the end-to-end stage tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from bot.core.markers import find_marker
from bot.core.usage import Usage
from tests.fakes import anthropic_server, openai_server

OWNER, REPO, ISSUE = "octo-org", "calc", 7
MAINTAINER, OUTSIDER = "alice", "mallory"

FILES = {
    "README.md": "# calc\n\nTiny arithmetic helpers.\n",
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0.1.0"\ndependencies = []\n',
    "calc/__init__.py": "",
    "calc/ops.py": 'def divide(a: float, b: float) -> float:\n    """a divided by b."""\n    return a / b\n',
    "tests/test_ops.py": "from calc.ops import divide\n\n\ndef test_divide():\n    assert divide(6, 3) == 2\n",
}
ISSUE_TITLE = "divide() crashes with ZeroDivisionError"
ISSUE_BODY = ("Calling `divide(1, 0)` in calc/ops.py raises ZeroDivisionError.\n"
              "It should raise `ValueError('b must not be zero')` instead.")

PLAN = {
    "summary": "Make divide() raise ValueError for a zero divisor.",
    "root_cause": "divide() in calc/ops.py divides without checking b, so Python raises ZeroDivisionError.",
    "steps": [
        {"title": "Guard the divisor", "files": ["calc/ops.py"],
         "detail": "In divide(), before `return a / b`, add `if b == 0: raise ValueError('b must not be zero')`."},
        {"title": "Test it", "files": ["tests/test_ops.py"],
         "detail": "Add test_divide_by_zero asserting ValueError with pytest.raises."},
    ],
    "files": [
        {"path": "calc/ops.py", "action": "modify", "why": "add the guard"},
        {"path": "tests/test_ops.py", "action": "modify", "why": "cover the zero divisor"},
    ],
    "tests": ["tests/test_ops.py::test_divide_by_zero raises ValueError"],
    "acceptance_criteria": ["divide(1, 0) raises ValueError('b must not be zero')"],
    "risks": ["Callers catching ZeroDivisionError must catch ValueError now"],
    "out_of_scope": ["Other operations"],
}

PLANNER_USAGE = Usage(input_tokens=12_000, output_tokens=1_500, cache_write_tokens=9_000, cache_read_tokens=0)
IMPLEMENTER_USAGE = Usage(input_tokens=3_000, output_tokens=300, cache_read_tokens=1_000)
JUDGE_USAGE = Usage(input_tokens=5_000, output_tokens=600)

NEW_OPS = ('def divide(a: float, b: float) -> float:\n    """a divided by b."""\n'
           "    if b == 0:\n        raise ValueError('b must not be zero')\n    return a / b\n")
TEST_ADDITION = ("\n\ndef test_divide_by_zero():\n    import pytest\n\n"
                 "    with pytest.raises(ValueError):\n        divide(1, 0)\n")

IMPLEMENTER_TURNS: list[tuple[str, dict[str, Any]]] = [
    ("read_file", {"path": "calc/ops.py"}),
    ("replace_in_file", {"path": "calc/ops.py", "old": "    return a / b\n",
                         "new": "    if b == 0:\n        raise ValueError('b must not be zero')\n    return a / b\n"}),
    ("replace_in_file", {"path": "tests/test_ops.py", "old": "    assert divide(6, 3) == 2\n",
                         "new": "    assert divide(6, 3) == 2" + TEST_ADDITION}),
    ("finish", {"summary": "Guarded divide() against b == 0 and added a test."}),
]

SCORECARD = {
    "scores": [{"dimension": d, "score": s, "rationale": f"{d} looks right."} for d, s in [
        ("root_cause", 5), ("plan_fidelity", 5), ("scope_discipline", 4), ("correctness", 5),
        ("tests", 4), ("code_quality", 4), ("safety", 5)]],
    "summary": "A small, correct fix with a test.",
}


def seed(github: Any, *, files: dict[str, str] | None = None, maintainers: Sequence[str] = (MAINTAINER,),
         config: str | None = None) -> Any:
    """Create the repository and the issue on the fake GitHub; returns the FakeRepo."""
    content = dict(files or FILES)
    if config is not None:
        content[".github/route-me.yml"] = config
    repo = github.create_repo(OWNER, REPO, content)
    github.add_issue(OWNER, REPO, number=ISSUE, title=ISSUE_TITLE, body=ISSUE_BODY)
    for login in maintainers:
        github.set_permission(OWNER, REPO, login, "write")
    github.set_permission(OWNER, REPO, OUTSIDER, "read")
    return repo


def turn_number(body: dict[str, Any], role: str = "assistant") -> int:
    """How many assistant turns a request already carries (0 for the first call)."""
    return sum(1 for m in body.get("messages", []) if m.get("role") == role)


def planner_replies(plan: dict[str, Any] | None = None) -> Callable[[dict[str, Any]], Any]:
    """A responder answering every planner call with submit_plan(plan)."""
    def respond(body: dict[str, Any]) -> Any:
        return anthropic_server.tool_reply("submit_plan", plan or PLAN, usage=PLANNER_USAGE)
    return respond


def anthropic_roles(*, plan: dict[str, Any] | None = None, scorecard: dict[str, Any] | None = None
                    ) -> Callable[[dict[str, Any]], Any]:
    """The strong model as planner and judge: tells the roles apart by the tools offered."""
    def respond(body: dict[str, Any]) -> Any:
        tools = {t["name"] for t in body.get("tools", [])}
        if "submit_scorecard" in tools:
            return anthropic_server.tool_reply("submit_scorecard", scorecard or SCORECARD, usage=JUDGE_USAGE)
        return anthropic_server.tool_reply("submit_plan", plan or PLAN, usage=PLANNER_USAGE)
    return respond


def implementer_replies(turns: Sequence[tuple[str, dict[str, Any]]] = IMPLEMENTER_TURNS
                        ) -> Callable[[dict[str, Any]], Any]:
    """The cheap model following a fixed script of tool calls, one per turn."""
    def respond(body: dict[str, Any]) -> Any:
        index = min(turn_number(body), len(turns) - 1)
        name, arguments = turns[index]
        return openai_server.tool_reply(name, arguments, usage=IMPLEMENTER_USAGE)
    return respond


def plan_comment(github: Any) -> dict[str, Any]:
    found = [c for c in github.comments(OWNER, REPO, ISSUE) if find_marker(c["body"], "plan")]
    assert len(found) == 1, [c["body"][:80] for c in github.comments(OWNER, REPO, ISSUE)]
    return found[0]


def tool_results(body: dict[str, Any]) -> list[str]:
    """Tool results sent back to the OpenAI-compatible model, as text."""
    return [m["content"] for m in body.get("messages", []) if m.get("role") == "tool"]


def anthropic_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            results += [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return results


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
