"""Reasoning on Moonshot's Kimi ids (SPEC 8): the role's setting reaches the model the way Kimi
reads it, not as an ``reasoning_effort`` Kimi K2.x silently ignores.

Kimi K2.5/K2.6 think unless told ``"thinking": {"type": "disabled"}``; the K2 thinking and K2.7
code models always think; K3 takes ``reasoning_effort`` low/high/max; Kimi ids take
``max_completion_tokens`` (platform.kimi.ai, "Model Parameter Reference" and the chat API
reference).  The end-to-end cases go through the real openai SDK to a fake that, like Moonshot,
requires ``reasoning_content`` back on tool-call turns only while thinking is on.
"""

from __future__ import annotations

import pytest

from bot.models.errors import BadRequest
from bot.models.openai_adapter import (
    MISSING_REASONING,
    OpenAICompatClient,
    map_openai_error,
    reasoning_wire,
    to_openai_params,
)
from bot.models.port import Message, ModelRequest, Reasoning, ToolCall, ToolResult
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OFF, HIGH = Reasoning(), Reasoning("high")
# A tool loop's second turn: the first was served by a model whose reasoning Kimi never saw.
HISTORY = (
    Message(role="user", text="Fix issue 7"),
    Message(role="assistant", tool_calls=(ToolCall("functions.read_file:0", "read_file", {"path": "a.py"}),)),
    Message(role="user", tool_results=(ToolResult("functions.read_file:0", "print(1)"),)),
)


def request(reasoning: Reasoning | None, **overrides: object) -> ModelRequest:
    values: dict = dict(system="You implement.", messages=HISTORY, max_tokens=1000, reasoning=reasoning)
    values.update(overrides)
    return ModelRequest(**values)


@pytest.mark.parametrize(("model", "reasoning", "params", "thinking_tokens", "thinks", "label"), [
    ("kimi-k2.6", OFF, {"thinking": {"type": "disabled"}}, 0, False, "off"),
    ("kimi-k2.6", None, {"thinking": {"type": "disabled"}}, 0, False, "off"),
    ("kimi-k2.6", HIGH, {"thinking": {"type": "enabled"}}, 16384, True, "on"),
    ("kimi-k2.5", Reasoning("budget", 3000), {"thinking": {"type": "enabled"}}, 3000, True, "on"),
    ("kimi-k2.7-code", OFF, {}, 8192, True, "always on"),
    ("kimi-k2-thinking-turbo", Reasoning("low"), {}, 2048, True, "low"),
    ("kimi-k3", HIGH, {"reasoning_effort": "max"}, 16384, True, "high"),
    ("kimi-k3", Reasoning("medium"), {"reasoning_effort": "high"}, 8192, True, "medium"),
    ("kimi-k3", OFF, {"reasoning_effort": "low"}, 2048, True, "low"),
    # Elsewhere (OpenAI, DeepSeek, a gateway's vendor-prefixed Kimi id) the generic parameter.
    ("gpt-5.5", HIGH, {"reasoning_effort": "high"}, 16384, False, "high"),
    ("moonshotai/kimi-k2.6", Reasoning("low"), {"reasoning_effort": "low"}, 2048, False, "low"),
    ("gpt-5.5", OFF, {}, 0, False, "off"),
])
def test_the_reasoning_setting_on_the_wire_per_model(model: str, reasoning: Reasoning | None, params: dict,
                                                     thinking_tokens: int, thinks: bool, label: str) -> None:
    wire = reasoning_wire(reasoning, model=model)
    # SDK arguments and raw body fields together are what goes on the wire.
    sent = {**wire.params, **wire.body}
    assert (sent, wire.thinking_tokens, wire.thinks, wire.label) == (params, thinking_tokens, thinks, label)
    assert "thinking" not in wire.params  # the openai SDK refuses keyword arguments it does not know


def test_a_kimi_request_turns_thinking_off_in_the_body_and_sizes_max_completion_tokens() -> None:
    params = to_openai_params(request(OFF), model="kimi-k2.6", provider="openai")
    assert params["extra_body"] == {"thinking": {"type": "disabled"}}
    assert params["max_completion_tokens"] == 1000 and "max_tokens" not in params
    assert "reasoning_effort" not in params
    # Thinking off: the turn another model served needs no stand-in reasoning.
    assert "reasoning_content" not in params["messages"][2]

    params = to_openai_params(request(HIGH), model="kimi-k2.6", provider="moonshot")
    assert params["extra_body"] == {"thinking": {"type": "enabled"}}
    assert params["max_completion_tokens"] == 1000 + 16384 and "reasoning_effort" not in params
    assert params["messages"][2]["reasoning_content"] == MISSING_REASONING

    other = to_openai_params(request(HIGH), model="deepseek-reasoner", provider="deepseek")
    assert other["max_tokens"] == 1000 + 16384 and other["reasoning_effort"] == "high" and "extra_body" not in other


@pytest.fixture
async def kimi():
    async with FakeOpenAI(thinking=True) as fake:
        fake.client = OpenAICompatClient(api_key=fake.api_key, base_url=fake.base_url, provider="openai")
        yield fake
        await fake.client.close()


async def test_a_non_thinking_implementer_on_kimi_is_served_without_thinking(kimi: FakeOpenAI) -> None:
    kimi.reply_text("done")
    reply = await kimi.client.complete(request(OFF), model="kimi-k2.6")
    body = kimi.completion_bodies[0]
    assert body["thinking"] == {"type": "disabled"}  # reached the wire through extra_body
    assert body["max_completion_tokens"] == 1000 and "max_tokens" not in body
    assert reply.reasoning_level == "off"


async def test_a_thinking_planner_on_kimi_sends_reasoning_back_and_names_what_served(kimi: FakeOpenAI) -> None:
    kimi.reply_text("planned", reasoning="first I read a.py")
    reply = await kimi.client.complete(request(HIGH), model="kimi-k2.6")
    body = kimi.completion_bodies[0]
    assert body["thinking"] == {"type": "enabled"} and "reasoning_effort" not in body
    assert body["messages"][2]["reasoning_content"] == MISSING_REASONING
    assert reply.reasoning_level == "on"


async def send_raw(kimi: FakeOpenAI, params: dict) -> None:
    """Send a body the adapter would never build, through the real SDK, mapped as the adapter maps errors."""
    try:
        await kimi.client._client.chat.completions.create(**params)
    except Exception as exc:  # noqa: BLE001 - mapped like every provider error
        raise map_openai_error(exc, provider="openai", model="kimi-k2.6", secrets=()) from None


async def test_the_fake_refuses_what_moonshot_refuses(kimi: FakeOpenAI) -> None:
    # Thinking left on (no switch in the body): a tool-call turn without reasoning is refused.
    bare = to_openai_params(request(HIGH), model="kimi-k2.6", provider="openai")
    bare.pop("extra_body")
    bare["messages"][2].pop("reasoning_content")
    with pytest.raises(BadRequest, match="reasoning_content is missing"):
        await send_raw(kimi, bare)
    unknown = to_openai_params(request(OFF), model="kimi-k2.6", provider="openai")
    unknown["extra_body"] = {"thinking": {"type": "auto"}}
    with pytest.raises(BadRequest, match="thinking.type"):
        await send_raw(kimi, unknown)
