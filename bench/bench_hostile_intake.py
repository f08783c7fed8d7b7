"""Real deliveries while hostile unauthenticated senders are connected: the server's memory and latency.

    .venv/bin/python bench/bench_hostile_intake.py [--seconds 20] [--slow-bodies 60] [--trickle-heads 1500]
    .venv/bin/python bench/bench_hostile_intake.py --server-root /tmp/route-me-before   # an older tree, same run

Starts the real service (`python -m bot serve`, the tree given by --server-root, this one by
default) on loopback with a fresh state file and GitHub a closed port, then, for --seconds:

- sends real signed deliveries (a 14 KB comment without a command, answered 200 once its
  delivery id is committed), one new connection each as GitHub does, --rate a second;
- after a quiet first quarter (the baseline), connects the hostile senders, all unauthenticated
  and on loopback only, bounded in count and in time:
  `--slow-bodies` announce a body under the size cap (--slow-mib) and send it at full speed
  except for its last byte, which never comes; `--trickle-heads` send a request head one
  header line a second and never finish it; `--oversized` announce a body four times the cap
  and send data until the server stops reading.

It samples the server's RSS (VmRSS from /proc) every 100 ms and reports, for the quiet
baseline and for the hostile phase: real deliveries answered, failed, p50/p99/max latency,
and peak RSS; plus how many hostile connections were still open at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.app_keys import generate_app_key  # noqa: E402
from tests.fakes.deliveries import headers_for, issue_comment  # noqa: E402

SECRET = "bench-secret"
PATH = "/api/github/webhooks"
MAX_BODY = 25 * 1024 * 1024  # the service's default cap (ROUTE_ME_MAX_BODY_BYTES)


def real_body() -> bytes:
    """A 14 KB comment without a command, as bench_intake.py sends (most real traffic)."""
    data = issue_comment(owner="octo-org", repo="widgets", number=1, body="Looks good to me.")
    rng = random.Random(7)
    words = "the function returns a wrong value when input is empty and the parser raises".split()
    padding: list[str] = []
    while len(json.dumps(data)) + sum(len(w) + 1 for w in padding) < 14 * 1024:
        padding.append(rng.choice(words))
    data["comment"]["body"] += " " + " ".join(padding)
    return json.dumps(data).encode()


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        return await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None


def head(length: int) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: issues\r\nX-GitHub-Delivery: hostile\r\n"
            f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: {length}\r\n\r\n").encode()


class Hostile:
    """Unauthenticated senders; each counts itself while its connection is open."""

    def __init__(self, port: int, *, until: float) -> None:
        self.port = port
        self.until = until
        self.open = 0
        self.opened = 0
        self.refused = 0

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Keep the connection until the server closes it or the phase ends."""
        while time.monotonic() < self.until:
            try:
                if not await asyncio.wait_for(reader.read(65536), timeout=max(0.01, self.until - time.monotonic())):
                    return
            except (TimeoutError, OSError):
                return

    async def _run(self, send: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        pair = await open_raw(self.port)
        if pair is None:
            self.refused += 1
            return
        reader, writer = pair
        self.open += 1
        self.opened += 1
        try:
            await send(reader, writer)
        except (OSError, TimeoutError):
            pass
        finally:
            self.open -= 1
            writer.transport.abort()

    async def slow_body(self, size: int) -> None:
        async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(head(size))
            chunk = b"x" * 65536
            sent = 0
            while sent < size - 1 and time.monotonic() < self.until:
                piece = chunk[: min(len(chunk), size - 1 - sent)]
                writer.write(piece)
                sent += len(piece)
                await asyncio.wait_for(writer.drain(), timeout=max(0.01, self.until - time.monotonic()))
            await self._hold(reader)  # the last byte never comes
        await self._run(send)

    async def trickle_head(self) -> None:
        async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            while time.monotonic() < self.until:
                writer.write(b"X-Trickle: 1\r\n")
                await writer.drain()
                try:
                    if not await asyncio.wait_for(reader.read(1), timeout=1.0):
                        return  # closed by the server
                except TimeoutError:
                    continue
        await self._run(send)

    async def oversized(self) -> None:
        await self.slow_body(4 * MAX_BODY)


async def deliveries(port: int, *, rate: float, until: float, body: bytes,
                     results: list[tuple[float, float, bool]]) -> None:
    """(sent at, seconds, ok) for each real delivery; one connection each, 5 s timeout."""
    import aiohttp

    n = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        next_at = time.monotonic()
        pending: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            headers = headers_for("issue_comment", body, secret=SECRET, delivery_id=f"real-{i}-{time.time()}")
            started = time.monotonic()
            ok = False
            try:
                async with session.post(f"http://127.0.0.1:{port}{PATH}", data=body, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=5)) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError, OSError):
                ok = False
            results.append((started, time.monotonic() - started, ok))

        while time.monotonic() < until:
            n += 1
            task = asyncio.create_task(one(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*pending)


async def sample_rss(pid: int, *, until: float, samples: list[tuple[float, float]]) -> None:
    while time.monotonic() < until:
        samples.append((time.monotonic(), rss_mib(pid)))
        await asyncio.sleep(0.1)


def summary(name: str, results: list[tuple[float, float, bool]], *, rss: list[float]) -> str:
    times = sorted(seconds for _, seconds, ok in results if ok)
    failed = sum(1 for *_, ok in results if not ok)
    if times:
        p50 = statistics.median(times) * 1000
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
        spread = f"p50={p50:.1f} ms p99={p99:.1f} ms max={times[-1] * 1000:.0f} ms"
    else:
        spread = "no delivery answered"
    return (f"{name}: real deliveries ok={len(times)} failed={failed} {spread} "
            f"peak RSS={max(rss, default=0):.0f} MiB")


async def attack(args: argparse.Namespace, *, port: int, until: float) -> dict[str, int]:
    """The hostile senders (in a process of their own, so their work never delays the measuring loop)."""
    hostile = Hostile(port, until=until)
    size = args.slow_mib * 1024 * 1024
    tasks = [asyncio.create_task(hostile.slow_body(size)) for _ in range(args.slow_bodies)]
    tasks += [asyncio.create_task(hostile.oversized()) for _ in range(args.oversized)]
    for i in range(args.trickle_heads):
        tasks.append(asyncio.create_task(hostile.trickle_head()))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # connect in bursts, not all in one loop turn
    await asyncio.sleep(max(0.0, until - 0.5 - time.monotonic()))
    still_open = hostile.open
    await asyncio.gather(*tasks)
    return {"opened": hostile.opened, "refused": hostile.refused, "still_open": still_open}


def attack_process(args: argparse.Namespace, *, port: int, until: float, out: multiprocessing.Queue) -> None:
    out.put(asyncio.run(attack(args, port=port, until=until)))


async def run(args: argparse.Namespace, *, port: int, pid: int) -> None:
    start = time.monotonic()
    end = start + args.seconds
    hostile_from = start + args.seconds / 4
    body = real_body()
    results: list[tuple[float, float, bool]] = []
    rss: list[tuple[float, float]] = []
    tasks = [asyncio.create_task(deliveries(port, rate=args.rate, until=end, body=body, results=results)),
             asyncio.create_task(sample_rss(pid, until=end, samples=rss))]
    await asyncio.sleep(hostile_from - time.monotonic())
    out: multiprocessing.Queue = multiprocessing.Queue()
    attacker = multiprocessing.Process(target=attack_process, args=(args,),
                                       kwargs={"port": port, "until": end, "out": out}, daemon=True)
    attacker.start()
    await asyncio.gather(*tasks)
    stats = await asyncio.to_thread(out.get, True, 60)
    attacker.join(timeout=30)
    quiet = [r for r in results if r[0] < hostile_from]
    loud = [r for r in results if r[0] >= hostile_from + 1]  # once the senders are connected
    print(f"server={args.server_root or ROOT} seconds={args.seconds} rate={args.rate}/s body={len(body)} bytes")
    print(f"hostile: slow bodies={args.slow_bodies}x{args.slow_mib} MiB, oversized={args.oversized}, "
          f"trickling heads={args.trickle_heads}; connections opened={stats['opened']} "
          f"refused at connect={stats['refused']} still open 0.5 s before the end={stats['still_open']}")
    print(summary("quiet", quiet, rss=[mib for at, mib in rss if at < hostile_from]))
    print(summary("hostile", loud, rss=[mib for at, mib in rss if at >= hostile_from]))
    if args.verbose:
        slow = [f"+{at - start:.1f}s:{seconds * 1000:.0f}ms" for at, seconds, ok in results if seconds > 0.05 or not ok]
        print("slow or failed deliveries (sent at: took):", " ".join(slow) or "none")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=20, help="real deliveries a second")
    parser.add_argument("--slow-bodies", type=int, default=60)
    parser.add_argument("--slow-mib", type=int, default=16, help="size each slow body announces (under the cap)")
    parser.add_argument("--oversized", type=int, default=10)
    parser.add_argument("--trickle-heads", type=int, default=1500)
    parser.add_argument("--port", type=int, default=18182)
    parser.add_argument("--verbose", action="store_true", help="list each delivery over 50 ms")
    parser.add_argument("--server-root", help="serve this tree instead (e.g. an older commit's `git archive`)")
    args = parser.parse_args()
    if args.seconds > 120 or args.slow_bodies + args.oversized + args.trickle_heads > 5000:
        raise SystemExit("keep it bounded: at most 120 s and 5,000 hostile connections")

    work = Path(tempfile.mkdtemp(prefix="route-me-hostile-"))
    private, _ = generate_app_key()
    root = Path(args.server_root) if args.server_root else ROOT
    env = dict(os.environ, GITHUB_APP_ID="1", GITHUB_PRIVATE_KEY=private, GITHUB_WEBHOOK_SECRET=SECRET,
               GITHUB_API_URL="http://127.0.0.1:1", ANTHROPIC_API_KEY="unused", OPENAI_API_KEY="unused",
               ROUTE_ME_DB=str(work / "state.db"), ROUTE_ME_DATA_DIR=str(work / "data"),
               PORT=str(args.port), HOST="127.0.0.1", LOG_LEVEL="CRITICAL", PYTHONPATH=str(root))
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the service did not start") from None
                time.sleep(0.2)
        asyncio.run(run(args, port=args.port, pid=server.pid))
    finally:
        server.kill()  # the old tree may take its time closing hostile connections
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
