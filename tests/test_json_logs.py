"""LOG_FORMAT=json: one object per line with the job's context, no secret on any line, levels validated."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logcontext import JsonFormatter, Redactor, make_handler, secret_values
from bot.settings import SettingsError, load_settings
from tests import scenario as sc
from tests.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.fakes.app_keys import generate_app_key
from tests.fakes.harness import WEBHOOK_SECRET
from tests.test_score_stage import run_to_review


@pytest.fixture
def json_lines(caplog):
    """Every log line of the test (DEBUG and up, SDKs included) as the service writes it with LOG_FORMAT=json."""
    stream = io.StringIO()
    handlers: list[logging.Handler] = []

    def start(env: dict[str, str]) -> io.StringIO:
        handler = make_handler(fmt="json", secrets=secret_values(env), stream=stream)
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
        return stream

    caplog.set_level(logging.DEBUG)
    yield start
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


async def test_every_line_of_a_whole_flow_parses_carries_context_and_no_secret(make_bot, github, anthropic,
                                                                               openai, json_lines):
    sc.seed(github)
    probe = await make_bot()  # only to learn the environment the fixture builds (its private key)
    env = dict(probe.env)
    await probe.stop()
    stream = json_lines(env)

    bot, pull, reviews = await run_to_review(make_bot, github, anthropic, openai)
    assert reviews
    # a careless line must not leak either, nor a refused delivery's signature
    logging.getLogger("bot.test").info("settings: %s", bot.services.settings.env)
    await bot.send("issues", {"action": "opened"}, delivery_id="bad-signature-1", secret="guess")

    secrets = [WEBHOOK_SECRET, ANTHROPIC_KEY, OPENAI_KEY, *github._tokens]
    private_key = env["GITHUB_PRIVATE_KEY"]
    secrets += [line for line in private_key.splitlines() if len(line) > 20 and "-----" not in line]
    assert len(github._tokens) >= 1  # installation tokens were minted and used

    lines = stream.getvalue().splitlines()
    assert len(lines) > 20
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict)
        assert {"time", "level", "message", "logger"} <= set(record)
        for secret in secrets:
            assert secret not in line, (secret[:8], line[:300])
        records.append(record)
    assert any("[redacted]" in r["message"] for r in records if r["logger"] == "bot.test")

    ready = [r for r in records if r["message"].startswith("route-me ready")]
    assert ready and "GitHub App 1234" in ready[-1]["message"]
    assert "/api/github/webhooks" in ready[-1]["message"] and "claude-opus-5-5" in ready[-1]["message"]

    in_jobs = [r for r in records if r.get("delivery_id") not in (None, "bad-signature-1")]
    assert in_jobs, "no line carried a delivery id"
    assert all(r["repo"] == f"{sc.OWNER}/{sc.REPO}" and r["issue"] == sc.ISSUE and r["installation"] == 42
               for r in in_jobs if "repo" in r)
    assert {r.get("stage") for r in in_jobs} >= {"plan", "implement", "judge"}
    assert any(r.get("model") == "openai:kimi-k2.6" for r in in_jobs)

    refused = [r for r in records if r["logger"] == "bot.webhook" and "401" in r["message"]]
    assert len(refused) == 1 and "bad-signature-1" in refused[0]["message"]
    assert refused[0]["level"] == "WARNING" and "sha256=<64 hex chars>" in refused[0]["message"]


def test_redaction_catches_configured_values_and_credential_shapes():
    private, _ = generate_app_key()
    env = {"GITHUB_WEBHOOK_SECRET": 'a "quoted" secret', "GITHUB_PRIVATE_KEY": private.replace("\n", "\\n"),
           "ROUTE_ME_PROVIDER_KIMI_API_KEY": "kimi-key-0123456789", "PORT": "8080"}
    formatter = JsonFormatter(Redactor(secret_values(env)))
    body_line = private.splitlines()[3]
    message = (f"secret {env['GITHUB_WEBHOOK_SECRET']} kimi kimi-key-0123456789 pem {private} line {body_line} "
               "token ghs_16C7e42F292c6912E7710c838347Ae178B4a auth Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig "
               "port 8080")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (message,), None)
    line = formatter.format(record)
    parsed = json.loads(line)
    for leaked in ("quoted", "kimi-key", body_line, "ghs_16C7", "eyJhbGci", "PRIVATE KEY-----\\n"):
        assert leaked not in line, leaked
    assert "port 8080" in parsed["message"]  # ordinary values stay


def test_log_level_and_format_are_validated(tmp_path):
    private, _ = generate_app_key()
    base = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": private, "GITHUB_WEBHOOK_SECRET": "s",
            "ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"}
    assert load_settings({**base, "LOG_LEVEL": "debug", "LOG_FORMAT": "JSON"}).log_level == "DEBUG"
    with pytest.raises(SettingsError) as caught:
        load_settings({**base, "LOG_LEVEL": "verbose", "LOG_FORMAT": "xml"})
    assert any(p.startswith("LOG_LEVEL: 'verbose' is not one of DEBUG") for p in caught.value.problems)
    assert any(p.startswith("LOG_FORMAT: 'xml'") for p in caught.value.problems)
