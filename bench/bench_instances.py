"""Several instances: webhook intake on PostgreSQL (one and two instances) beside SQLite, and the
time from an instance's death to another instance taking over its job.

    .venv/bin/python bench/bench_instances.py intake --backend sqlite --instances 1 [--kind job]
    .venv/bin/python bench/bench_instances.py intake --backend postgres --instances 2 [--kind job]
    .venv/bin/python bench/bench_instances.py takeover [--lease 30] [--runs 3]

Needs `wrk` (Debian package) and, for PostgreSQL, Debian's `postgresql` server binaries: a
throw-away cluster is started in a temp dir (tests/pg.py) with PostgreSQL's durable defaults
(fsync on, synchronous commit), not the tests' fsync-off settings.

intake: the real `route-me serve` processes (uvloop, 4 workers each) on loopback, driven by
one wrk per instance (32 connections in all, split evenly), the same 14 KB signed deliveries
as bench_intake.py, each with its own delivery id.  `comment` deliveries only record their
delivery id (200); `job` deliveries (the trigger label) record a job too (202), fsynced /
committed durably before the answer; GitHub is a closed port, so the jobs wait in their
retries and claims keep the database busy as in an outage.  Afterwards every delivery wrk
counted is checked to be in the store.

takeover: two instances on PostgreSQL; one job whose GitHub call hangs (a port that accepts
and never answers) runs on one of them; that process gets SIGKILL, and the time until the
other instance holds the job's lease (its owner in the jobs table) is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_intake import LUA, SECRET, payload_of, wait_for  # noqa: E402
from tests.fakes.app_keys import generate_app_key  # noqa: E402
from tests.fakes.deliveries import issue_labeled, sign  # noqa: E402
from tests.pg import Cluster  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_instances(count: int, *, db: str, work: Path, github_url: str, stall: bool = False,
                    **extra: str) -> list[tuple[Any, int]]:
    private, _ = generate_app_key()
    # With ``stall``, each instance runs under bench/loop_lag.py, which writes its event loop's
    # longest stalls to work/lag-<n>.json when it is stopped.
    command = [sys.executable, str(ROOT / "bench" / "loop_lag.py")] if stall else [sys.executable, "-m", "bot", "serve"]
    started = []
    for n in range(count):
        port = free_port()
        env = dict(os.environ, GITHUB_APP_ID="1", GITHUB_PRIVATE_KEY=private, GITHUB_WEBHOOK_SECRET=SECRET,
                   GITHUB_API_URL=github_url, ANTHROPIC_API_KEY="unused", OPENAI_API_KEY="unused",
                   ROUTE_ME_DB=db, ROUTE_ME_DATA_DIR=str(work / f"data-{n}"), PORT=str(port), HOST="127.0.0.1",
                   LOG_LEVEL="CRITICAL", ROUTE_ME_WORKERS="4", ROUTE_ME_INSTANCE=f"bench-{n}",
                   ROUTE_ME_BENCH_LAG_FILE=str(work / f"lag-{n}.json"), **extra)
        process = subprocess.Popen(command, cwd=work, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append((process, port))
    for _, port in started:
        wait_for(f"http://127.0.0.1:{port}/healthz", timeout=60.0)
    return started


def stop(instances: list[tuple[Any, int]]) -> None:
    for process, _ in instances:
        if process.poll() is None:
            process.terminate()
    for process, _ in instances:
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


def count_rows(db: str) -> tuple[int, int]:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            return (conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0],
                    conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def intake(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="route-me-bench-"))
    cluster = Cluster(durable=True) if args.backend == "postgres" else None
    db = cluster.new_database() if cluster else str(work / "state.db")
    event, body = payload_of(args.kind)
    (work / "body.json").write_bytes(body)
    instances = start_instances(args.instances, db=db, work=work, github_url="http://127.0.0.1:1", stall=args.stall)
    try:
        wrks = []
        per = max(1, args.connections // args.instances)
        for n, (_, port) in enumerate(instances):
            # Each wrk names its deliveries apart from the other's.
            script = LUA % {"event": event, "signature": sign(SECRET, body), "path": "/api/github/webhooks"}
            script = script.replace('"bench-"', f'"bench-{n}-"')
            script = script.replace("request = function()", f'wrk.body = io.open("{work / "body.json"}"):read("*a")\n'
                                                            "request = function()")
            (work / f"bench-{n}.lua").write_text(script)
            threads = 2 if args.instances == 1 else 1
            wrks.append(subprocess.Popen(
                ["wrk", f"-t{threads}", f"-c{per}", f"-d{args.seconds}s", "--latency", "-s",
                 str(work / f"bench-{n}.lua"), f"http://127.0.0.1:{port}/api/github/webhooks"],
                stdout=subprocess.PIPE, text=True))
        outputs = [w.communicate()[0] for w in wrks]
    finally:
        stop(instances)
    total = rate = 0.0
    p99s, p50s, errors = [], [], 0
    for out in outputs:
        total += int(re.search(r"(\d+) requests in", out).group(1))
        rate += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p50s.append(to_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)))
        p99s.append(to_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)))
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors += int(non_2xx.group(1)) if non_2xx else 0
    recorded, jobs = count_rows(db)
    print(f"backend={args.backend} instances={args.instances} kind={args.kind} payload={len(body)} bytes "
          f"connections={per * args.instances} seconds={args.seconds}")
    print(f"requests={int(total)} rate={rate:.0f}/s p50={max(p50s):.1f}ms p99={max(p99s):.1f}ms "
          f"(worst instance) non_2xx={errors} deliveries recorded={recorded} jobs recorded={jobs} "
          f"lost={'none' if recorded >= total else int(total - recorded)}")
    for n in range(args.instances):
        lag = work / f"lag-{n}.json"
        if lag.exists():
            stalls = json.loads(lag.read_text())
            print(f"instance {n} event-loop stalls: max={stalls['max_ms']}ms p99={stalls['p99_ms']}ms "
                  f"p99.9={stalls['p999_ms']}ms over 10/50/100 ms: {stalls['over_10ms']}/{stalls['over_50ms']}/"
                  f"{stalls['over_100ms']} of {stalls['ticks']} wake-ups")
    if cluster:
        cluster.stop()
    shutil.rmtree(work, ignore_errors=True)


def takeover(args: argparse.Namespace) -> None:
    import psycopg

    cluster = Cluster(durable=True)
    # GitHub that accepts connections and never answers: the job's first call hangs.
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(1000)
    github_url = f"http://127.0.0.1:{hang.getsockname()[1]}"
    print(f"lease={args.lease}s (renewed every {args.lease / 3:.1f} s), claim poll 1 s")
    for run in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="route-me-bench-"))
        db = cluster.new_database()
        instances = start_instances(2, db=db, work=work, github_url=github_url,
                                    ROUTE_ME_LEASE_SECONDS=str(args.lease))
        try:
            payload = issue_labeled(owner="octo-org", repo="widgets", number=1, label="route-me", body="x")
            body = __import__("json").dumps(payload).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{instances[0][1]}/api/github/webhooks", data=body, method="POST",
                headers={"X-GitHub-Event": "issues", "X-GitHub-Delivery": f"takeover-{run}",
                         "X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=5).read()
            with psycopg.connect(db, autocommit=True) as conn:
                def owner() -> str | None:
                    row = conn.execute("SELECT owner FROM jobs WHERE status='running'").fetchone()
                    return row[0] if row else None

                while owner() is None:
                    time.sleep(0.02)
                first = owner()
                victim = int(first.split(":")[0].split("-")[1])
                # Die at a random point of the lease, as a real crash would.
                time.sleep((run + 0.5) / args.runs * args.lease / 3)
                instances[victim][0].send_signal(signal.SIGKILL)
                killed = time.monotonic()
                while (now := owner()) in (None, first):
                    time.sleep(0.02)
                took = time.monotonic() - killed
            print(f"run {run + 1}: killed {first.split(':')[0]}, taken over by {now.split(':')[0]} "
                  f"after {took:.2f} s")
        finally:
            stop(instances)
            shutil.rmtree(work, ignore_errors=True)
    hang.close()
    cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("intake")
    one.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    one.add_argument("--instances", type=int, default=1)
    one.add_argument("--kind", choices=["comment", "job"], default="job")
    one.add_argument("--seconds", type=int, default=10)
    one.add_argument("--connections", type=int, default=32)
    one.add_argument("--stall", action="store_true",
                     help="run each instance under bench/loop_lag.py and report its event loop's stalls")
    two = commands.add_parser("takeover")
    two.add_argument("--lease", type=float, default=30.0)
    two.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.command == "intake":
        if shutil.which("wrk") is None:
            raise SystemExit("wrk is not installed (apt-get install wrk)")
        intake(args)
    else:
        takeover(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
