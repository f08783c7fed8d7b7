"""A plan that fits the schema but cannot be carried out goes back to the planner."""

from __future__ import annotations

import json

from bot.core.plan import Plan
from bot.core.plan_checks import plan_problems
from bot.core.repo_config import RepoConfig
from bot.core.snapshot import Snapshot
from tests import scenario as sc
from tests.fakes import anthropic_server
from tests.fakes.deliveries import issue_labeled

SHA = "a" * 40


def snapshot(tmp_path) -> Snapshot:
    for path, text in sc.FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return Snapshot.from_directory(tmp_path, SHA)


def plan_with(files: list[dict]) -> Plan:
    return Plan.model_validate({**sc.PLAN, "files": files})


def test_the_scenario_plan_has_no_problems(tmp_path):
    assert plan_problems(Plan.model_validate(sc.PLAN), snapshot=snapshot(tmp_path), config=RepoConfig()) == []


def test_actions_must_match_what_exists_at_the_base_commit(tmp_path):
    plan = plan_with([
        {"path": "calc/missing.py", "action": "modify", "why": "x"},
        {"path": "calc/gone.py", "action": "delete", "why": "x"},
        {"path": "calc/ops.py", "action": "create", "why": "x"},
        {"path": "calc/new.py", "action": "create", "why": "x"},
    ])
    problems = plan_problems(plan, snapshot=snapshot(tmp_path), config=RepoConfig())
    assert len(problems) == 3
    assert "calc/missing.py: no such file" in problems[0] and "`modify` is impossible" in problems[0]
    assert "calc/gone.py: no such file" in problems[1]
    assert "calc/ops.py: the file already exists" in problems[2]


def test_denied_paths_and_max_files_are_enforced(tmp_path):
    config = RepoConfig(denied_paths=["tests/**"], max_files=1)
    problems = plan_problems(Plan.model_validate(sc.PLAN), snapshot=snapshot(tmp_path), config=config)
    assert any("tests/test_ops.py" in p and "denied_paths" in p for p in problems)
    assert any("max_files (1)" in p for p in problems)


async def test_the_planner_sees_the_limits_and_gets_a_turn_to_fix_an_impossible_plan(make_bot, github, anthropic):
    sc.seed(github, config="max_files: 5\ndenied_paths: ['docs/**']\n")
    wrong = {**sc.PLAN, "files": [{"path": "calc/operations.py", "action": "modify", "why": "guard"}]}
    answers = iter([wrong, sc.PLAN])
    anthropic.responder = lambda body: anthropic_server.tool_reply("submit_plan", next(answers),
                                                                   usage=sc.PLANNER_USAGE)
    bot = await make_bot()
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label="route-me",
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER))
    await bot.settle()

    first_user = json.dumps(anthropic.message_bodies[0]["messages"][0])
    assert "at most 5 files" in first_user and "`docs/**`" in first_user
    assert anthropic.calls == 2
    error = sc.anthropic_tool_results(anthropic.message_bodies[1])[-1]
    assert error["is_error"] is True and "calc/operations.py: no such file" in str(error["content"])
    assert "Guard the divisor" in sc.plan_comment(github)["body"]


def test_a_script_ci_runs_and_a_skipped_file_go_back_to_the_planner(tmp_path):
    for path, text in {".github/workflows/ci.yml": "jobs:\n  t:\n    steps:\n      - run: ./scripts/ci.sh\n",
                       "scripts/ci.sh": "pytest\n"}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    base = snapshot(tmp_path)
    skipped = Snapshot.from_directory(tmp_path, SHA, skipped={"data/big.bin": "too large: 12000000 bytes"})
    plan = plan_with([{"path": "scripts/ci.sh", "action": "modify", "why": "x"},
                      {"path": "data/big.bin", "action": "modify", "why": "y"}])
    problems = plan_problems(plan, snapshot=skipped, config=RepoConfig())
    assert any("scripts/ci.sh" in p and "run by CI" in p for p in problems), problems
    assert any("data/big.bin" in p and "not in the snapshot (too large" in p for p in problems), problems
    allowed = RepoConfig.model_validate({"allowed_paths": ["scripts/**", "data/**"]})
    assert not any("scripts/ci.sh" in p for p in plan_problems(plan, snapshot=base, config=allowed))
