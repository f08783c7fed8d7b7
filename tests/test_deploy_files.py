"""The deployment files agree with the code: Fly's kill_timeout and compose's stop grace match
ROUTE_ME_SHUTDOWN_GRACE, and compose's database URL is one the settings accept."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from bot.settings import Settings, load_settings
from tests.fakes.app_keys import generate_app_key

ROOT = Path(__file__).resolve().parent.parent


def test_fly_kill_timeout_matches_the_shutdown_grace():
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    grace = float(fly["env"].get("ROUTE_ME_SHUTDOWN_GRACE", Settings.shutdown_grace))
    assert fly["kill_signal"] == "SIGTERM"
    assert float(fly["kill_timeout"]) == grace == Settings.shutdown_grace


def test_compose_runs_two_instances_on_postgres_with_the_grace():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    private, _ = generate_app_key()
    instances = [s for name, s in compose["services"].items() if name.startswith("route-me")]
    assert len(instances) >= 2
    names = set()
    for service in instances:
        env = service["environment"]
        assert service["stop_grace_period"] == f"{env['ROUTE_ME_SHUTDOWN_GRACE']}s"
        settings = load_settings({**env, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": private,
                                  "GITHUB_WEBHOOK_SECRET": "s", "ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"})
        assert settings.db.startswith("postgresql://") and settings.db.endswith("@db:5432/route_me")
        names.add(settings.instance)
    assert len(names) == len(instances)  # each instance its own lease owner name
