"""The four splits side by side (OO, OK, KO, KK): what each costs with route-me's real prompts.

    .venv/bin/python bench/bench_splits.py [--explore 8] [--billing cached|bytes]
        [--planner-thinking off|high|both] [--thinking-tokens 4000]

Each split runs the whole flow (label → plan → /approve → pull request → review) through
the real app against the fake GitHub and fake model servers.  The fakes play the roles
from a script, but bill what a provider would: input tokens estimated from the exact
request the SDK sent (system prompt, repository context, history, tool results) and output
tokens from the tool calls returned; the ledger prices them with bot/data/prices.json.
With ``--billing cached`` (the default) the fakes bill prompt caching as the providers do
(Anthropic's cache_control breakpoints; Moonshot's automatic prefix cache, see
tests/fakes/prompt_cache.py); ``--billing bytes`` bills every input token at the full rate.
So the dollars reflect route-me's own context sizes and turn structure; what they cannot
reflect is a real model's verbosity, thinking tokens or extra turns (``--explore`` adds
read-only turns to the implementer to model a longer session).  The scripted implementer
skips its ``read_file`` calls for files its first message already shows (as a model told
so would), so preloading is measured by the turns it saves.  ``--pad-lines N`` grows every seeded
source file by N lines of ordinary code (the toy files are a few lines; real ones are not),
and ``--no-preload`` / ``--no-trim`` turn the implementer's preloading and history trimming
off, to measure what each one moves.  Scores are scripted here;
run the same flow against real providers to compare quality.

``--planner-thinking both`` runs every split twice, the planner called with reasoning off and
with ``high`` (SPEC 8; implementer and judge off in both, so the difference is the planner's
thinking alone).  A thinking planner's scripted replies carry ``--thinking-tokens`` of thinking
per call (an assumption: real models choose how much of the 16k budget to use), billed as
output as the providers bill it, and sent back within its tool loop as the API requires, so
the re-sent thinking is billed as input (cached or not) on the turns after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.tokens import estimate_tokens  # noqa: E402
from bot.core.usage import Usage  # noqa: E402
from tests import scenario as sc  # noqa: E402
from tests.fakes import anthropic_server, openai_server  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from tests.fakes.app_keys import generate_app_key  # noqa: E402
from tests.fakes.deliveries import issue_comment, issue_labeled  # noqa: E402
from tests.fakes.github_server import FakeGitHub  # noqa: E402
from tests.fakes.harness import BotHarness, bot_env  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.scripted_server import Billing  # noqa: E402

STAGES = ("plan", "implement", "judge")


def first_user_text(body: dict[str, Any]) -> str:
    """The first user message's text, in either wire format."""
    message = next((m for m in body.get("messages", []) if m.get("role") == "user"), {})
    content = message.get("content") or ""
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return str(content)


def without_preloaded_reads(turns: list[tuple[str, dict[str, Any]]], body: dict[str, Any]
                            ) -> list[tuple[str, dict[str, Any]]]:
    """The script minus whole-file reads of files the first message already shows."""
    shown = first_user_text(body)
    return [(name, args) for name, args in turns
            if not (name == "read_file" and set(args) == {"path"} and f'<file path="{args["path"]}">' in shown)]


THOUGHT = ("The issue asks for a guard on the divisor; ops.divide is the only caller path, the tests "
           "cover the happy case only, so the plan adds the check and a test for zero. ")


