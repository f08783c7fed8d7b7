"""Label → plan comment on a 20,000-file repository, with an instant fake planner.

    .venv/bin/python bench/bench_plan.py [--files 20000] [--budget 60000] [--explore 0]

Runs the real app against the fake GitHub (a real git repository served as a tarball) and
the fake Anthropic server answering at once.  Reports the planner's input tokens (estimated
from the request the SDK actually sent), the time from the labeled delivery to the finished
plan comment, and the REST calls made.  ``--explore N`` makes the fake planner read the N
largest files of the repository, one a turn, before it submits, as a curious planner
would: the largest request of the conversation is what the budget must bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.markers import find_marker  # noqa: E402
from bot.core.tokens import estimate_tokens  # noqa: E402
from tests import scenario as sc  # noqa: E402
from tests.fakes import anthropic_server  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from tests.fakes.app_keys import generate_app_key  # noqa: E402
from tests.fakes.deliveries import issue_labeled  # noqa: E402
from tests.fakes.github_server import FakeGitHub  # noqa: E402
from tests.fakes.harness import BotHarness, bot_env  # noqa: E402

WORDS = "alpha beta gamma delta parse render cache fetch store index token route plan model".split()


def synthetic_repo(count: int, rng: random.Random) -> dict[str, str]:
    """A mixed Python/JS/Markdown tree with the scenario's calc/ops.py hidden among the rest."""
    files = dict(sc.FILES)
    while len(files) < count:
        n = len(files)
        package = f"pkg{n % 40}/sub{n % 17}"
        kind = n % 5
        name = "_".join(rng.sample(WORDS, 2))
        if kind < 3:
            body = "\n\n".join(f"def {name}_{i}(value):\n    return value + {i}\n" for i in range(rng.randint(3, 25)))
            files[f"{package}/{name}_{n}.py"] = body
        elif kind == 3:
            files[f"web/{package}/{name}_{n}.js"] = f"export function {name}{n}(x) {{ return x * {n}; }}\n"
        else:
            files[f"docs/{package}/{name}_{n}.md"] = f"# {name}\n\n" + " ".join(rng.choices(WORDS, k=200)) + "\n"
    return files


def explorer(paths: list[str]):
    """A planner that reads ``paths`` one a turn while it may, then submits the plan."""
    def respond(body: dict[str, object]) -> object:
        turn = sc.turn_number(body)
        may_read = any(tool["name"] == "read_file" for tool in body["tools"])  # type: ignore[index, union-attr]
        if turn < len(paths) and may_read:
            return anthropic_server.tool_reply("read_file", {"path": paths[turn]}, usage=sc.PLANNER_USAGE)
        return anthropic_server.tool_reply("submit_plan", sc.PLAN, usage=sc.PLANNER_USAGE)
    return respond


async def run(count: int, budget: int, explore: int) -> dict[str, object]:
    rng = random.Random(20_000)
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        work = Path(tmp)
        private, public = generate_app_key()
        async with FakeGitHub(work / "github", public_key_pem=public, validate=False) as github, \
                FakeAnthropic(api_key="sk-ant-bench") as anthropic:
            started = time.perf_counter()
            files = synthetic_repo(count, rng)
            github.create_repo(sc.OWNER, sc.REPO, files)
            github.add_issue(sc.OWNER, sc.REPO, number=sc.ISSUE, title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
            github.set_permission(sc.OWNER, sc.REPO, sc.MAINTAINER, "write")  # the label counts from a maintainer
            seeded = time.perf_counter() - started
            largest = sorted(files, key=lambda path: len(files[path]), reverse=True)[:explore]
            anthropic.responder = explorer(largest) if explore else sc.planner_replies()
            env = bot_env(work, github_url=github.url, private_key=private, anthropic_url=anthropic.base_url,
                          ANTHROPIC_API_KEY="sk-ant-bench", ROUTE_ME_PLANNER_TOKEN_BUDGET=str(budget))
            async with BotHarness(env) as bot:
                payload = issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, title=sc.ISSUE_TITLE,
                                        body=sc.ISSUE_BODY, sender=sc.MAINTAINER)
                t0 = time.perf_counter()
                await bot.send("issues", payload)
                await bot.settle(timeout=600)
                elapsed = time.perf_counter() - t0
            request = anthropic.message_bodies[0]
            sent = "\n".join([json.dumps(request["system"]), json.dumps(request["messages"]),
                              json.dumps(request["tools"])])
            # Every request as the SDK sent it (its whole JSON body), the conversation included.
            sizes = [estimate_tokens(json.dumps(body)) for body in anthropic.message_bodies]
            body = sc.plan_comment(github)["body"]
            return {
                "files": count,
                "budget": budget,
                "planner_input_tokens_estimated": estimate_tokens(sent),
                "planner_requests": len(sizes),
                "largest_request_tokens_estimated": max(sizes),
                "target_file_in_context": "calc/ops.py" in json.dumps(request["system"]),
                "label_to_plan_seconds": round(elapsed, 2),
                "plan_state": find_marker(body, "plan")["state"],
                "rest_calls": len(github.rest_calls()),
                "seed_seconds": round(seeded, 1),
            }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--budget", type=int, default=60_000)
    parser.add_argument("--explore", type=int, default=0, help="files the fake planner reads before it submits")
    args = parser.parse_args()
    result = asyncio.run(run(args.files, args.budget, args.explore))
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
