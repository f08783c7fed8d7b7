"""Settings are validated at start, one line per problem naming the variable; no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from tests.fakes.app_keys import generate_app_key

ROOT = Path(__file__).resolve().parent.parent


def good_env(**overrides: str) -> dict[str, str]:
    private, _ = generate_app_key()
    env = {"GITHUB_APP_ID": "1234", "GITHUB_PRIVATE_KEY": private, "GITHUB_WEBHOOK_SECRET": "s",
           "ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"}
    env.update(overrides)
    return env


def problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return caught.value.problems


def test_defaults():
    settings = load_settings(good_env())
    assert settings.github_api_url == "https://api.github.com"
    assert (settings.host, settings.port, settings.webhook_path) == ("0.0.0.0", 8080, "/api/github/webhooks")
    assert settings.db == "./route-me.db"
    assert settings.judge == settings.strong
    assert "PRIVATE KEY" not in repr(settings)  # secrets stay out of logs


def test_every_missing_variable_is_named_once():
    found = problems({})
    joined = "\n".join(found)
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "ANTHROPIC_API_KEY",
                 "OPENAI_API_KEY"):
        assert sum(line.startswith(name) for line in found) == 1, (name, joined)


@pytest.mark.parametrize(("name", "value"), [
    ("GITHUB_APP_ID", "twelve"), ("PORT", "http"), ("PORT", "70000"), ("ROUTE_ME_STRONG", "opus"),
    ("ROUTE_ME_FALLBACKS", "anthropic:claude-sonnet-5-5, nonsense"), ("GITHUB_API_URL", "ftp:/x"),
    ("WEBHOOK_PATH", "hooks"), ("ROUTE_ME_DAILY_BUDGET_USD", "-3"), ("ROUTE_ME_DB", "postgresql://db:port/x"), ("ROUTE_ME_DB", "postgresql://db"),
    ("ROUTE_ME_LEASE_SECONDS", "0.1"), ("ROUTE_ME_SHUTDOWN_GRACE", "soon"),
    ("GITHUB_PRIVATE_KEY", "not a key"), ("ROUTE_ME_WORKERS", "0"), ("ROUTE_ME_WORKERS", "many"),
    ("ROUTE_ME_PLANNER_TOKEN_BUDGET", "10"), ("ROUTE_ME_MODEL_TIMEOUT", "soon"),
    ("ROUTE_ME_MAX_BODY_BYTES", "-1"),
])
def test_a_bad_value_names_its_variable(name, value):
    found = problems(good_env(**{name: value}))
    assert any(line.startswith(name) for line in found), found


def test_private_key_with_literal_backslash_n_is_accepted():
    private, _ = generate_app_key()
    one_line = private.replace("\n", "\\n")
    assert "\n" not in one_line
    settings = load_settings(good_env(GITHUB_PRIVATE_KEY=one_line))
    assert settings.github_private_key.startswith("-----BEGIN RSA PRIVATE KEY-----\n")


def test_private_key_path(tmp_path):
    private, _ = generate_app_key()
    path = tmp_path / "app.pem"
    path.write_text(private)
    env = good_env(GITHUB_PRIVATE_KEY_PATH=str(path))
    del env["GITHUB_PRIVATE_KEY"]
    assert load_settings(env).github_private_key == private
    env["GITHUB_PRIVATE_KEY_PATH"] = str(tmp_path / "missing.pem")
    assert any(line.startswith("GITHUB_PRIVATE_KEY_PATH") for line in problems(env))


def test_extra_provider_needs_its_key_and_base_url():
    found = problems(good_env(ROUTE_ME_CHEAP="moonshot:kimi-k2.6"))
    assert any(line.startswith("ROUTE_ME_PROVIDER_MOONSHOT_API_KEY") for line in found)
    assert any(line.startswith("ROUTE_ME_PROVIDER_MOONSHOT_BASE_URL") for line in found)
    settings = load_settings(good_env(ROUTE_ME_CHEAP="moonshot:kimi-k2.6",
                                      ROUTE_ME_PROVIDER_MOONSHOT_API_KEY="k",
                                      ROUTE_ME_PROVIDER_MOONSHOT_BASE_URL="https://api.moonshot.ai/v1"))
    assert settings.cheap == "moonshot:kimi-k2.6"


def test_serve_without_settings_prints_one_line_per_problem_and_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "ANTHROPIC_", "OPENAI_", "ROUTE_ME_"))}
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("route-me cannot start")
    assert any(line.strip().startswith("GITHUB_APP_ID: missing") for line in lines)
    assert any(line.strip().startswith("GITHUB_WEBHOOK_SECRET: missing") for line in lines)


def test_serve_reads_a_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("GITHUB_APP_ID=99\nGITHUB_WEBHOOK_SECRET=s\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "ANTHROPIC_", "OPENAI_", "ROUTE_ME_"))}
    result = subprocess.run([sys.executable, "-m", "bot", "doctor"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    # doctor reports each problem as a FAIL line on stdout and exits 1 (tests/test_doctor.py)
    assert result.returncode == 1
    assert "GITHUB_APP_ID" not in result.stdout  # came from .env
    assert "FAIL settings: GITHUB_PRIVATE_KEY" in result.stdout


def _prices_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "prices.json"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("text", "reason"), [
    ('{"claude-opus-5-5": {"input": 1, "output": 2}', "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"prices": [1]}', "'prices' must be an object"),
    ('{"m": {"input": -1, "output": 2}}', "invalid price for 'm': input"),
    ('{"m": {"input": 1}}', "invalid price for 'm': output"),
    ('{"m": "cheap"}', "must be an object"),
])
def test_a_bad_price_file_is_one_line_naming_the_variable(tmp_path, text, reason):
    found = problems(good_env(ROUTE_ME_PRICES=_prices_file(tmp_path, text)))
    lines = [line for line in found if line.startswith("ROUTE_ME_PRICES")]
    assert len(lines) == 1 and reason in lines[0] and "\n" not in lines[0], found


def test_a_copy_of_the_shipped_price_file_and_a_flat_one_are_both_accepted(tmp_path):
    shipped = (ROOT / "bot" / "data" / "prices.json").read_text()
    assert load_settings(good_env(ROUTE_ME_PRICES=_prices_file(tmp_path, shipped))).prices_file is not None
    flat = '{"_note": "ours", "moonshot:kimi-k2.6": {"input": 0.5, "output": 2}}'
    assert load_settings(good_env(ROUTE_ME_PRICES=_prices_file(tmp_path, flat))).prices_file is not None


def test_an_extra_provider_key_without_its_base_url_is_reported_once():
    found = problems(good_env(ROUTE_ME_PROVIDER_MOONSHOT_API_KEY="m-key", ROUTE_ME_CHEAP="moonshot:kimi-k2.6"))
    assert [line for line in found if "MOONSHOT" in line] == [
        "ROUTE_ME_PROVIDER_MOONSHOT_BASE_URL: missing (ROUTE_ME_PROVIDER_MOONSHOT_API_KEY is set; the provider's "
        "OpenAI-compatible endpoint, e.g. https://api.moonshot.ai/v1)"]
    # Declared but unused by any model setting: still a mistake the registry would trip on later.
    found = problems(good_env(ROUTE_ME_PROVIDER_SPARE_API_KEY="s-key"))
    assert found == [found[0]] and found[0].startswith("ROUTE_ME_PROVIDER_SPARE_BASE_URL: missing")
    assert "m-key" not in "\n".join(found)


def test_a_fallback_on_an_unconfigured_provider_is_reported():
    found = problems(good_env(ROUTE_ME_FALLBACKS="anthropic:claude-sonnet-5-5, openrouter:kimi-k2.6"))
    assert found == [
        "ROUTE_ME_PROVIDER_OPENROUTER_API_KEY: missing (needed for openrouter:kimi-k2.6)",
        "ROUTE_ME_PROVIDER_OPENROUTER_BASE_URL: missing (the OpenAI-compatible endpoint for 'openrouter')",
    ]
