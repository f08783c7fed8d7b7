"""Webhook intake throughput: wrk against `route-me serve`, 14 KB signed deliveries, unique delivery ids.

    .venv/bin/python bench/bench_intake.py [--seconds 15] [--connections 32] [--kind comment|label]
    .venv/bin/python bench/bench_intake.py --server probot [...]   # the baseline, same wrk run

Needs `wrk` (Debian package `wrk`); `--server probot` also needs Node.js and
`npm ci --prefix bench/probot` (a minimal Probot app, bench/probot/app.js).

Starts the real service as a subprocess on loopback with a fresh state file, drives it
with wrk (2 threads), then checks that every delivery wrk sent was recorded in the state
file.  Kinds of 14 KB delivery:

- `comment`: a comment without a command (most traffic): 200, its delivery id committed.
- `label`: `issues.labeled` with a label that is not the trigger, as most label traffic.
  The first becomes a job (202), which reads the repository's config from the fake GitHub
  (tests/fakes, run in a process of its own); the rest are then known to need nothing
  (200, delivery id committed).
- `job`: `issues.labeled` with the trigger label: every delivery becomes a job whose
  payload is committed and fsynced before the 202.  GitHub is a closed port here, as in an
  outage, so the jobs wait in their retries instead of finishing.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.app_keys import generate_app_key  # noqa: E402
from tests.fakes.deliveries import issue_comment, issue_labeled, sign  # noqa: E402

SECRET = "bench-secret"
TARGET_BYTES = 14 * 1024
VOCABULARY = ("the function returns a wrong value when input is empty and the parser raises an error "
              "on line config file cache request response timeout retry user expected actual steps "
              "reproduce version stack trace module import build test fails passes after before").split()

LUA = """
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(tid) or 0
end
request = function()
  counter = counter + 1
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-GitHub-Event"] = "%(event)s"
  headers["X-GitHub-Delivery"] = "bench-" .. tid .. "-" .. counter
  headers["X-Hub-Signature-256"] = "%(signature)s"
  return wrk.format("POST", "%(path)s", headers, wrk.body)
end
"""


def payload_of(kind: str) -> tuple[str, bytes]:
    if kind == "comment":
        data = issue_comment(owner="octo-org", repo="widgets", number=1, body="Looks good to me.")
        event, field = "issue_comment", ("comment", "body")
    else:
        label = "route-me" if kind == "job" else "bug"
        data = issue_labeled(owner="octo-org", repo="widgets", number=1, label=label, body="x")
        event, field = "issues", ("issue", "body")
    body = json.dumps(data).encode()
    padded = copy.deepcopy(data)
    # Varied prose, not one repeated phrase, so compression in the store is not flattered.
    rng = random.Random(7)
    words = []
    while len(body) + sum(len(w) + 1 for w in words) < TARGET_BYTES:
        words.append(rng.choice(VOCABULARY))
    padded[field[0]][field[1]] += " " + " ".join(words)
    return event, json.dumps(padded).encode()


def serve_fake_github(public_key: str, root: str, url_file: str) -> None:
    """Child process: the tests' fake GitHub with the bench's repository, until terminated."""
    import asyncio

    from tests.fakes.github_server import FakeGitHub

    async def serve() -> None:
        async with FakeGitHub(Path(root), app_id=1, public_key_pem=public_key, validate=False) as github:
            github.create_repo("octo-org", "widgets", {"README.md": "# widgets\n"})
            Path(url_file).write_text(github.url)
            await asyncio.Event().wait()

    asyncio.run(serve())


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the service did not answer {url}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--kind", choices=["comment", "label", "job"], default="comment")
    parser.add_argument("--port", type=int, default=18181)
    parser.add_argument("--workers", type=int, default=4, help="ROUTE_ME_WORKERS for the service")
    parser.add_argument("--dir", help="where the state file goes (default: the system temp dir)")
    parser.add_argument("--github", choices=["fake", "closed"], default="fake",
                        help="where the jobs' GitHub calls go: the fake GitHub, or a closed port (an outage)")
    parser.add_argument("--server", choices=["route-me", "probot"], default="route-me",
                        help="probot: the minimal Probot app in bench/probot, driven the same way")
    parser.add_argument("--probot-log-level", default="info",
                        help="Probot's LOG_LEVEL (info is its default: one log line per delivery)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="route-me-bench-", dir=args.dir))
    event, body = payload_of(args.kind)
    (work / "body.json").write_bytes(body)
    script = LUA % {"event": event, "signature": sign(SECRET, body), "path": "/api/github/webhooks"}
    script = script.replace("request = function()", f'wrk.body = io.open("{work / "body.json"}"):read("*a")\n'
                                                    "request = function()")
    (work / "bench.lua").write_text(script)
    private, public = generate_app_key()
    github_url, github = "http://127.0.0.1:1", None
    if args.kind == "job":
        args.github = "closed"  # every delivery must stay a job: none may finish and warm a cache
    if args.github == "fake" and args.server == "route-me":
        url_file = work / "github.url"
        github = multiprocessing.Process(target=serve_fake_github, args=(public, str(work / "github"), str(url_file)),
                                         daemon=True)
        github.start()
        deadline = time.time() + 30
        while not url_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        github_url = url_file.read_text()
    env = dict(os.environ, GITHUB_APP_ID="1", GITHUB_PRIVATE_KEY=private, GITHUB_WEBHOOK_SECRET=SECRET,
               GITHUB_API_URL=github_url, ANTHROPIC_API_KEY="unused", OPENAI_API_KEY="unused",
               ROUTE_ME_DB=str(work / "state.db"), ROUTE_ME_DATA_DIR=str(work / "data"),
               PORT=str(args.port), HOST="127.0.0.1", LOG_LEVEL="CRITICAL",
               ROUTE_ME_WORKERS=str(args.workers))
    if args.server == "probot":
        probot = ROOT / "bench" / "probot"
        if not (probot / "node_modules" / "probot").is_dir():
            raise SystemExit("Probot is not installed: npm ci --prefix bench/probot")
        env.update(APP_ID="1", PRIVATE_KEY=private, WEBHOOK_SECRET=SECRET, LOG_LEVEL=args.probot_log_level)
        command, ready = ["node", str(probot / "app.js")], f"http://127.0.0.1:{args.port}/ping"
    else:
        command, ready = [str(Path(sys.executable)), "-m", "bot", "serve"], f"http://127.0.0.1:{args.port}/healthz"
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(ready)
        result = subprocess.run(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s",
             str(work / "bench.lua"), f"http://127.0.0.1:{args.port}/api/github/webhooks"],
            capture_output=True, text=True, check=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if github is not None:
            github.terminate()
    out = result.stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50, p75, p90, p99 = (re.search(rf"{q}%\s+([\d.]+\w+)", out).group(1) for q in (50, 75, 90, 99))
    print(f"server={args.server} kind={args.kind} payload={len(body)} bytes connections={args.connections} "
          f"seconds={args.seconds} github={args.github if args.server == 'route-me' else '-'}")
    print(f"requests={total} rate={rate:.0f}/s p50={p50} p75={p75} p90={p90} p99={p99} non_2xx={non_2xx.group(1) if non_2xx else 0}")
    if args.server == "route-me":
        db = sqlite3.connect(work / "state.db")
        recorded = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
        jobs = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        print(f"deliveries recorded={recorded} jobs recorded={jobs} "
              f"(wrk counts only completed responses; recorded >= requests means none was lost)")
        if jobs:
            print("jobs by status when the service stopped: " + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
