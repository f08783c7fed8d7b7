"""The fakes bill prompt caching as the providers do, from the exact bodies our adapters send."""

from __future__ import annotations

import json

import anthropic
import pytest

from bot.core.tokens import estimate_tokens
from bot.core.usage import Usage
from bot.models.anthropic_adapter import AnthropicClient, to_anthropic_params
from bot.models.openai_adapter import OpenAICompatClient, to_openai_params
from bot.models.port import Message, ModelRequest, ToolCall, ToolResult, ToolSpec
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI, _usage_json
from tests.fakes.prompt_cache import (
    AnthropicPromptCache,
    OpenAIPromptCache,
    TooManyBreakpoints,
    anthropic_blocks,
    anthropic_minimum_tokens,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OPUS = "claude-opus-5-5"
TOOLS = (ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}}),)
BIG_SYSTEM = "You implement plans carefully. " * 400  # ~3,500 tokens: above Opus 5's 512 minimum


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def conversation(turns: int) -> tuple[Message, ...]:
    """A tool loop after ``turns`` read_file calls, as run_tool_loop builds it."""
    messages = [Message(role="user", text="Implement the plan.")]
    for n in range(turns):
        call = ToolCall(id=f"call_{n}", name="read_file", arguments={"path": f"f{n}.py"})
        messages.append(Message(role="assistant", tool_calls=(call,)))
        messages.append(Message(role="user", tool_results=(ToolResult(call.id, f"contents of f{n}.py\n" * 50),)))
    return tuple(messages)


def anthropic_body(turns: int, *, system: str = BIG_SYSTEM, model: str = OPUS) -> dict:
    request = ModelRequest(system=system, messages=conversation(turns), tools=TOOLS)
    return to_anthropic_params(request, model=model)


def prefix_tokens(body: dict, blocks: int) -> int:
    return sum(block.tokens for block in anthropic_blocks(body)[:blocks])


def test_first_call_writes_the_marked_prefix_and_the_rest_is_plain_input() -> None:
    cache = AnthropicPromptCache()
    body = anthropic_body(0)
    bill = cache.bill(body)
    through_system = prefix_tokens(body, 2)  # the tool and the system block
    assert bill.cache_read_tokens == 0
    assert bill.cache_write_tokens == through_system
    assert bill.input_tokens == prefix_tokens(body, 3) - through_system


def test_each_tool_loop_turn_reads_what_the_previous_turn_wrote() -> None:
    cache = AnthropicPromptCache()
    bodies = [anthropic_body(turns) for turns in range(4)]
    bills = [cache.bill(body) for body in bodies]
    # The first call has one message, so the adapter marks only the system: turn 1 reads that.
    assert bills[1].cache_read_tokens == prefix_tokens(bodies[1], 2)
    for turn in range(2, 4):
        previous, body = bodies[turn - 1], bodies[turn]
        # The breakpoint moved to the new last block; the old end is found by the lookback.
        assert bills[turn].cache_read_tokens == prefix_tokens(previous, len(anthropic_blocks(previous)))
        total = prefix_tokens(body, len(anthropic_blocks(body)))
        assert bills[turn].cache_write_tokens == total - bills[turn].cache_read_tokens
        assert bills[turn].input_tokens == 0
    assert bills[1].input_tokens == 0


def test_a_prefix_under_the_model_minimum_is_not_cached() -> None:
    assert anthropic_minimum_tokens("claude-opus-4-5-20251101") == 4096
    assert anthropic_minimum_tokens("claude-opus-5-5") == 512
    cache = AnthropicPromptCache()
    body = anthropic_body(0, model="claude-opus-4-5")  # ~3,500-token prefix < 4,096
    for _ in range(2):
        bill = cache.bill(body)
        assert (bill.cache_write_tokens, bill.cache_read_tokens) == (0, 0)
        assert bill.input_tokens == prefix_tokens(body, 3)


def test_the_lookback_stops_after_twenty_blocks() -> None:
    cache = AnthropicPromptCache()
    cache.bill(anthropic_body(1))
    # 11 more turns add 22 blocks: the previous end is out of reach, only the system prefix is read.
    body = anthropic_body(12)
    bill = cache.bill(body)
    assert bill.cache_read_tokens == prefix_tokens(body, 2)


def test_entries_expire_after_the_ttl_and_a_hit_refreshes_them() -> None:
    clock = Clock()
    cache = AnthropicPromptCache(ttl_seconds=300, clock=clock)
    body = anthropic_body(0)
    cache.bill(body)
    clock.now = 299
    assert cache.bill(body).cache_read_tokens > 0
    clock.now = 598  # 299 s after the refreshing hit
    assert cache.bill(body).cache_read_tokens > 0
    clock.now = 1000
    assert cache.bill(body).cache_read_tokens == 0


