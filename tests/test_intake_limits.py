"""Hostile unauthenticated senders against the real `route-me serve` (a subprocess on loopback).

Each test holds a few raw sockets that misbehave (a head or a body sent a byte at a time, a
body announced larger than the cap, connections that never send anything) and checks that
the service cuts them off within its limits while real signed deliveries are answered at
once.  The limits are set small here (half a second, 16 connections) so the tests are fast.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.app_keys import generate_app_key
from tests.fakes.deliveries import headers_for, issue_comment
from tests.fakes.harness import WEBHOOK_SECRET, bot_env

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/github/webhooks"
HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 16
MAX_BODY = 4 * 1024 * 1024
LARGE = 1024 * 1024  # over bot.intake_limits.LARGE_BODY_BYTES, under MAX_BODY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:port`` of `python -m bot serve` with small intake limits."""
    tmp = tmp_path_factory.mktemp("intake")
    private, _ = generate_app_key()
    port = free_port()
    env = dict(os.environ, **bot_env(tmp, github_url="http://127.0.0.1:9", private_key=private),
               HOST="127.0.0.1", PORT=str(port), LOG_LEVEL="WARNING",
               ROUTE_ME_HEADER_TIMEOUT=str(HEADER_TIMEOUT), ROUTE_ME_BODY_TIMEOUT=str(BODY_TIMEOUT),
               ROUTE_ME_MAX_CONNECTIONS=str(MAX_CONNECTIONS), ROUTE_ME_MAX_LARGE_BODIES="1",
               ROUTE_ME_MAX_BODY_BYTES=str(MAX_BODY))
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "serve.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def real_delivery(url: str, n: int) -> tuple[int, float]:
    """POST a signed comment without a command (answered 200); its status and seconds taken."""
    body = json.dumps(issue_comment(owner="octo-org", repo="widgets", number=1, body="Looks good.")).encode()
    headers = headers_for("issue_comment", body, secret=WEBHOOK_SECRET, delivery_id=f"real-{n}-{time.time()}")
    request = urllib.request.Request(url + PATH, data=body, headers=headers, method="POST")
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()
        return response.status, time.monotonic() - started


def connect(url: str) -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def head(length: int, *, extra: str = "") -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: ping\r\nX-GitHub-Delivery: hostile\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n").encode()


def answer(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_body_announced_over_the_cap_is_refused_before_it_is_sent(server: str) -> None:
    sock = connect(server)
    sock.sendall(head(MAX_BODY + 1))
    started = time.monotonic()
    reply = answer(sock, timeout=3)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert time.monotonic() - started < 2.5  # not after waiting for a body that never comes
    sock.close()


def test_a_body_that_trickles_gets_408_and_the_connection_is_closed(server: str) -> None:
    sock = connect(server)
    sock.sendall(head(1000) + b"{")
    started = time.monotonic()
    sock.settimeout(0.2)
    reply = b""
    while time.monotonic() - started < 4:
        try:
            sock.sendall(b" ")  # one byte every 0.2 s: never the whole body within the deadline
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if not chunk:
            break
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert BODY_TIMEOUT <= time.monotonic() - started < BODY_TIMEOUT + 2.5
    sock.close()


def test_a_connection_that_trickles_its_head_is_closed(server: str) -> None:
    sock = connect(server)
    sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 4 and not closed:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        closed = closed_by_server(sock, 0.1)
    assert closed and time.monotonic() - started < HEADER_TIMEOUT + 2.0
    sock.close()


def test_keep_alive_idling_is_bounded_like_a_head(server: str) -> None:
    body = b"{}"
    headers = headers_for("ping", body, secret=WEBHOOK_SECRET, delivery_id=f"ka-{time.time()}")
    request = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body
    sock = connect(server)
    sock.sendall(request)
    sock.settimeout(3)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    assert closed_by_server(sock, 4)
    assert time.monotonic() - started < HEADER_TIMEOUT + 2.0
    sock.close()


def test_idle_connections_over_the_cap_are_evicted_and_real_deliveries_still_answered(server: str) -> None:
    idle = [connect(server) for _ in range(3 * MAX_CONNECTIONS)]
    time.sleep(0.2)
    status, seconds = real_delivery(server, 1)
    assert status == 200 and seconds < 1.0
    evicted = sum(closed_by_server(sock, 0.05) for sock in idle)
    # The oldest are closed as new ones arrive: at most the cap stays open.
    assert evicted >= 2 * MAX_CONNECTIONS
    for sock in idle:
        sock.close()


def test_large_bodies_are_read_a_few_at_a_time_and_the_excess_gets_503(server: str) -> None:
    holder = connect(server)  # takes the only large-body slot, then trickles
    holder.sendall(head(LARGE) + b"{")
    time.sleep(0.1)
    next_in_line = connect(server)  # waits for the slot, gets it when the holder times out
    next_in_line.sendall(head(LARGE))
    time.sleep(0.1)
    turned_away = connect(server)  # still waiting when its deadline passes
    turned_away.sendall(head(LARGE))
    time.sleep(0.1)
    status, seconds = real_delivery(server, 2)  # small bodies need no slot
    assert status == 200 and seconds < 1.0
    assert answer(holder).startswith(b"HTTP/1.1 408")
    late = answer(turned_away)
    assert late.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in late, late[:300]
    assert answer(next_in_line).startswith(b"HTTP/1.1 408")
    for sock in (holder, next_in_line, turned_away):
        sock.close()


# Deeply nested JSON ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_025, 100_000])  # just past orjson's limit; the issue's body
async def test_signed_json_nested_too_deep_gets_400_not_500(make_bot, github, depth: int) -> None:
    bot = await make_bot()
    body = b'{"a":' * depth + b"1" + b"}" * depth
    response = await bot.send("issues", None, body=body)
    assert response.status == 400
    assert "JSON" in (await response.json())["error"]
    assert github.requests == []


def test_parse_json_says_valueerror_for_deep_nesting_wherever_a_job_parses_again() -> None:
    from bot.core.json_body import parse_json

    with pytest.raises(ValueError):
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert parse_json(b"[" * 500 + b"]" * 500) == parse_json(b"[" * 500 + b"]" * 500)  # still parsed
