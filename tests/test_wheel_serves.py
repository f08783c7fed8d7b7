"""The built wheel serves: installed (not editable) into a directory of its own, its `route-me serve`
console script starts, answers /healthz and /metrics, logs JSON, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fakes.app_keys import generate_app_key
from tests.test_packaging import build_wheel


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_installed_wheel_serves_healthz_and_metrics(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    script = target / "bin" / "route-me"
    assert script.is_file()
    cwd = tmp_path / "run"
    cwd.mkdir()
    port = free_port()
    private, _ = generate_app_key()
    deps = [p for p in sys.path if p.endswith("site-packages")]  # this environment's dependencies, after the wheel
    env = {"PYTHONPATH": ":".join([str(target), *deps]), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "GITHUB_APP_ID": "1234", "GITHUB_PRIVATE_KEY": private, "GITHUB_WEBHOOK_SECRET": "wheel-secret",
           "GITHUB_API_URL": "http://127.0.0.1:9", "ANTHROPIC_API_KEY": "sk-ant-wheel", "OPENAI_API_KEY": "sk-wheel",
           "HOST": "127.0.0.1", "PORT": str(port), "ROUTE_ME_DB": str(cwd / "state.db"),
           "ROUTE_ME_DATA_DIR": str(cwd / "snapshots"), "LOG_FORMAT": "json", "ROUTE_ME_SHUTDOWN_GRACE": "1"}
    server = subprocess.Popen([sys.executable, str(script), "serve"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.loads(response.read())
                    break
            except OSError:
                time.sleep(0.2)
        if health is None:
            server.kill()
            raise AssertionError(f"no /healthz (exit {server.wait()}): {server.communicate()[1][-600:]}")
        assert health["status"] == "ok", health
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            assert b"route_me_queue_depth 0.0" in response.read()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, err = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
    assert server.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    ready = [r for r in lines if r["message"].startswith("route-me ready")]
    assert ready, err[-2000:]
    assert f"127.0.0.1:{port}" in ready[0]["message"]
    # the wheel's copy ran, not this checkout
    imported = subprocess.run([sys.executable, "-c", "import bot; print(bot.__file__)"], cwd=cwd, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert Path(imported).is_relative_to(target)
    assert "wheel-secret" not in err and "sk-ant-wheel" not in err
