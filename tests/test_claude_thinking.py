"""A thinking planner on each Claude generation is asked to think the way that model takes it.

Anthropic's adaptive-thinking page: Opus/Sonnet 4.6 and later (and Fable, Mythos) think with
``thinking: {"type": "adaptive"}`` and ``output_config.effort``; from Opus 4.7 on a fixed
``budget_tokens`` is refused.  Earlier Claude 4 models take ``budget_tokens`` and think between
tool calls only with the interleaved-thinking beta header.  The default strong model
(``claude-opus-5-5``) is adaptive-only, so a fixed budget would fail every plan.
"""

from __future__ import annotations

import pytest

from bot.models.anthropic_adapter import (
    INTERLEAVED_THINKING_BETA,
    AnthropicClient,
    always_thinks,
    served_level,
    thinking_style,
    to_anthropic_params,
)
from bot.models.port import Message, ModelRequest, Reasoning, ToolResult, ToolSpec
from bot.settings import DEFAULT_STRONG
from tests.fakes.anthropic_server import FakeAnthropic

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

READ = ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})
SUBMIT = ToolSpec("submit_scorecard", "Submit", {"type": "object", "properties": {}})


def request(reasoning: Reasoning | None = Reasoning("high"), messages: tuple[Message, ...] | None = None) -> ModelRequest:
    return ModelRequest(system="You plan.", messages=messages or (Message(role="user", text="Plan issue 7"),),
                        tools=(READ,), max_tokens=1000, reasoning=reasoning)


@pytest.mark.parametrize(("model", "style"), [
    ("claude-opus-5-5", "adaptive"),
    ("claude-opus-5", "adaptive"),
    ("claude-opus-4-7", "adaptive"),
    ("claude-sonnet-4-6", "adaptive"),
    ("claude-fable-5", "adaptive"),
    ("claude-mythos-preview", "adaptive"),
    ("claude-opus-4-5", "interleaved"),
    ("claude-opus-4-1-20250805", "interleaved"),
    ("claude-opus-4-20250514", "interleaved"),
    ("claude-haiku-4-5-20251001", "interleaved"),
    ("claude-3-7-sonnet-20250219", "budget"),
])
def test_each_claude_generation_has_its_thinking_style(model: str, style: str) -> None:
    assert thinking_style(model) == style


def test_the_default_strong_model_thinks_adaptively() -> None:
    assert thinking_style(DEFAULT_STRONG.partition(":")[2]) == "adaptive"


def test_adaptive_and_fixed_budget_requests() -> None:
    adaptive = to_anthropic_params(request(), model="claude-opus-5-5")
    assert adaptive["thinking"] == {"type": "adaptive"} and adaptive["output_config"] == {"effort": "high"}
    assert adaptive["max_tokens"] == 1000 + 16384 and "extra_headers" not in adaptive
    budgeted = to_anthropic_params(request(Reasoning("budget", 3000)), model="claude-sonnet-4-6")
    assert budgeted["output_config"] == {"effort": "low"}  # a token budget maps to the nearest effort

    fixed = to_anthropic_params(request(Reasoning("medium")), model="claude-opus-4-5")
    assert fixed["thinking"] == {"type": "enabled", "budget_tokens": 8192} and "output_config" not in fixed
    assert fixed["extra_headers"] == {"anthropic-beta": INTERLEAVED_THINKING_BETA}
    old = to_anthropic_params(request(), model="claude-3-7-sonnet-20250219")
    assert old["thinking"]["type"] == "enabled" and "extra_headers" not in old

    off = to_anthropic_params(request(Reasoning()), model="claude-opus-5")
    assert "thinking" not in off and "output_config" not in off


@pytest.mark.parametrize(("model", "always"), [
    ("claude-opus-5-5", True), ("claude-sonnet-5-5", True), ("claude-fable-5-1", True), ("claude-mythos-5", True),
    ("claude-opus-5", False), ("claude-opus-4-7", False), ("claude-opus-4-5", False),
])
def test_which_models_always_think(model: str, always: bool) -> None:
    assert always_thinks(model) is always


def test_a_role_without_reasoning_on_an_always_thinking_model_asks_for_low_effort_and_forces_no_tool() -> None:
    # The judge or an all-strong implementer with reasoning off, on the default strong model.
    forced = ModelRequest(system="You judge.", messages=(Message(role="user", text="Score it"),),
                          tools=(READ, SUBMIT), tool_choice="submit_scorecard", max_tokens=1000, reasoning=Reasoning())
    params = to_anthropic_params(forced, model="claude-opus-5-5")
    assert params["thinking"] == {"type": "adaptive"} and params["output_config"] == {"effort": "low"}
    assert params["tool_choice"] == {"type": "auto"} and [t["name"] for t in params["tools"]] == ["submit_scorecard"]
    assert params["max_tokens"] == 1000 + 2048
    assert served_level(forced, params=params) == "low"
    # A model that can stop thinking is still asked not to, and forced as before.
    older = to_anthropic_params(forced, model="claude-opus-5")
    assert "thinking" not in older and older["tool_choice"] == {"type": "tool", "name": "submit_scorecard"}
    assert served_level(forced, params=older) == "off"


