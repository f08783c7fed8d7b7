"""The task format, the sandboxed check, and the shipped suite: every task's hidden check fails on
repo/ and passes with its reference fix (CI re-verifies the suite on every run)."""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.core.changes import FileChange
from bot.task_bench.check import isolation_prefix, run_check
from bot.task_bench.tasks import TaskError, load_task, load_tasks
from bot.task_bench.verify import verify_tasks
from tests.node import needs_node

SUITE = Path(__file__).resolve().parent.parent / "bench" / "tasks"


def make_task(root: Path, name: str = "t", *, toml: str | None = None, check: str = "true",
              timeout: float = 30, files: dict[str, str] | None = None, hidden: dict[str, str] | None = None) -> Path:
    folder = root / name
    for base, content in (("repo", files or {"a.txt": "a\n"}), ("hidden", hidden or {})):
        for path, text in content.items():
            target = folder / base / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    (folder / "repo").mkdir(parents=True, exist_ok=True)
    (folder / "task.toml").write_text(toml if toml is not None else
                                      f'title = "T"\nbody = "B"\ncheck = {check!r}\ntimeout = {timeout}\n')
    return folder


async def test_the_shipped_suite_is_decided_by_its_hidden_checks():
    needs_node()
    tasks = load_tasks(SUITE)
    assert len(tasks) >= 10
    assert {t.language for t in tasks} == {"python", "javascript"}
    assert [t.difficulty for t in tasks] == sorted(t.difficulty for t in tasks) and {1, 2, 3, 4} <= {
        t.difficulty for t in tasks}
    for task in tasks:
        assert (task.root / "SOURCE.md").is_file(), task.name
        source = (task.root / "SOURCE.md").read_text()
        assert "re-creation, not a copy" in source and "licence" in source.lower(), task.name
    verdicts = await verify_tasks(tasks, concurrency=4)
    assert {v.task: v.problems for v in verdicts} == {t.name: [] for t in tasks}


def test_verify_command_reports_a_check_that_cannot_see_the_bug(tmp_path, capsys):
    make_task(tmp_path, "blind", check="true")
    (tmp_path / "blind" / "fix").mkdir()
    assert cli_main(["bench", "--tasks", str(tmp_path), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "FAILED blind" in out and "does not detect the bug" in out


@pytest.mark.parametrize(("toml", "problem"), [
    ('title = "T"\nbody = "B"\ncheck = "true"\n', "'timeout' must be a number"),
    ('title = "T"\nbody = "B"\ncheck = ""\ntimeout = 5\n', "'check' must be a non-empty string"),
    ('title = "T"\nbody = "B"\ncheck = "true"\ntimeout = 5\nlanguge = "py"\n', "unknown key(s) languge"),
    ('title = "T"\nbody = "B"\ncheck = "true"\ntimeout = 5\ndifficulty = 0\n', "'difficulty' must be"),
    ('title = "T\nbody', "task.toml"),
])
def test_a_broken_task_is_refused_naming_the_problem(tmp_path, toml, problem):
    make_task(tmp_path, toml=toml)
    with pytest.raises(TaskError) as caught:
        load_tasks(tmp_path)
    assert problem in str(caught.value) and "t" in str(caught.value)


def test_every_broken_task_is_listed_at_once(tmp_path):
    make_task(tmp_path, "one", toml="x = 1\n")
    make_task(tmp_path, "two", toml="")
    with pytest.raises(TaskError) as caught:
        load_tasks(tmp_path)
    assert "one/" in str(caught.value) and "two/" in str(caught.value)


async def test_the_check_sees_the_change_and_hidden_files_in_its_own_copy(tmp_path):
    task = load_task(make_task(tmp_path, check="cat a.txt extra.txt && test -f secret.txt",
                               hidden={"secret.txt": "s\n"}))
    result = await run_check(task, changes=[FileChange("a.txt", "modify", "a\n", "changed\n"),
                                            FileChange("extra.txt", "create", None, "new\n")])
    assert result.passed, result.output
    assert result.output == "changed\nnew\n"
    # The task's own repo/ was not touched.
    assert (task.repo / "a.txt").read_text() == "a\n" and not (task.repo / "secret.txt").exists()


async def test_the_check_environment_has_no_keys_or_tokens(tmp_path, monkeypatch):
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "ROUTE_ME_PROVIDER_X_API_KEY"):
        monkeypatch.setenv(key, "sk-secret-value")
    task = load_task(make_task(tmp_path, check="env"))
    result = await run_check(task)
    assert result.passed
    assert "sk-secret-value" not in result.output and "API_KEY" not in result.output
    assert "PATH=" in result.output and f"HOME={os.sep}" in result.output


async def test_an_overrunning_check_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "grandchild-ran"
    task = load_task(make_task(tmp_path, timeout=1, check=f"(sleep 3; touch {marker}) & sleep 30"))
    started = asyncio.get_running_loop().time()
    result = await run_check(task)
    assert result.timed_out and not result.passed and result.exit_code is None
    assert asyncio.get_running_loop().time() - started < 10
    await asyncio.sleep(3.5)
    assert not marker.exists()  # the background grandchild died with the group


async def test_the_check_has_no_network_where_the_machine_allows_it(tmp_path):
    if not isolation_prefix():
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail("CI runs as root: `unshare --net` must work here")
        pytest.skip("no network namespace on this machine (the check runs with network: open)")
    script = textwrap.dedent("""
        import socket, sys
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=2)
        except OSError:
            sys.exit(0)
        sys.exit(1)
    """)
    task = load_task(make_task(tmp_path, check="python3 probe.py", files={"probe.py": script}))
    result = await run_check(task)
    assert result.network == "none"
    assert result.passed, result.output