def thinking_text(tokens: int) -> str:
    """About ``tokens`` tokens of plausible planning thought."""
    return (THOUGHT * (1 + tokens * 4 // len(THOUGHT)))[: int(tokens * 3.5)]


def role_player(module: Any, turns: list[tuple[str, dict[str, Any]]], *, thinking_tokens: int = 0):
    """A responder for either fake: picks the role from the tools offered.

    Output tokens are billed by the size of the call returned (plus the thinking, when the
    request asked for it); the fake itself bills the input.
    """
    def respond(body: dict[str, Any]) -> Any:
        tools = {t.get("name") or t.get("function", {}).get("name") for t in body.get("tools", [])}
        if "submit_scorecard" in tools:
            name, args = "submit_scorecard", sc.SCORECARD
        elif "submit_plan" in tools:
            name, args = "submit_plan", sc.PLAN
        else:
            script = without_preloaded_reads(turns, body)
            name, args = script[min(sc.turn_number(body), len(script) - 1)]
        # Only the planner thinks here, and only when its request asked to (thinking / reasoning_effort).
        thinks = thinking_tokens > 0 and name == "submit_plan" and bool(
            body.get("thinking") or body.get("reasoning_effort"))
        thought = thinking_text(thinking_tokens) if thinks else ""
        billed = Usage(output_tokens=estimate_tokens(json.dumps(args)) + 40 + estimate_tokens(thought))
        if not thought:
            return module.tool_reply(name, args, usage=billed)
        if module is anthropic_server:
            return module.tool_reply(name, args, usage=billed, thinking=(thought,))
        return module.tool_reply(name, args, usage=billed, reasoning=thought)
    return respond


def padded_files(pad_lines: int) -> dict[str, str]:
    """The scenario's files, each source file followed by ``pad_lines`` lines of plain code."""
    files = dict(sc.FILES)
    if pad_lines <= 0:
        return files
    functions = pad_lines // 4
    files["calc/ops.py"] += "".join(f"\n\ndef helper_{n}(x: int) -> int:\n    return x + {n}\n"
                                    for n in range(functions))
    files["tests/test_ops.py"] += "".join(f"\n\ndef test_helper_{n}():\n    assert {n} + 1 == {n + 1}\n"
                                          for n in range(functions))
    files["calc/__init__.py"] += "".join(f"HELPER_{n} = {n}  # a public constant\n" for n in range(pad_lines))
    files["README.md"] += "".join(f"- helper_{n}(x) returns x + {n}.\n" for n in range(pad_lines))
    return files


async def run_split(variant: str, turns: list[tuple[str, dict[str, Any]]], billing: Billing,
                    pad_lines: int = 0, *, planner_reasoning: str = "off", thinking_tokens: int = 0
                    ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        private, public = generate_app_key()
        async with FakeGitHub(work / "github", public_key_pem=public, validate=False) as github, \
                FakeAnthropic(api_key="sk-ant-bench", billing=billing) as anthropic, \
                FakeOpenAI(api_key="sk-oai-bench", billing=billing, cache_report="moonshot") as openai:
            sc.seed(github, files=padded_files(pad_lines), config=f"variant: {variant}\n")
            anthropic.responder = role_player(anthropic_server, turns, thinking_tokens=thinking_tokens)
            openai.responder = role_player(openai_server, turns, thinking_tokens=thinking_tokens)
            env = bot_env(work, github_url=github.url, private_key=private, anthropic_url=anthropic.base_url,
                          openai_url=openai.base_url, ANTHROPIC_API_KEY="sk-ant-bench",
                          OPENAI_API_KEY="sk-oai-bench",
                          ROUTE_ME_REASONING=f"planner={planner_reasoning},implementer=off,judge=off")
            async with BotHarness(env) as bot:
                await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE,
                                                       title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY,
                                                       sender=sc.MAINTAINER))
                await bot.settle(timeout=300)
                await bot.send("issue_comment", issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE,
                                                              body="/approve", user=sc.MAINTAINER))
                await bot.settle(timeout=300)
                rows = bot.services.store.ledger_rows(repo=f"{sc.OWNER}/{sc.REPO}")
            pulls = github.pulls(sc.OWNER, sc.REPO)
            result: dict[str, Any] = {"variant": variant, "planner_reasoning": planner_reasoning,
                                      "pull_requests": len(pulls),
                                      "rest_calls": len(github.rest_calls())}
            for stage in STAGES:
                stage_rows = [r for r in rows if r["stage"] == stage]
                result[f"{stage}_usd"] = sum(r["cost_usd"] or 0.0 for r in stage_rows)
                result[f"{stage}_tokens"] = sum(_total_tokens(r["usage"]) for r in stage_rows)
                result[f"{stage}_cache_read"] = sum(r["usage"].get("cache_read_tokens", 0) for r in stage_rows)
                result[f"{stage}_calls"] = len(stage_rows)
                result[f"{stage}_thinking"] = sum(r["usage"].get("reasoning_tokens", 0) for r in stage_rows)
                result[f"{stage}_model"] = ",".join(sorted({r["model"] for r in stage_rows}))
            result["total_usd"] = sum(result[f"{s}_usd"] for s in STAGES)
            return result