@pytest.fixture
async def claude():
    async with FakeAnthropic() as fake:
        fake.client = AnthropicClient(api_key=fake.api_key, base_url=fake.base_url)
        yield fake
        await fake.client.close()


async def test_an_adaptive_planner_loop_sends_its_thinking_back(claude: FakeAnthropic) -> None:
    claude.reply_tool_call("read_file", {"path": "a.py"}, thinking=("Read a.py first.",), call_id="toolu_1")
    claude.reply_text("The plan.", thinking=("Now I know enough.",))
    first = await claude.client.complete(request(), model="claude-opus-5-5")
    assert first.reasoning_level == "high"
    history = (*request().messages,
               Message(role="assistant", tool_calls=first.tool_calls, reasoning=first.reasoning),
               Message(role="user", tool_results=(ToolResult(first.tool_calls[0].id, "print(1)"),)))
    second = await claude.client.complete(request(messages=history), model="claude-opus-5-5")
    assert second.text == "The plan."
    bodies = [r.body for r in claude.requests if r.path == "/v1/messages"]
    assert [b["thinking"] for b in bodies] == [{"type": "adaptive"}] * 2
    assert [b["output_config"] for b in bodies] == [{"effort": "high"}] * 2
    assert bodies[1]["messages"][1]["content"][0]["type"] == "thinking"  # sent back unchanged, first


async def test_a_fixed_budget_on_an_adaptive_only_model_is_refused(claude: FakeAnthropic) -> None:
    # What route-me sent before: the fake refuses it as the API does, so the test above means something.
    with pytest.raises(Exception, match="not supported"):
        await claude.client._client.messages.create(
            model="claude-opus-5-5", max_tokens=20000, messages=[{"role": "user", "content": "x"}],
            thinking={"type": "enabled", "budget_tokens": 16384})
    # And adaptive thinking on a model before 4.6.
    with pytest.raises(Exception, match="adaptive thinking is not supported"):
        await claude.client._client.messages.create(
            model="claude-opus-4-5", max_tokens=2000, messages=[{"role": "user", "content": "x"}],
            thinking={"type": "adaptive"})


