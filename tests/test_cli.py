"""The command line as an operator meets it: --version, readable errors (never a traceback), costs filters and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.core.usage import Usage
from bot.models.ledger import LedgerEntry
from bot.stages.runtime import ledger_row
from bot.store import SqliteStore
from tests.fakes.app_keys import generate_app_key

SETTINGS = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH", "GITHUB_WEBHOOK_SECRET",
            "GITHUB_API_URL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ROUTE_ME_DB", "ROUTE_ME_DATA_DIR")


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch) -> Path:
    for key in SETTINGS:
        monkeypatch.delenv(key, raising=False)
    private, _ = generate_app_key()
    path = tmp_path / "cli.env"
    one_line = private.replace("\n", "\\n")
    path.write_text(f"GITHUB_APP_ID=1234\nGITHUB_PRIVATE_KEY={one_line}\n"
                    "GITHUB_WEBHOOK_SECRET=s3cret\nGITHUB_API_URL=http://127.0.0.1:9\n"
                    f"ANTHROPIC_API_KEY=k\nOPENAI_API_KEY=k\nROUTE_ME_DB={tmp_path / 'state.db'}\n"
                    f"ROUTE_ME_DATA_DIR={tmp_path / 'snapshots'}\n")
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli_main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "route-me 0.1.0"


@pytest.mark.parametrize("repo", ["calc", "octo-org/calc/extra", "octo org/calc", "-x/calc", "octo-org/.."])
def test_a_bad_repo_value_is_one_line(env_file, capsys, repo):
    code = cli_main(["--env-file", str(env_file), "bench", f"--repo={repo}", "--issue", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "is not owner/name (for example octo-org/calc)" in err and "Traceback" not in err
    assert cli_main(["costs", f"--repo={repo}", "--db", str(env_file.parent / "none.db")]) == 2


def test_an_unreachable_github_is_one_line(env_file, capsys):
    code = cli_main(["bench", "--env-file", str(env_file), "--repo", "octo-org/calc", "--issue", "1",
                     "--installation-id", "42", "--splits", "OK"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().startswith("route-me bench: cannot reach GitHub at http://127.0.0.1:9")
    assert "Traceback" not in err


def test_register_without_a_manifest_says_what_to_do(env_file, tmp_path, capsys):
    code = cli_main(["register", "--env-file", str(env_file), "--manifest", str(tmp_path / "missing.yml"),
                     "--out", str(tmp_path / "new.env"), "--port", "0", "--no-browser"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot read the manifest" in err and "--manifest app.yml" in err
    assert not (tmp_path / "new.env").exists()


def entry(repo: str, *, cost: float) -> LedgerEntry:
    return LedgerEntry(at=1.0, installation_id=42, repo=repo, issue=7, stage="plan",
                       requested_model="anthropic:claude-opus-5-5", model="anthropic:claude-opus-5-5",
                       usage=Usage(input_tokens=1000, output_tokens=200), cost_usd=cost, strong_cost_usd=cost,
                       latency_ms=5, outcome="ok", fallback_reason=None)


def test_costs_says_when_a_filter_matched_nothing_and_prints_json(tmp_path, capsys):
    db = tmp_path / "state.db"
    store = SqliteStore(db)
    store.add_ledger_row(ledger_row(entry("octo-org/calc", cost=0.25)))
    store.add_ledger_row(ledger_row(entry("octo-org/web", cost=0.5)))
    store.close()

    assert cli_main(["costs", "--db", str(db), "--repo", "octo-org/nothing"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "no model calls recorded for octo-org/nothing; the ledger has octo-org/calc, octo-org/web"

    assert cli_main(["costs", "--db", str(db), "--repo", "octo-org/calc", "--by", "model", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == {"calls": 1, "priced_calls": 1, "cost_usd": 0.25, "all_strong_usd": 0.25,
                             "saving_usd": 0.0}
    [row] = data["by"]["model"]
    assert row["key"] == "anthropic:claude-opus-5-5" and row["input_tokens"] == 1000

    assert cli_main(["costs", "--db", str(db)]) == 0
    assert "Total: $0.7500 over 2 priced calls" in capsys.readouterr().out