def _total_tokens(usage: dict[str, int]) -> int:
    return sum(usage.get(kind, 0) for kind in ("input_tokens", "output_tokens", "cache_write_tokens",
                                               "cache_read_tokens"))


def exploration_turns(count: int) -> list[tuple[str, dict[str, Any]]]:
    reads = [("read_file", {"path": path}) for path in sorted(sc.FILES)]
    extra = [reads[i % len(reads)] for i in range(count)] + [("search", {"pattern": "def divide"})] * (count > 0)
    return extra + sc.IMPLEMENTER_TURNS


def switch_off(*, preload: bool, trim: bool) -> None:
    """Turn the implementer's preloading or history trimming off, to measure what each moves."""
    from bot.stages import implement
    from bot.stages.history import TrimPolicy

    if not preload:
        implement.preloaded_files = lambda *args, **kwargs: ""  # type: ignore[assignment]
    if not trim:
        implement.HISTORY_TRIM = TrimPolicy(trigger_tokens=10**12)


async def main_async(explore: int, billing: Billing, pad_lines: int, *, planner_thinking: str,
                     thinking_tokens: int) -> int:
    turns = exploration_turns(explore)
    levels = ("off", "high") if planner_thinking == "both" else (planner_thinking,)
    results = [await run_split(v, turns, billing, pad_lines, planner_reasoning=level,
                               thinking_tokens=thinking_tokens)
               for level in levels for v in ("OO", "OK", "KO", "KK")]
    oo = {r["planner_reasoning"]: r["total_usd"] for r in results if r["variant"] == "OO"}
    print(f"scripted implementer turns: {len(turns)}; billing: {billing}; pad lines: {pad_lines}; "
          f"thinking per planner call: {thinking_tokens} tokens")
    print(f"{'split':<6}{'planner':>8}{'plan $':>10}{'thinking':>9}{'implement $':>13}{'judge $':>10}"
          f"{'total $':>10}{'vs OO':>8}{'tokens':>10}{'impl calls':>11}{'impl cached':>12}"
          "  models (plan / implement / judge)")
    for r in results:
        tokens = sum(r[f"{s}_tokens"] for s in STAGES)
        print(f"{r['variant']:<6}{r['planner_reasoning']:>8}{r['plan_usd']:>10.4f}{r['plan_thinking']:>9,}"
              f"{r['implement_usd']:>13.4f}{r['judge_usd']:>10.4f}"
              f"{r['total_usd']:>10.4f}{r['total_usd'] / oo[r['planner_reasoning']]:>8.2f}{tokens:>10,}"
              f"{r['implement_calls']:>11}{r['implement_cache_read']:>12,}  "
              f"{r['plan_model']} / {r['implement_model']} / {r['judge_model']}")
        assert r["pull_requests"] == 1, r
    if len(levels) == 2:
        for variant in ("OO", "OK", "KO", "KK"):
            off, on = (next(r for r in results if r["variant"] == variant and r["planner_reasoning"] == level)
                       for level in levels)
            print(f"{variant}: the planner's thinking adds ${on['total_usd'] - off['total_usd']:.4f} "
                  f"(plan ${off['plan_usd']:.4f} -> ${on['plan_usd']:.4f}, "
                  f"total x{on['total_usd'] / off['total_usd']:.2f})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--explore", type=int, default=8, help="extra read-only implementer turns")
    parser.add_argument("--billing", choices=("cached", "bytes"), default="cached",
                        help="cached: the fakes bill prompt caching as the providers do; bytes: no caching")
    parser.add_argument("--pad-lines", type=int, default=0, help="grow each seeded source file by N lines")
    parser.add_argument("--no-preload", action="store_true", help="the implementer's first message shows no files")
    parser.add_argument("--no-trim", action="store_true", help="never trim the implementer's history")
    parser.add_argument("--planner-thinking", choices=("off", "high", "both"), default="both",
                        help="the planner's reasoning (SPEC 8); both: every split with it off, then high")
    parser.add_argument("--thinking-tokens", type=int, default=4000,
                        help="thinking tokens a thinking planner writes per call (an assumption)")
    args = parser.parse_args()
    switch_off(preload=not args.no_preload, trim=not args.no_trim)
    return asyncio.run(main_async(args.explore, args.billing, args.pad_lines,
                                  planner_thinking=args.planner_thinking, thinking_tokens=args.thinking_tokens))


if __name__ == "__main__":
    raise SystemExit(main())