async def test_the_fake_refuses_what_an_always_thinking_model_refuses(claude: FakeAnthropic) -> None:
    # What route-me sent before for a role with reasoning off: a forced tool, no thinking field.
    with pytest.raises(Exception, match="forced tool use is not supported"):
        await claude.client._client.messages.create(
            model="claude-opus-5-5", max_tokens=2000, messages=[{"role": "user", "content": "x"}],
            tools=[{"name": "t", "description": "d", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "t"})
    with pytest.raises(Exception, match='"thinking.type.disabled" is not supported for this model'):
        await claude.client._client.messages.create(
            model="claude-opus-5-5", max_tokens=2000, messages=[{"role": "user", "content": "x"}],
            thinking={"type": "disabled"})


async def test_an_always_thinking_implementer_loop_with_reasoning_off(claude: FakeAnthropic) -> None:
    # Low effort may skip thinking on a turn: a turn sent without it needs none back; one sent
    # with it must carry it back.
    claude.reply_tool_call("read_file", {"path": "a.py"}, call_id="toolu_plain")
    claude.reply_tool_call("read_file", {"path": "b.py"}, thinking=("b next",), call_id="toolu_thought")
    claude.reply_text("done")
    off = request(Reasoning())
    first = await claude.client.complete(off, model="claude-opus-5-5")
    assert first.reasoning_level == "low"
    history = (*off.messages, Message(role="assistant", tool_calls=first.tool_calls, reasoning=first.reasoning),
               Message(role="user", tool_results=(ToolResult("toolu_plain", "print(1)"),)))
    second = await claude.client.complete(request(Reasoning(), messages=history), model="claude-opus-5-5")
    history = (*history, Message(role="assistant", tool_calls=second.tool_calls, reasoning=second.reasoning),
               Message(role="user", tool_results=(ToolResult("toolu_thought", "print(2)"),)))
    assert (await claude.client.complete(request(Reasoning(), messages=history), model="claude-opus-5-5")).text == "done"
    bodies = [r.body for r in claude.requests if r.path == "/v1/messages"]
    assert all(b["thinking"] == {"type": "adaptive"} and b["output_config"] == {"effort": "low"} for b in bodies)
    assert bodies[2]["messages"][3]["content"][0]["type"] == "thinking"
    # Dropping that block is refused, as the API refuses it.
    bare = dict(bodies[2], messages=[*bodies[2]["messages"][:3],
                                     dict(bodies[2]["messages"][3], content=bodies[2]["messages"][3]["content"][1:]),
                                     bodies[2]["messages"][4]])
    with pytest.raises(Exception, match="Expected `thinking` or `redacted_thinking`"):
        await claude.client._client.messages.create(**{k: v for k, v in bare.items() if k != "stream"})


async def test_a_claude_4_budget_model_asks_for_interleaved_thinking(claude: FakeAnthropic) -> None:
    claude.reply_text("ok", thinking=("hm",))
    reply = await claude.client.complete(request(Reasoning("low")), model="claude-opus-4-5")
    assert reply.reasoning_level == "low"
    sent = [r for r in claude.requests if r.path == "/v1/messages"][0]
    assert INTERLEAVED_THINKING_BETA in sent.headers.get("anthropic-beta", "")
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


# Recorded real exchanges (pydantic/pydantic-ai, tests/models/cassettes/test_anthropic/,
# transcribed in part): ``test_anthropic_opus_46_features[adaptive-thinking].yaml`` (commit
# 48e6c5d) and ``test_anthropic_opus_46_adaptive_thinking_accepts_tool_output.yaml`` (7d35df5).
RECORDED_ADAPTIVE_SIGNATURE = (
    "EqkBCkYICxgCKkDo5w3BcOFDM2J7MsIKxgUfuba9NpwDavusotnNesPeZa7anZZRQjr0ND/Y4T9kgQgbRz4ipY8/DiooFD5PtwvCEgxN"
    "N6+9O9pGl9EfUSAaDCKTYxiUUqAq1kDwwSIwp8/wfXUdNjWtQradlsIeOfjZAEEvr71UKUsr9cfgBCyZmdKggM7HAkP2EtUGQsXAKhEp"
    "Q3w0Dkyme+85ZkepQqtuHBgB")
RECORDED_ADAPTIVE_REPLY = {
    "id": "msg_01UwaEfFWx4eWMCsjmVZsjaY", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
    # Adaptive thinking may put its thinking block after a text block.
    "content": [{"type": "text", "text": "\n\n"},
                {"type": "thinking", "thinking": "4", "signature": RECORDED_ADAPTIVE_SIGNATURE},
                {"type": "text", "text": "2 + 2 = **4**"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 31, "output_tokens": 30, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 0, "service_tier": "standard"},
}


def test_a_recorded_adaptive_reply_is_read_and_its_thinking_sent_back_unchanged() -> None:
    from anthropic.types import Message as SdkMessage

    from bot.models.anthropic_adapter import reply_from_message

    reply = reply_from_message(SdkMessage.model_validate(RECORDED_ADAPTIVE_REPLY), source="anthropic:claude-opus-4-6")
    assert reply.text == "\n\n2 + 2 = **4**" and reply.stop_reason == "end_turn"
    assert reply.usage.output_tokens == 30 and 0 < reply.usage.reasoning_tokens <= 30
    [part] = reply.reasoning
    assert part.block_dict() == {"type": "thinking", "thinking": "4", "signature": RECORDED_ADAPTIVE_SIGNATURE}
    history = (Message(role="user", text="What is 2+2?"),
               Message(role="assistant", text=reply.text, reasoning=reply.reasoning),
               Message(role="user", text="And 3+3?"))
    params = to_anthropic_params(request(messages=history), model="claude-opus-4-6")
    assert params["thinking"] == {"type": "adaptive"}
    sent = params["messages"][1]["content"]
    assert sent[0] == {"type": "thinking", "thinking": "4", "signature": RECORDED_ADAPTIVE_SIGNATURE}


async def test_the_fake_takes_a_forced_tool_with_adaptive_thinking_as_the_recorded_api_did(claude: FakeAnthropic) -> None:
    # Recorded: claude-opus-4-6, thinking adaptive, tool_choice any -> 200, a tool_use and no
    # thinking block (thinking_tokens 0).  route-me never forces a tool while thinking, but the
    # fake must not refuse what the API takes.
    claude.reply_tool_call("final_result", {"city": "Paris", "country": "France"})
    message = await claude.client._client.messages.create(
        model="claude-opus-4-6", max_tokens=4096, messages=[{"role": "user", "content": "What is the capital of France?"}],
        thinking={"type": "adaptive"}, tool_choice={"type": "any"},
        tools=[{"name": "final_result", "description": "The final response which ends this conversation",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                                   "country": {"type": "string"}},
                                 "required": ["city", "country"]}}])
    assert [block.type for block in message.content] == ["tool_use"]
