"""Both adapters driven through the real SDKs against the fake servers: wire format, usage, errors."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from bot.core.usage import Usage
from bot.models.anthropic_adapter import AnthropicClient
from bot.models.errors import (
    AuthFailed,
    BadRequest,
    Overloaded,
    ProviderUnavailable,
    RateLimited,
    SpendLimited,
    parse_retry_after,
)
from bot.models.openai_adapter import (
    MISSING_REASONING,
    OpenAICompatClient,
    reply_from_completion,
    to_openai_params,
)
from bot.models.port import (
    Message,
    ModelRequest,
    ModelSpec,
    ToolCall,
    ToolResult,
    ToolSpec,
    estimate_tokens,
    request_text,
)
from bot.models.registry import ProviderConfig, build_clients, providers_from_env
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SECRET = "sk-secret-key-0123456789"
OPUS = "claude-opus-4-5"
KIMI = "kimi-k2.6"
TOOL = ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})
FINISH = ToolSpec("finish", "Finish", {"type": "object", "properties": {"summary": {"type": "string"}}})


def simple_request(**overrides: object) -> ModelRequest:
    values: dict = dict(
        system="You plan.",
        messages=(Message(role="user", text="Fix issue 7"),),
        tools=(TOOL, FINISH),
        cached_context="REPO CONTEXT",
        max_tokens=1000,
    )
    values.update(overrides)
    return ModelRequest(**values)


CONVERSATION = (
    Message(role="user", text="Fix issue 7"),
    Message(role="assistant", text="Looking.", tool_calls=(ToolCall("c1", "read_file", {"path": "a.py"}),
                                                           ToolCall("c2", "read_file", {"path": "../x"}))),
    Message(role="user", text="go on", tool_results=(ToolResult("c1", "print(1)"), ToolResult("c2", "outside", is_error=True))),
)


@pytest.fixture
async def anthropic_fake():
    async with FakeAnthropic(api_key=SECRET) as fake:
        client = AnthropicClient(api_key=SECRET, base_url=fake.base_url)
        fake.client = client
        yield fake
        await client.close()


@pytest.fixture
async def openai_fake():
    async with FakeOpenAI(api_key=SECRET) as fake:
        client = OpenAICompatClient(api_key=SECRET, base_url=fake.base_url, provider="moonshot")
        fake.client = client
        yield fake
        await client.close()


# -- port values -----------------------------------------------------------------------------


def test_model_spec_parse_splits_on_first_colon_and_lowercases_provider() -> None:
    assert ModelSpec.parse("Anthropic:claude-opus-4-5") == ModelSpec("anthropic", "claude-opus-4-5")
    spec = ModelSpec.parse("openrouter:moonshotai/kimi-k2:free")
    assert spec == ModelSpec("openrouter", "moonshotai/kimi-k2:free")
    assert str(spec) == "openrouter:moonshotai/kimi-k2:free"


@pytest.mark.parametrize("bad", ["", "claude", ":model", "anthropic:", "  :  ", "bad provider:x", None])
def test_model_spec_parse_refuses_malformed_text(bad: object) -> None:
    with pytest.raises(ValueError, match="provider"):
        ModelSpec.parse(bad)  # type: ignore[arg-type]


def test_estimate_tokens_is_conservative_bytes_over_3_5() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefg") == 2
    assert estimate_tokens("é" * 7) == 4  # 14 UTF-8 bytes
    assert estimate_tokens(request_text(simple_request())) > 10


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 25 Nov 2026 18:00:30 GMT"}, 30.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers: dict | None, expected: float | None) -> None:
    now = datetime(2026, 11, 25, 18, 0, 0, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after(headers, now=now) == expected


# -- Anthropic -----------------------------------------------------------------------------------


async def test_anthropic_streams_text_and_reports_cache_usage(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.reply_text("All done.", usage=Usage(12, 34, cache_write_tokens=5000, cache_read_tokens=0))
    anthropic_fake.reply_text("Again.", usage=Usage(3, 4, cache_write_tokens=0, cache_read_tokens=5000), model="claude-opus-4-5-20251101")
    first = await anthropic_fake.client.complete(simple_request(), model=OPUS)
    second = await anthropic_fake.client.complete(simple_request(), model=OPUS)
    assert first.text == "All done."
    assert first.usage == Usage(12, 34, cache_write_tokens=5000, cache_read_tokens=0)
    assert first.stop_reason == "end_turn"
    assert second.usage == Usage(3, 4, cache_write_tokens=0, cache_read_tokens=5000)
    assert second.model == "claude-opus-4-5-20251101"
    body = anthropic_fake.message_bodies[0]
    assert body["stream"] is True
    assert body["model"] == OPUS and body["max_tokens"] == 1000
    assert body["system"] == [
        {"type": "text", "text": "You plan."},
        {"type": "text", "text": "REPO CONTEXT", "cache_control": {"type": "ephemeral"}},
    ]
    assert [t["name"] for t in body["tools"]] == ["read_file", "finish"]
    assert "cache_control" not in body["tools"][-1]
    assert body["tool_choice"] == {"type": "auto"}
    headers = {k.lower(): v for k, v in anthropic_fake.requests[0].headers.items()}
    assert headers.get("x-api-key") == SECRET or headers.get("authorization") == f"Bearer {SECRET}"
    assert headers["x-stainless-retry-count"] == "0"


async def test_anthropic_tool_calls_and_tool_choice(anthropic_fake: FakeAnthropic) -> None:
    from tests.fakes.anthropic_server import tool_reply

    anthropic_fake.reply(tool_reply(calls=[("read_file", {"path": "a.py"}), ("read_file", {"path": "b/c.py"})], text="Reading."))
    anthropic_fake.reply_tool_call("finish", {"summary": "ok"})
    reply = await anthropic_fake.client.complete(simple_request(tool_choice="any"), model=OPUS)
    assert reply.text == "Reading."
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("read_file", {"path": "a.py"}), ("read_file", {"path": "b/c.py"})]
    assert all(c.id.startswith("toolu_") and c.parse_error is None for c in reply.tool_calls)
    assert reply.stop_reason == "tool_use"
    await anthropic_fake.client.complete(simple_request(tool_choice="finish"), model=OPUS)
    assert anthropic_fake.message_bodies[0]["tool_choice"] == {"type": "any"}
    assert anthropic_fake.message_bodies[1]["tool_choice"] == {"type": "tool", "name": "finish"}


async def test_anthropic_non_object_tool_input_sets_parse_error(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.reply_tool_call("finish", "[1, 2]")
    reply = await anthropic_fake.client.complete(simple_request(), model=OPUS)
    assert reply.tool_calls[0].arguments == {}
    assert "JSON object" in (reply.tool_calls[0].parse_error or "")


async def test_anthropic_wire_conversation_has_tool_use_and_tool_result_blocks(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.reply_text("ok")
    await anthropic_fake.client.complete(simple_request(messages=CONVERSATION, cached_context=""), model=OPUS)
    body = anthropic_fake.message_bodies[0]
    assert body["system"] == [{"type": "text", "text": "You plan.", "cache_control": {"type": "ephemeral"}}]
    assistant, user = body["messages"][1], body["messages"][2]
    assert assistant["content"][0] == {"type": "text", "text": "Looking."}
    assert assistant["content"][1] == {"type": "tool_use", "id": "c1", "name": "read_file", "input": {"path": "a.py"}}
    assert user["content"][0] == {"type": "tool_result", "tool_use_id": "c1", "content": "print(1)", "is_error": False}
    assert user["content"][1] == {"type": "tool_result", "tool_use_id": "c2", "content": "outside", "is_error": True}
    assert user["content"][2] == {"type": "text", "text": "go on", "cache_control": {"type": "ephemeral"}}


async def test_anthropic_without_system_marks_the_last_tool_for_caching(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.reply_text("ok")
    await anthropic_fake.client.complete(simple_request(system="", cached_context=""), model=OPUS)
    body = anthropic_fake.message_bodies[0]
    assert "system" not in body
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("status", "error_type", "message", "kwargs", "expected", "retry_after"),
    [
        (529, "overloaded_error", "Overloaded", {}, Overloaded, None),
        (429, "rate_limit_error", "slow down", {"retry_after": 7}, RateLimited, 7.0),
        (429, "rate_limit_error", "slow down", {"retry_after_ms": 1500}, RateLimited, 1.5),
        (401, "authentication_error", "invalid x-api-key", {}, AuthFailed, None),
        (403, "permission_error", "no access", {}, AuthFailed, None),
        (402, "billing_error", "pay up", {}, SpendLimited, None),
        (400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API.", {}, SpendLimited, None),
        (400, "invalid_request_error", "prompt is too long", {}, BadRequest, None),
        (404, "not_found_error", "model: nope", {}, BadRequest, None),
        (500, "api_error", "Internal server error", {}, ProviderUnavailable, None),
        (504, "timeout_error", "gateway", {}, ProviderUnavailable, None),
    ],
)
async def test_anthropic_errors_become_our_types(
    anthropic_fake: FakeAnthropic, status: int, error_type: str, message: str, kwargs: dict, expected: type, retry_after: float | None
) -> None:
    anthropic_fake.fail(status, error_type, message=message, **kwargs)
    with pytest.raises(expected) as caught:
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    error = caught.value
    assert type(error) is expected
    assert (error.provider, error.model, error.status) == ("anthropic", OPUS, status)
    assert error.retry_after == retry_after
    assert anthropic_fake.calls == 1


@pytest.mark.parametrize(
    ("status", "error_type", "error_code", "message"),
    [
        # The SDK raises these two as RateLimitError (429); they are spend limits, not rate limits.
        (429, "rate_limit_error", "enforced_spend_limit_reached", "monthly usage threshold reached"),
        (429, "rate_limit_error", "contract_spend_limit_reached", "contract limit"),
        (402, "billing_error", "linked_organization_spend_limit_reached", "linked org"),
        (403, "permission_error", "user_profile_not_billable", "cannot bill"),
        # A workspace's own usage limit: a plain 400 with no code, only the words.
        (400, "invalid_request_error", None,
         "You have reached your specified workspace API usage limits. You will regain access on 2026-12-01 at 00:00 UTC."),
    ],
)
async def test_anthropic_spend_limits_are_spend_limited_not_rate_limited(
    anthropic_fake: FakeAnthropic, status: int, error_type: str, error_code: str | None, message: str
) -> None:
    anthropic_fake.fail(status, error_type, message=message, error_code=error_code, retry_after=30)
    with pytest.raises(SpendLimited) as caught:
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    assert caught.value.status == status
    assert error_code is None or error_code in str(caught.value)


async def test_anthropic_ramp_limit_stays_a_rate_limit(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.fail(429, "rate_limit_error", error_code="ramp_limit_exceeded", retry_after=5)
    with pytest.raises(RateLimited) as caught:
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    assert caught.value.retry_after == 5.0


async def test_anthropic_error_event_mid_stream_is_mapped_by_type(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.fail_midstream("overloaded_error")
    anthropic_fake.fail_midstream("rate_limit_error", message="tokens per minute")
    anthropic_fake.fail_midstream("rate_limit_error", message="limit", error_code="enforced_spend_limit_reached")
    with pytest.raises(Overloaded) as overloaded:
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    with pytest.raises(RateLimited) as limited:
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    with pytest.raises(SpendLimited):
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    # The stream itself was HTTP 200; the error carries the status the API uses for its type.
    assert overloaded.value.status == 529 and "mid-stream overloaded_error" in str(overloaded.value)
    assert limited.value.status == 429


async def test_anthropic_error_messages_never_contain_the_key(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.fail(400, "invalid_request_error", message=f"bad header x-api-key: {SECRET}")
    with pytest.raises(BadRequest) as caught:
        await anthropic_fake.client.complete(simple_request(), model=OPUS)
    assert SECRET not in str(caught.value)
    assert "[redacted]" in str(caught.value)


async def test_anthropic_wrong_key_is_auth_failed_without_the_key() -> None:
    async with FakeAnthropic(api_key="right-key-123456") as fake:
        client = AnthropicClient(api_key=SECRET, base_url=fake.base_url)
        with pytest.raises(AuthFailed) as caught:
            await client.complete(simple_request(), model=OPUS)
        await client.close()
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.args)


async def test_anthropic_count_tokens_uses_the_endpoint_then_falls_back(anthropic_fake: FakeAnthropic) -> None:
    from tests.fakes.anthropic_server import failure

    anthropic_fake.count_tokens = 4321
    assert await anthropic_fake.client.count_input_tokens(simple_request(), model=OPUS) == 4321
    counted = [r for r in anthropic_fake.requests if r.path == "/v1/messages/count_tokens"]
    assert counted and counted[0].body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "max_tokens" not in counted[0].body
    anthropic_fake.count_tokens = failure(500, "api_error")
    request = simple_request()
    assert await anthropic_fake.client.count_input_tokens(request, model=OPUS) == estimate_tokens(request_text(request))
    assert anthropic_fake.calls == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_anthropic_connection_error_and_timeout_are_provider_unavailable() -> None:
    client = AnthropicClient(api_key=SECRET, base_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ProviderUnavailable) as caught:
        await client.complete(simple_request(), model=OPUS)
    assert caught.value.status is None
    await client.close()

    async with FakeAnthropic(api_key=SECRET) as fake:
        never = asyncio.Event()

        async def hang(body: dict) -> None:
            await never.wait()

        fake.responder = hang
        slow = AnthropicClient(api_key=SECRET, base_url=fake.base_url, timeout=0.2)
        with pytest.raises(ProviderUnavailable, match="timed out"):
            await slow.complete(simple_request(), model=OPUS)
        never.set()
        await slow.close()
        fake.strict = False


# -- OpenAI-compatible -----------------------------------------------------------------------------


async def test_openai_text_usage_and_cached_tokens(openai_fake: FakeOpenAI) -> None:
    openai_fake.reply_text("Done.", usage=Usage(100, 20, cache_read_tokens=60))
    reply = await openai_fake.client.complete(simple_request(), model=KIMI)
    assert reply.text == "Done."
    assert reply.usage == Usage(input_tokens=100, output_tokens=20, cache_write_tokens=0, cache_read_tokens=60)
    assert reply.model == KIMI and reply.stop_reason == "end_turn"
    body = openai_fake.completion_bodies[0]
    assert body["messages"][0] == {"role": "system", "content": "You plan.\n\nREPO CONTEXT"}
    assert body["messages"][1] == {"role": "user", "content": "Fix issue 7"}
    # Kimi ids take max_completion_tokens (max_tokens is deprecated there; tests/test_kimi_reasoning.py).
    assert body["max_completion_tokens"] == 1000 and "max_tokens" not in body
    assert body["thinking"] == {"type": "disabled"}  # no reasoning asked: a Kimi K2.x must not think
    assert body["tools"][0] == {"type": "function", "function": {"name": "read_file", "description": "Read a file", "parameters": TOOL.input_schema}}
    assert body["tool_choice"] == "auto"
    assert "stream" not in body or body["stream"] is False
    assert openai_fake.requests[0].headers["Authorization"] == f"Bearer {SECRET}"


async def test_openai_provider_named_openai_sends_max_completion_tokens() -> None:
    async with FakeOpenAI(api_key=SECRET) as fake:
        client = OpenAICompatClient(api_key=SECRET, base_url=fake.base_url, provider="openai")
        fake.reply_text("ok")
        await client.complete(simple_request(tools=()), model="gpt-5")
        await client.close()
    body = fake.completion_bodies[0]
    assert body["max_completion_tokens"] == 1000 and "max_tokens" not in body
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize(
    ("choice", "wire"),
    [("auto", "auto"), ("any", "required"), ("finish", {"type": "function", "function": {"name": "finish"}})],
)
async def test_openai_tool_choice_mapping(openai_fake: FakeOpenAI, choice: str, wire: object) -> None:
    openai_fake.reply_tool_call("finish", {"summary": "s"})
    reply = await openai_fake.client.complete(simple_request(tool_choice=choice), model=KIMI)
    assert openai_fake.completion_bodies[0]["tool_choice"] == wire
    assert reply.tool_calls[0].name == "finish" and reply.tool_calls[0].arguments == {"summary": "s"}
    assert reply.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("raw", "arguments", "error_part"),
    [
        ('{"summary": "bro', {}, "not valid JSON"),
        ("[1, 2]", {}, "JSON object"),
        ("", {}, None),
        ('{"path": "a.py"}', {"path": "a.py"}, None),
    ],
)
async def test_openai_tool_arguments_parse_errors(openai_fake: FakeOpenAI, raw: str, arguments: dict, error_part: str | None) -> None:
    openai_fake.reply_tool_call("read_file", raw)
    call = (await openai_fake.client.complete(simple_request(), model=KIMI)).tool_calls[0]
    assert call.arguments == arguments
    if error_part is None:
        assert call.parse_error is None
    else:
        assert error_part in (call.parse_error or "")


async def test_openai_wire_conversation_and_reasoning_replay(openai_fake: FakeOpenAI) -> None:
    openai_fake.reply_tool_call("read_file", {"path": "a.py"}, call_id="k1", reasoning="Need to read a.py first.")
    openai_fake.reply_text("ok")
    first = await openai_fake.client.complete(simple_request(), model=KIMI)
    history = (
        Message(role="user", text="Fix issue 7"),
        Message(role="assistant", text="", tool_calls=first.tool_calls, reasoning=first.reasoning),
        Message(role="user", tool_results=(ToolResult("k1", "no such file", is_error=True),)),
    )
    await openai_fake.client.complete(simple_request(messages=history + CONVERSATION[1:]), model=KIMI)
    messages = openai_fake.completion_bodies[1]["messages"]
    assert messages[2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "k1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}],
        "reasoning_content": "Need to read a.py first.",
    }
    assert messages[3] == {"role": "tool", "tool_call_id": "k1", "content": "error: no such file"}
    # A tool-call turn another model served gets a placeholder: Kimi refuses one without any.
    assert messages[4]["content"] == "Looking." and messages[4]["reasoning_content"] == MISSING_REASONING
    assert messages[5:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "print(1)"},
        {"role": "tool", "tool_call_id": "c2", "content": "error: outside"},
        {"role": "user", "content": "go on"},
    ]


@pytest.mark.parametrize(
    ("status", "error_type", "code", "message", "expected"),
    [
        (429, "requests", "rate_limit_exceeded", "Rate limit reached", RateLimited),
        (429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota", SpendLimited),
        (429, "engine_overloaded_error", None, "The engine is currently overloaded", Overloaded),
        (503, "server_error", None, "The server is overloaded, try later", Overloaded),
        (503, "server_error", None, "maintenance", ProviderUnavailable),
        (529, "overloaded_error", None, "Overloaded", Overloaded),
        (500, "server_error", None, "boom", ProviderUnavailable),
        (401, "invalid_request_error", "invalid_api_key", "Incorrect API key", AuthFailed),
        (403, "permission_denied", None, "region", AuthFailed),
        (402, "billing", None, "payment required", SpendLimited),
        (429, "insufficient_quota", "organization_spend_limit_exceeded", "spend limit", SpendLimited),
        (429, "insufficient_quota", "project_spend_limit_exceeded", "project limit", SpendLimited),
        (429, "requests", "credit_balance_exhausted", "no credits", SpendLimited),
        (429, "requests", "organization_usage_limit_exceeded", "usage limit", SpendLimited),
        (400, "invalid_request_error", "billing_not_active", "billing off", SpendLimited),
        # Moonshot (Kimi) with its balance used up: 429, by type and, in some answers, only in words.
        (429, "exceeded_current_quota_error", None,
         "Your account org-1 is suspended due to insufficient balance, please recharge your account", SpendLimited),
        (429, "rate_limit_reached_error", None,
         "Your account is suspended due to insufficient balance, please recharge your account", SpendLimited),
        (429, "rate_limit_reached_error", None, "Your account reached max request: 3 RPM", RateLimited),
        (400, "invalid_request_error", "context_length_exceeded", "too long", BadRequest),
        (404, "invalid_request_error", "model_not_found", "no model", BadRequest),
    ],
)
async def test_openai_errors_become_our_types(
    openai_fake: FakeOpenAI, status: int, error_type: str, code: str | None, message: str, expected: type
) -> None:
    openai_fake.fail(status, error_type, code=code, message=message, retry_after=3)
    with pytest.raises(expected) as caught:
        await openai_fake.client.complete(simple_request(), model=KIMI)
    assert type(caught.value) is expected
    assert (caught.value.provider, caught.value.status, caught.value.retry_after) == ("moonshot", status, 3.0)
    assert openai_fake.calls == 1


async def test_openai_retry_after_ms_and_redaction(openai_fake: FakeOpenAI) -> None:
    openai_fake.fail(429, "requests", message=f"key {SECRET} is throttled", retry_after_ms=800)
    with pytest.raises(RateLimited) as caught:
        await openai_fake.client.complete(simple_request(), model=KIMI)
    assert caught.value.retry_after == pytest.approx(0.8)
    assert SECRET not in str(caught.value)


async def test_openai_wrong_key_and_connection_errors() -> None:
    async with FakeOpenAI(api_key="right-key-123456") as fake:
        client = OpenAICompatClient(api_key=SECRET, base_url=fake.base_url, provider="moonshot")
        with pytest.raises(AuthFailed):
            await client.complete(simple_request(), model=KIMI)
        await client.close()
    down = OpenAICompatClient(api_key=SECRET, base_url=f"http://127.0.0.1:{_closed_port()}/v1", provider="moonshot")
    with pytest.raises(ProviderUnavailable):
        await down.complete(simple_request(), model=KIMI)
    await down.close()


async def test_openai_count_tokens_is_a_byte_estimate(openai_fake: FakeOpenAI) -> None:
    request = simple_request()
    assert await openai_fake.client.count_input_tokens(request, model=KIMI) == estimate_tokens(request_text(request))
    assert openai_fake.calls == 0


def test_moonshot_top_level_cached_tokens_and_empty_choices() -> None:
    usage = SimpleNamespace(prompt_tokens=500, completion_tokens=7, prompt_tokens_details=None, cached_tokens=300)
    message = SimpleNamespace(content="hi", tool_calls=None)
    completion = SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")], usage=usage, model="kimi")
    reply = reply_from_completion(completion)
    assert reply.usage == Usage(input_tokens=200, output_tokens=7, cache_read_tokens=300)
    assert reply.reasoning == ()
    with pytest.raises(ValueError):
        reply_from_completion(SimpleNamespace(choices=[], usage=usage, model="kimi"))


# -- registry --------------------------------------------------------------------------------------


def test_providers_from_env_reads_sdk_and_route_me_variables() -> None:
    env = {
        "ANTHROPIC_API_KEY": "a-key",
        "OPENAI_API_KEY": "o-key",
        "ROUTE_ME_PROVIDER_MOONSHOT_BASE_URL": "https://api.moonshot.ai/v1",
        "ROUTE_ME_PROVIDER_MOONSHOT_API_KEY": "m-key",
        "ROUTE_ME_PROVIDER_OPEN_ROUTER_BASE_URL": "https://openrouter.ai/api/v1",
        "ROUTE_ME_PROVIDER_OPEN_ROUTER_API_KEY": "r-key",
        "ROUTE_ME_PROVIDER_NOKEY_BASE_URL": "https://example.invalid/v1",
        "ROUTE_ME_PROVIDER_EMPTY_API_KEY": "",
    }
    providers = {p.name: p for p in providers_from_env(env)}
    assert set(providers) == {"anthropic", "openai", "moonshot", "open_router"}
    assert providers["anthropic"] == ProviderConfig("anthropic", "anthropic", None, "a-key")
    assert providers["openai"].base_url == "https://api.openai.com/v1"
    assert providers["moonshot"] == ProviderConfig("moonshot", "openai", "https://api.moonshot.ai/v1", "m-key")
    assert "m-key" not in repr(providers["moonshot"])
    assert providers_from_env({}) == []


def test_providers_from_env_refuses_a_key_without_base_url() -> None:
    with pytest.raises(ValueError, match="ROUTE_ME_PROVIDER_KIMI_BASE_URL") as caught:
        providers_from_env({"ROUTE_ME_PROVIDER_KIMI_API_KEY": SECRET})
    assert SECRET not in str(caught.value)


async def test_build_clients_makes_one_client_per_provider() -> None:
    clients = build_clients(
        [
            ProviderConfig("anthropic", "anthropic", None, "a-key"),
            ProviderConfig("moonshot", "openai", "https://api.moonshot.ai/v1", "m-key"),
        ],
        timeout=30.0,
    )
    assert isinstance(clients["anthropic"], AnthropicClient)
    assert isinstance(clients["moonshot"], OpenAICompatClient)
    assert clients["moonshot"].provider == "moonshot"
    for client in clients.values():
        await client.close()


# -- the fakes themselves speak the wire formats the SDKs expect --------------------------------


async def test_fake_openai_streams_chunks_the_sdk_understands() -> None:
    import openai

    async with FakeOpenAI(api_key=SECRET) as fake:
        fake.reply_tool_call("finish", {"summary": "s"}, usage=Usage(30, 4, cache_read_tokens=10))
        sdk = openai.AsyncOpenAI(api_key=SECRET, base_url=fake.base_url, max_retries=0)
        stream = await sdk.chat.completions.create(
            model=KIMI, messages=[{"role": "user", "content": "x"}], stream=True, stream_options={"include_usage": True}
        )
        arguments, names, usage, finish = "", [], None, None
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for call in choice.delta.tool_calls or ():
                    if call.function and call.function.name:
                        names.append(call.function.name)
                    arguments += (call.function.arguments or "") if call.function else ""
        await sdk.close()
    assert names == ["finish"] and arguments == '{"summary": "s"}' and finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens == 40 and usage.prompt_tokens_details.cached_tokens == 10


async def test_fake_anthropic_answers_non_streaming_json_and_dynamic_responders() -> None:
    import anthropic

    from tests.fakes.anthropic_server import text_reply

    async with FakeAnthropic(api_key=SECRET) as fake:
        fake.responder = lambda body: text_reply(f"{len(body['messages'])} messages")
        sdk = anthropic.AsyncAnthropic(api_key=SECRET, base_url=fake.base_url, max_retries=0)
        message = await sdk.messages.create(model=OPUS, max_tokens=5, messages=[{"role": "user", "content": "x"}])
        await sdk.close()
    assert message.content[0].text == "1 messages"
    assert message.usage.cache_read_input_tokens == 0 and message.stop_reason == "end_turn"


async def test_fakes_fail_loudly_when_nothing_is_scripted() -> None:
    with pytest.raises(AssertionError, match="nothing scripted"):
        async with FakeOpenAI(api_key=SECRET) as fake:
            client = OpenAICompatClient(api_key=SECRET, base_url=fake.base_url, provider="moonshot")
            with pytest.raises(ProviderUnavailable):
                await client.complete(simple_request(), model=KIMI)
            await client.close()


def test_a_tool_loop_marks_the_end_of_its_history_for_caching():
    from bot.models.anthropic_adapter import to_anthropic_params
    from bot.models.port import Message, ModelRequest, ToolCall, ToolResult

    call = ToolCall(id="c1", name="read_file", arguments={"path": "a.py"})
    request = ModelRequest(system="s", cached_context="ctx", messages=(
        Message(role="user", text="go"),
        Message(role="assistant", tool_calls=(call,)),
        Message(role="user", tool_results=(ToolResult(call_id="c1", content="text"),)),
    ))
    params = to_anthropic_params(request, model="claude-opus-5-5")
    breakpoints = [b for m in params["messages"] for b in m["content"] if "cache_control" in b]
    assert len(breakpoints) == 1 and breakpoints[0]["type"] == "tool_result"
    assert params["system"][-1]["cache_control"] == {"type": "ephemeral"}
    single = to_anthropic_params(ModelRequest(system="s", messages=(Message(role="user", text="go"),)),
                                 model="claude-opus-5-5")
    assert not any("cache_control" in b for m in single["messages"] for b in m["content"])


def test_openai_tool_error_is_prefixed_once() -> None:
    """The loop's own errors already start with 'error:'; the wire must not say it twice."""
    history = (
        Message(role="user", text="Fix issue 7"),
        Message(role="assistant", text="", tool_calls=(ToolCall(id="k1", name="read_file", arguments={}),)),
        Message(role="user", tool_results=(ToolResult("k1", "error: no such file", is_error=True),
                                           ToolResult("k2", "Error: Outside", is_error=True))),
    )
    params = to_openai_params(simple_request(messages=history), model=KIMI, provider="openai")
    tool_messages = [m["content"] for m in params["messages"] if m["role"] == "tool"]
    assert tool_messages == ["error: no such file", "Error: Outside"]
