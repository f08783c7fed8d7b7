"""`route-me doctor` against the fakes: ok when everything works, and each broken piece named with its fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.cli import main as cli_main
from tests import scenario as sc
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.fakes.app_keys import generate_app_key
from tests.fakes.harness import bot_env

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def doctor(tmp_path, github, anthropic, openai, monkeypatch, capsys):
    """``code, lines = await doctor(KEY=value, ...)``: the real CLI on an --env-file wired to the fakes."""
    private, _ = generate_app_key()
    base = bot_env(tmp_path, github_url=github.url, private_key=private.replace("\n", "\\n"),
                   anthropic_url=anthropic.base_url, openai_url=openai.base_url,
                   ANTHROPIC_API_KEY=ANTHROPIC_KEY, OPENAI_API_KEY=OPENAI_KEY)
    for key in base:  # the file is the only source, whatever the machine's environment holds
        monkeypatch.delenv(key, raising=False)

    async def run(**overrides: str) -> tuple[int, list[str]]:
        env = {**base, **overrides}
        path = tmp_path / "doctor.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items() if v is not None))
        capsys.readouterr()
        # The fakes serve on this loop; the CLI runs its own in a thread, as a real process would.
        code = await asyncio.to_thread(cli_main, ["doctor", "--env-file", str(path)])
        return code, capsys.readouterr().out.splitlines()

    return run


def line(lines: list[str], name: str) -> str:
    found = [entry for entry in lines if entry[5:].startswith(name + ":")]
    assert len(found) == 1, (name, lines)
    return found[0]


async def test_everything_ok_against_the_fakes(doctor, github, anthropic):
    sc.seed(github)
    code, lines = await doctor()
    assert code == 0, lines
    assert lines[-1] == "all checks passed"
    assert line(lines, "GitHub App").startswith("ok   GitHub App: the JWT is accepted: App 'route-me' (id 1234")
    assert line(lines, "installations") == "ok   installations: installed on 1 account(s)"
    assert line(lines, "provider anthropic").startswith("ok   provider anthropic: the key works")
    assert line(lines, "provider openai").startswith("ok   provider openai: the key works")
    assert line(lines, "state store").startswith("ok   state store:")
    assert line(lines, "snapshots").startswith("ok   snapshots:")
    # the provider check is a models list, never a generation
    assert anthropic.calls == 0


async def test_a_key_of_another_app_is_named(doctor, github):
    sc.seed(github)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    code, lines = await doctor(GITHUB_PRIVATE_KEY=other.replace("\n", "\\n"))
    assert code == 1
    assert line(lines, "GitHub App").startswith("FAIL GitHub App: GitHub refused the App JWT (401)")
    assert lines[-1] == "1 problem(s) found"


async def test_a_key_that_does_not_parse_is_named(doctor):
    private, _ = generate_app_key()
    broken = private.replace("\n", "\\n").replace("MII", "XXX", 1)
    code, lines = await doctor(GITHUB_PRIVATE_KEY=broken)
    assert code == 1
    assert "FAIL settings: GITHUB_PRIVATE_KEY: the PEM private key could not be parsed" in lines


async def test_a_wrong_app_id_is_named(doctor, github):
    sc.seed(github)
    code, lines = await doctor(GITHUB_APP_ID="999")
    assert code == 1
    assert "GITHUB_APP_ID 999 is not the App this private key belongs to" in line(lines, "GitHub App")


async def test_an_app_installed_nowhere_says_where_to_install_it(doctor):
    code, lines = await doctor()
    assert code == 1
    assert line(lines, "installations").startswith("FAIL installations: the App is installed nowhere: install it")


async def test_an_unreachable_provider_and_a_refused_key_are_named(doctor, github):
    sc.seed(github)
    code, lines = await doctor(OPENAI_BASE_URL=UNREACHABLE + "/v1", ANTHROPIC_API_KEY="sk-ant-wrong")
    assert code == 1
    assert line(lines, "provider openai").startswith(f"FAIL provider openai: cannot reach {UNREACHABLE}/v1")
    assert line(lines, "provider anthropic") == (
        "FAIL provider anthropic: the key was refused (401): set a valid ANTHROPIC_API_KEY")
    assert line(lines, "GitHub App").startswith("ok")


async def test_an_unpriced_model_fails_only_under_a_budget(doctor, github, openai):
    sc.seed(github)
    openai.models.append("mystery-model")
    code, lines = await doctor(ROUTE_ME_CHEAP="openai:mystery-model")
    assert code == 0, lines
    assert "costs of openai:mystery-model will show as unknown" in line(lines, "prices")
    code, lines = await doctor(ROUTE_ME_CHEAP="openai:mystery-model", ROUTE_ME_DAILY_BUDGET_USD="5")
    assert code == 1
    prices = line(lines, "prices")
    assert prices.startswith("FAIL prices: ROUTE_ME_DAILY_BUDGET_USD is set, so every call to openai:mystery-model")
    assert "ROUTE_ME_PRICES" in prices


async def test_an_unwritable_store_and_snapshot_folder_are_named(doctor, github, tmp_path: Path):
    sc.seed(github)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, lines = await doctor(ROUTE_ME_DB=str(blocker / "route-me.db"), ROUTE_ME_DATA_DIR=str(blocker / "snaps"))
    assert code == 1
    store = line(lines, "state store")
    assert store.startswith(f"FAIL state store: {blocker}/route-me.db:") and "set ROUTE_ME_DB" in store
    assert line(lines, "snapshots").startswith(f"FAIL snapshots: cannot write in {blocker}/snaps")
    assert lines[-1] == "2 problem(s) found"


async def test_an_unreachable_github_is_one_line_not_a_traceback(doctor):
    code, lines = await doctor(GITHUB_API_URL=UNREACHABLE)
    assert code == 1
    assert line(lines, "GitHub App").startswith(f"FAIL GitHub App: cannot reach {UNREACHABLE}")
