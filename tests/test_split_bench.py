"""`route-me bench`: the four splits on a real issue through the real stages, posting nothing."""

from __future__ import annotations

import asyncio
import json

from bot.cli import main as cli_main
from tests import scenario as sc
from tests.fakes import anthropic_server, openai_server
from tests.fakes.app_keys import generate_app_key
from tests.fakes.harness import bot_env


def play_roles(module):
    """Either fake plays planner, implementer or judge, chosen by the tools offered."""
    implementer = sc.implementer_replies()

    def respond(body):
        tools = {t.get("name") or t.get("function", {}).get("name") for t in body.get("tools", [])}
        if "submit_scorecard" in tools:
            return module.tool_reply("submit_scorecard", sc.SCORECARD, usage=sc.JUDGE_USAGE)
        if "submit_plan" in tools:
            return module.tool_reply("submit_plan", sc.PLAN, usage=sc.PLANNER_USAGE)
        name, arguments = implementer(body).tool_calls[0][:2]
        return module.tool_reply(name, arguments, usage=sc.IMPLEMENTER_USAGE)
    return respond


async def test_bench_runs_four_splits_and_posts_nothing(tmp_path, github, anthropic, openai, monkeypatch, capsys):
    repo = sc.seed(github)
    anthropic.responder = play_roles(anthropic_server)
    openai.responder = play_roles(openai_server)
    private, _ = generate_app_key()
    env = bot_env(tmp_path, github_url=github.url, private_key=private, anthropic_url=anthropic.base_url,
                  openai_url=openai.base_url, ANTHROPIC_API_KEY=anthropic.api_key, OPENAI_API_KEY=openai.api_key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    out_file = tmp_path / "bench.json"

    # The command runs its own event loop, so it runs in a thread while the fakes serve here.
    code = await asyncio.to_thread(
        cli_main, ["bench", "--repo", f"{sc.OWNER}/{sc.REPO}", "--issue", str(sc.ISSUE), "--json", str(out_file)])

    assert code == 0
    table = capsys.readouterr().out
    for split in ("OO", "OK", "KO", "KK"):
        assert f"  {split} " in table
    report = json.loads(out_file.read_text())
    runs = {r["split"]: r for r in report["runs"]}
    assert all(r["error"] is None and r["overall"] == 4.6 and r["files_changed"] == 2 for r in runs.values())
    assert runs["OO"]["models"]["implement"] == "anthropic:claude-opus-5-5"
    assert runs["OK"]["models"]["implement"] == "openai:kimi-k2.6"
    assert runs["KK"]["models"]["plan"] == "openai:kimi-k2.6"
    assert runs["OK"]["total_usd"] < runs["OO"]["total_usd"]
    # Nothing was written to the repository or the issue.
    assert github.comments(sc.OWNER, sc.REPO, sc.ISSUE) == []
    assert github.pulls(sc.OWNER, sc.REPO) == []
    assert repo.branches() == ["main"]
    assert not any(r.method in ("POST", "PATCH", "PUT", "DELETE") and "/repos/" in r.path for r in github.requests)
    assert github.count("GET", "/tarball/") == 1  # one snapshot serves all four splits


def test_bench_refuses_unknown_splits(capsys):
    assert cli_main(["bench", "--repo", "o/r", "--issue", "1", "--splits", "OO,XY"]) == 2
    assert "splits must be from" in capsys.readouterr().err