def test_more_than_four_breakpoints_are_refused() -> None:
    body = anthropic_body(3)
    for message in body["messages"]:
        if isinstance(message["content"], list):
            message["content"][-1]["cache_control"] = {"type": "ephemeral"}
    with pytest.raises(TooManyBreakpoints):
        AnthropicPromptCache().bill(body)


def test_openai_caches_the_shared_prefix_in_128_token_steps_from_1024() -> None:
    cache = OpenAIPromptCache()
    small = {"model": "kimi-k2.6", "messages": [{"role": "system", "content": "short"}]}
    assert cache.bill(small).cached_tokens == 0
    assert cache.bill(small).cached_tokens == 0  # identical, but under 1,024 tokens
    first = {"model": "kimi-k2.6", "messages": [{"role": "system", "content": "x" * 8000},
                                                 {"role": "user", "content": "one"}]}
    second = {"model": "kimi-k2.6", "messages": [{"role": "system", "content": "x" * 8000},
                                                  {"role": "user", "content": "two"}]}
    assert cache.bill(first).cached_tokens == 0
    bill = cache.bill(second)
    shared = estimate_tokens('{"role": "system", "content": "' + "x" * 8000 + '"}\n{"role": "user", "content": "')
    assert bill.cached_tokens == shared // 128 * 128
    assert bill.cached_tokens >= 1024
    other_model = dict(second, model="gpt-5")
    assert cache.bill(other_model).cached_tokens == 0


async def test_fake_anthropic_bills_cache_through_the_sdk() -> None:
    async with FakeAnthropic(billing="cached") as fake:
        client = AnthropicClient(api_key=fake.api_key, base_url=fake.base_url)
        try:
            for turns in range(3):
                fake.reply_text("ok")
                request = ModelRequest(system=BIG_SYSTEM, messages=conversation(turns), tools=TOOLS)
                reply = await client.complete(request, model=OPUS)
                if turns == 0:
                    assert reply.usage.cache_read_tokens == 0
                    assert reply.usage.cache_write_tokens > 900
                else:
                    assert reply.usage.cache_read_tokens > 900
                assert reply.usage.output_tokens == 5  # output stays as scripted
        finally:
            await client.close()


async def test_fake_anthropic_refuses_five_breakpoints_like_the_api() -> None:
    async with FakeAnthropic(billing="cached") as fake:
        client = AnthropicClient(api_key=fake.api_key, base_url=fake.base_url)
        body = anthropic_body(3)
        for message in body["messages"]:
            if isinstance(message["content"], list):
                message["content"][-1]["cache_control"] = {"type": "ephemeral"}
        try:
            with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
                await client._client.messages.create(**body)
        finally:
            await client.close()


async def test_fake_openai_bills_prefix_cache_through_the_sdk() -> None:
    async with FakeOpenAI(billing="cached", cache_report="moonshot") as fake:
        client = OpenAICompatClient(api_key=fake.api_key, base_url=fake.base_url, provider="moonshot")
        try:
            usages = []
            for turns in range(3):
                fake.reply_text("ok")
                request = ModelRequest(system=BIG_SYSTEM, messages=conversation(turns), tools=TOOLS)
                usages.append((await client.complete(request, model="kimi-k2.6")).usage)
                prompt = to_openai_params(request, model="kimi-k2.6", provider="moonshot")
                assert usages[-1].input_tokens + usages[-1].cache_read_tokens == estimate_tokens(
                    "\n".join(json.dumps(p) for p in prompt["tools"] + prompt["messages"]))
            assert usages[0].cache_read_tokens == 0
            assert usages[1].cache_read_tokens >= 1024 and usages[1].cache_read_tokens % 128 == 0
            assert usages[2].cache_read_tokens > usages[1].cache_read_tokens
        finally:
            await client.close()


def test_moonshot_reports_cached_tokens_at_the_top_level_too() -> None:
    wire = _usage_json(Usage(input_tokens=89, output_tokens=5, cache_read_tokens=1024), "moonshot")
    assert wire["cached_tokens"] == wire["prompt_tokens_details"]["cached_tokens"] == 1024
    assert wire["prompt_tokens"] == 1113
    assert "cached_tokens" not in _usage_json(Usage(1, 1, cache_read_tokens=2))


async def test_scripted_billing_stays_the_default() -> None:
    async with FakeAnthropic() as fake:
        client = AnthropicClient(api_key=fake.api_key, base_url=fake.base_url)
        try:
            fake.reply_text("ok")
            request = ModelRequest(system=BIG_SYSTEM, messages=conversation(0), tools=TOOLS)
            reply = await client.complete(request, model=OPUS)
        finally:
            await client.close()
    assert (reply.usage.input_tokens, reply.usage.cache_read_tokens, reply.usage.cache_write_tokens) == (10, 0, 0)
