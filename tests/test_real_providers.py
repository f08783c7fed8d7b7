"""Model calls against fakes replaying what Anthropic, Moonshot (Kimi), OpenAI, OpenRouter and Groq
really send: each test here is a defect once seen with a real recorded body (issue #9).

Bodies are transcribed from public threads (the source is named beside each); the fakes refuse
what the real servers refuse, so a history one model in the chain would reject fails here too.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from typing import Any

import pytest

from bot.core.costs import PriceTable
from bot.core.usage import Usage
from bot.models.anthropic_adapter import AnthropicClient
from bot.models.errors import AllModelsFailed, RequestNotSent, SpendLimited
from bot.models.ledger import CallContext, LedgerEntry
from bot.models.model import CallInfo, Served
from bot.models.openai_adapter import MISSING_REASONING, OpenAICompatClient
from bot.models.port import Message, ModelRequest, ModelSpec, Reasoning, ToolCall, ToolResult, ToolSpec
from bot.models.stack import ModelStack
from bot.stages.loop import Answer, run_tool_loop
from bot.stages.roles import Role
from tests.fakes import anthropic_server as fa
from tests.fakes import openai_server as fo
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OPUS = ModelSpec("anthropic", "claude-opus-4-5")
KIMI = ModelSpec("moonshot", "kimi-k2.6")
CONTEXT = CallContext(installation_id=42, repo="octo/repo", issue=7, stage="plan")
PRICES = PriceTable.load_default()
READ = ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}},
                                             "required": ["path"]})
WRITE = ToolSpec("write_file", "Write a file", {"type": "object", "properties": {
    "path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]})
FINISH = ToolSpec("finish", "Finish", {"type": "object", "properties": {"summary": {"type": "string"}}})
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")

# Moonshot, 429 with the wait only in words (LLM-Red-Team/kimi-cc#16).
MOONSHOT_RPM = ("Your account org-e664b178c0f74d818f6b62f87efa49f7<ak-f3t8pfk16fki11gzh6i1> request reached "
                "organization max RPM: 3, please try again after 1 seconds")
# OpenAI, 429 tokens-per-minute with the wait only in words (BuilderIO/micro-agent#86, the 18.642s of issue #9).
OPENAI_TPM = ("Rate limit reached for gpt-4o in organization org-uOtiSEwvUnroadaOnJJquBEC on tokens per min "
              "(TPM): Limit 30000, Used 29937, Requested 385. Please try again in 18.642s.")
# OpenAI's quota body (dev-hato/hato-bot#4552) as OpenRouter relays an upstream error: the
# documented {code, message, metadata: {provider_name, raw}} shape.
OPENAI_QUOTA = json.dumps({"error": {
    "message": "You exceeded your current quota, please check your plan and billing details. For more "
               "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}})
# Groq, 400 when the model emitted a malformed call (its documented tool_use_failed error).
GROQ_TOOL_USE_FAILED = "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details."


class Rig:
    """A model stack over both fakes (Kimi-like thinking on the OpenAI-compatible one), recorded sleeps."""

    def __init__(self, anthropic: FakeAnthropic, kimi: FakeOpenAI) -> None:
        self.anthropic, self.kimi = anthropic, kimi
        self.sleeps: list[float] = []
        self.entries: list[LedgerEntry] = []
        self.now = 1000.0
        self.clients: dict[str, Any] = {
            "anthropic": AnthropicClient(api_key=anthropic.api_key, base_url=anthropic.base_url),
            "moonshot": OpenAICompatClient(api_key=kimi.api_key, base_url=kimi.base_url, provider="moonshot"),
        }
        self.stack = ModelStack(clients=self.clients, prices=PRICES, strong=OPUS, ledger=self.ledger,
                                sleep=self.sleep, clock=lambda: self.now, rng=random.Random(3))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def ledger(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)

    async def loop(self, request: ModelRequest, *, spec: ModelSpec, fallbacks: tuple[ModelSpec, ...] = (),
                   answer: Any = None, max_turns: int = 6) -> Any:
        def default(call: ToolCall) -> Answer:
            if call.name == "finish":
                return Answer("done", done=True, value=call.arguments)
            return Answer(f"contents of {call.arguments.get('path')}")

        role = Role(name="implementer", system_prompt="implementer_system", user_prompt="implementer_user",
                    tools=request.tools, terminal_tool="finish", max_turns=max_turns)
        return await run_tool_loop(role, self.stack.model(spec, fallbacks), request=request, call=CallInfo(CONTEXT),
                                   answer=answer or default)

    async def call(self, request: ModelRequest, *, spec: ModelSpec, fallbacks: tuple[ModelSpec, ...] = ()) -> Served:
        return await self.stack.model(spec, fallbacks).complete(request, call=CallInfo(CONTEXT))


@pytest.fixture
async def rig():
    async with FakeAnthropic() as anthropic, FakeOpenAI(thinking=True) as kimi:
        built = Rig(anthropic, kimi)
        yield built
        for client in built.clients.values():
            await client.close()


def request(text: str = "Fix issue 7", **overrides: Any) -> ModelRequest:
    values: dict[str, Any] = dict(system="You fix issues.", messages=(Message(role="user", text=text),),
                                  tools=(READ, WRITE, FINISH), max_tokens=1000)
    values.update(overrides)
    return ModelRequest(**values)


async def test_two_concurrent_kimi_jobs_never_see_each_others_reasoning(rig: Rig) -> None:
    """Kimi's ids are positional (`functions.read_file:0`) and repeat across jobs: the reasoning
    sent back must come from the job's own conversation, never a cache shared by jobs."""
    gate = asyncio.Event()

    async def respond(body: dict) -> fo.Reply:
        job = "A" if "job A" in body["messages"][1]["content"] else "B"
        if len(body["messages"]) == 2:
            if job == "A":
                await gate.wait()  # B's first turn is answered first, A's reply comes after
            else:
                gate.set()
            return fo.tool_reply("read_file", {"path": f"{job}.py"}, call_id="functions.read_file:0",
                                 reasoning=f"secret reasoning of installation {job}")
        return fo.tool_reply("finish", {"summary": job}, call_id="functions.finish:1",
                             reasoning=f"done {job}")

    rig.kimi.responder = respond
    results = await asyncio.gather(rig.loop(request("job A"), spec=KIMI), rig.loop(request("job B"), spec=KIMI))
    assert [r.value for r in results] == [{"summary": "A"}, {"summary": "B"}]
    seconds = [b for b in rig.kimi.completion_bodies if len(b["messages"]) > 2]
    assert len(seconds) == 2
    for body in seconds:
        job = "A" if "job A" in body["messages"][1]["content"] else "B"
        other = "B" if job == "A" else "A"
        assert body["messages"][2]["reasoning_content"] == f"secret reasoning of installation {job}"
        assert f"installation {other}" not in json.dumps(body)


async def test_a_fallback_turn_inside_a_kimi_loop_and_kimi_ids_in_an_anthropic_history(rig: Rig) -> None:
    """Turn 1 Kimi, turn 2 Anthropic (Kimi failing), turn 3 Kimi again: Anthropic gets Kimi's
    ids mapped to its alphabet, Kimi gets reasoning_content on the turn Anthropic served."""
    rig.kimi.reply(fo.tool_reply("read_file", {"path": "a.py"}, call_id="functions.read_file:0",
                                 reasoning="Read a.py first."))
    rig.kimi.fail(500, "server_error", message="internal error")  # a 5xx: the fallback serves at once
    rig.anthropic.reply(fa.tool_reply("read_file", {"path": "b.py"}, call_id="toolu_01Ak3nZRU7hLMPbZqNjYE7qp"))
    rig.kimi.reply(fo.tool_reply("finish", {"summary": "fixed"}, call_id="functions.finish:0", reasoning="Done."))
    result = await rig.loop(request(), spec=KIMI, fallbacks=(OPUS,))
    assert result.finished and result.value == {"summary": "fixed"}
    assert result.served_by == ["moonshot:kimi-k2.6", "anthropic:claude-opus-4-5"]
    anthropic_body = rig.anthropic.message_bodies[0]
    ids = [b["id"] for m in anthropic_body["messages"] if isinstance(m["content"], list)
           for b in m["content"] if b["type"] == "tool_use"]
    assert ids and all(ANTHROPIC_ID.match(i) for i in ids)
    last = rig.kimi.completion_bodies[-1]["messages"]
    assistant_turns = [m for m in last if m["role"] == "assistant"]
    assert assistant_turns[0]["reasoning_content"] == "Read a.py first."
    assert assistant_turns[1]["reasoning_content"] == MISSING_REASONING
    assert assistant_turns[1]["tool_calls"][0]["id"] == "toolu_01Ak3nZRU7hLMPbZqNjYE7qp"


async def test_the_fake_refuses_a_kimi_history_without_reasoning_as_moonshot_does(rig: Rig) -> None:
    history = (Message(role="user", text="go"),
               Message(role="assistant", tool_calls=(ToolCall("functions.read_file:0", "read_file", {"path": "a"}),)),
               Message(role="user", tool_results=(ToolResult("functions.read_file:0", "x"),)))
    import openai

    raw = openai.AsyncOpenAI(api_key=rig.kimi.api_key, base_url=rig.kimi.base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="reasoning_content is missing in assistant tool call message at index 1"):
        await raw.chat.completions.create(model="kimi-k2.6", messages=[
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "functions.read_file:0", "type": "function",
                                                                 "function": {"name": "read_file", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "functions.read_file:0", "content": "x"}])
    await raw.close()
    # Our adapter, once it knows the model reasons, fills the gap instead.
    rig.kimi.reply(fo.text_reply("ok", reasoning="thinking"))
    await rig.clients["moonshot"].complete(request(), model="kimi-k2.6")
    rig.kimi.reply(fo.text_reply("ok"))
    await rig.clients["moonshot"].complete(request(messages=history), model="kimi-k2.6")
    assert rig.kimi.completion_bodies[-1]["messages"][2]["reasoning_content"] == MISSING_REASONING


@pytest.mark.parametrize(("message", "wait"), [(OPENAI_TPM, 18.642), (MOONSHOT_RPM, 1.0)])
async def test_a_wait_given_only_in_the_body_is_waited_out_on_the_same_model(rig: Rig, message: str, wait: float) -> None:
    rig.kimi.fail(429, "rate_limit_reached_error", message=message)
    rig.kimi.reply(fo.text_reply("served"))
    routed = await rig.call(request(), spec=KIMI, fallbacks=(OPUS,))
    assert routed.reply.text == "served" and routed.served_by == KIMI
    assert rig.sleeps == [pytest.approx(wait)]
    assert rig.anthropic.calls == 0


async def test_a_refusal_falls_back_after_one_call(rig: Rig) -> None:
    rig.anthropic.reply(fa.text_reply("", stop_reason="refusal", usage=Usage(50, 3)))
    rig.kimi.reply(fo.text_reply("a plan"))
    routed = await rig.call(request(), spec=OPUS, fallbacks=(KIMI,))
    assert routed.served_by == KIMI and "refused to answer" in (routed.fallback_reason or "")
    assert rig.anthropic.calls == 1
    assert [e.outcome for e in rig.entries] == ["Refused", "ok"]
    assert rig.entries[0].usage.input_tokens == 50  # the refused call was paid for and is counted


async def test_a_refusal_without_a_fallback_fails_clearly_after_one_call(rig: Rig) -> None:
    # OpenAI-compatible: a message.refusal (and content_filter) is a refusal too.
    rig.kimi.reply(fo.Reply(text=None, refusal="I can't help with that.", finish_reason="stop"))
    with pytest.raises(AllModelsFailed, match="refused to answer"):
        await rig.loop(request(), spec=KIMI)
    assert rig.kimi.calls == 1


async def test_a_tool_call_cut_off_by_max_tokens_is_not_run_and_the_model_is_told(rig: Rig) -> None:
    ran: list[dict] = []

    def answer(call: ToolCall) -> Answer:
        if call.name == "finish":
            return Answer("done", done=True, value="ok")
        ran.append(call.arguments)
        return Answer("ok")

    # The output limit fell inside write_file's arguments: `content` never arrived.
    rig.anthropic.reply(fa.tool_reply("write_file", '{"path": "src/app.py", "cont', stop_reason="max_tokens"))
    rig.anthropic.reply(fa.tool_reply("finish", {"summary": "s"}))
    result = await rig.loop(request(), spec=OPUS, answer=answer)
    assert result.finished and ran == [] and result.truncated == 1
    second = rig.anthropic.message_bodies[1]
    tool_result = second["messages"][-1]["content"][0]
    assert tool_result["is_error"] is True and "truncated" in tool_result["content"]
    assert "missing" not in tool_result["content"]
    assert second["max_tokens"] == 2000  # room to send it again


async def test_a_truncated_openai_call_and_an_answer_spent_on_reasoning(rig: Rig) -> None:
    rig.kimi.reply(fo.tool_reply("write_file", '{"path": "a.py", "content": "def f(', finish_reason="length",
                                 reasoning="long thoughts"))
    rig.kimi.reply(fo.Reply(text="", reasoning="a very long deliberation", finish_reason="length",
                            usage=Usage(10, 1000)))
    rig.kimi.reply(fo.tool_reply("finish", {"summary": "s"}, reasoning="ok"))
    result = await rig.loop(request(), spec=KIMI)
    assert result.finished and result.truncated == 2
    bodies = rig.kimi.completion_bodies
    assert bodies[1]["messages"][-1]["content"].startswith("error: your output was truncated")
    assert "all of it went to reasoning" in bodies[2]["messages"][-1]["content"]
    assert [b["max_completion_tokens"] for b in bodies] == [1000, 2000, 4000]


async def test_a_dropped_stream_is_retried_then_falls_back(rig: Rig) -> None:
    rig.anthropic.drop_midstream(times=2)
    rig.kimi.reply(fo.text_reply("served by kimi"))
    routed = await rig.call(request(), spec=OPUS, fallbacks=(KIMI,))
    assert rig.anthropic.calls == 2 and routed.served_by == KIMI
    assert "dropped the connection mid-answer 2 times" in (routed.fallback_reason or "")
    assert len(rig.sleeps) == 1


async def test_an_encoding_error_is_ours_and_opens_no_breaker(rig: Rig) -> None:
    """A non-UTF-8 file name (surrogate-escaped) in a tool result cannot be encoded: nothing is
    sent, nothing is retried, and the model stays available for every other repository."""
    hostile = (Message(role="user", text="go"),
               Message(role="assistant", tool_calls=(ToolCall("toolu_1", "read_file", {"path": "x"}),)),
               Message(role="user", tool_results=(ToolResult("toolu_1", "caf\udce9.txt"),)))
    for _ in range(5):
        with pytest.raises(RequestNotSent, match="could not be encoded"):
            await rig.call(request(messages=hostile), spec=OPUS, fallbacks=(KIMI,))
    assert rig.anthropic.calls == 0 and rig.kimi.calls == 0 and rig.sleeps == []
    assert not rig.stack.breaker.is_open(OPUS)
    rig.anthropic.reply(fa.text_reply("fine"))
    routed = await rig.call(request(), spec=OPUS, fallbacks=(KIMI,))
    assert routed.served_by == OPUS


async def test_a_spend_limit_relayed_in_gateway_metadata_stops_at_once(rig: Rig) -> None:
    rig.kimi.fail(429, "provider_error", message="Provider returned error", code=429,
                  extra={"metadata": {"raw": OPENAI_QUOTA, "provider_name": "OpenAI"}})
    with pytest.raises(SpendLimited, match="exceeded your current quota"):
        await rig.call(request(), spec=KIMI, fallbacks=(OPUS,))
    assert rig.sleeps == [] and rig.anthropic.calls == 0


async def test_groq_tool_use_failed_gets_one_retry_then_falls_back(rig: Rig) -> None:
    failed = {"failed_generation": '<function=read_file{"path": "a.py"}</function>'}
    rig.kimi.fail(400, "invalid_request_error", code="tool_use_failed", message=GROQ_TOOL_USE_FAILED, extra=failed)
    rig.kimi.reply(fo.text_reply("second sample"))
    routed = await rig.call(request(), spec=KIMI, fallbacks=(OPUS,))
    assert routed.reply.text == "second sample" and rig.kimi.calls == 2
    rig.kimi.fail(400, "invalid_request_error", code="tool_use_failed", message=GROQ_TOOL_USE_FAILED,
                  extra=failed, times=2)
    rig.anthropic.reply(fa.text_reply("from the fallback"))
    routed = await rig.call(request(), spec=KIMI, fallbacks=(OPUS,))
    assert routed.served_by == OPUS and rig.kimi.calls == 4
    assert not rig.stack.breaker.is_open(KIMI)


async def test_a_thinking_planner_sends_its_thinking_blocks_back_unchanged(rig: Rig) -> None:
    rig.anthropic.reply(fa.tool_reply("read_file", {"path": "a.py"}, thinking=("The bug is in a.py; read it.",),
                                      usage=Usage(400, 300)))
    rig.anthropic.reply(fa.tool_reply("read_file", {"path": "b.py"}, redacted=("EmwKAhgBEgy3va3pzix",),
                                      usage=Usage(500, 200)))
    rig.anthropic.reply(fa.tool_reply("finish", {"summary": "plan"}, thinking=("Enough; submit.",),
                                      usage=Usage(600, 100)))
    result = await rig.loop(request(reasoning=Reasoning("high"), tool_choice="any"), spec=OPUS)
    assert result.finished and result.reasoning_label() == "high"
    bodies = rig.anthropic.message_bodies
    assert all(b["thinking"] == {"type": "enabled", "budget_tokens": 16384} for b in bodies)
    assert all(b["tool_choice"] == {"type": "auto"} and b["max_tokens"] == 1000 + 16384 for b in bodies)
    first_turn = bodies[2]["messages"][1]["content"]
    assert first_turn[0] == {"type": "thinking", "thinking": "The bug is in a.py; read it.",
                             "signature": fa._signature("thinking", "The bug is in a.py; read it.")}
    assert bodies[2]["messages"][3]["content"][0] == {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    assert [e.reasoning for e in rig.entries] == ["high"] * 3
    assert rig.entries[0].usage.reasoning_tokens > 0
    assert rig.entries[0].usage.reasoning_tokens <= rig.entries[0].usage.output_tokens


async def test_thinking_pauses_after_a_fallback_turn_and_forced_choice_offers_one_tool(rig: Rig) -> None:
    history = (Message(role="user", text="go"),
               Message(role="assistant", tool_calls=(ToolCall("functions.read_file:0", "read_file", {"path": "a"}),)),
               Message(role="user", tool_results=(ToolResult("functions.read_file:0", "x"),)))
    rig.anthropic.reply(fa.tool_reply("finish", {"summary": "s"}))
    reply = await rig.clients["anthropic"].complete(
        request(messages=history, reasoning=Reasoning("low")), model=OPUS.model)
    body = rig.anthropic.message_bodies[-1]
    assert "thinking" not in body and reply.reasoning_level == "off"
    rig.anthropic.reply(fa.tool_reply("finish", {"summary": "s"}, thinking=("ok",)))
    await rig.clients["anthropic"].complete(request(reasoning=Reasoning("low"), tool_choice="finish"), model=OPUS.model)
    body = rig.anthropic.message_bodies[-1]
    assert body["tool_choice"] == {"type": "auto"} and [t["name"] for t in body["tools"]] == ["finish"]
    assert body["thinking"]["budget_tokens"] == 2048


async def test_the_fake_refuses_an_edited_thinking_block_and_thinking_with_forced_choice(rig: Rig) -> None:
    import anthropic

    raw = anthropic.AsyncAnthropic(api_key=rig.anthropic.api_key, base_url=rig.anthropic.base_url, max_retries=0)
    tools = [{"name": "finish", "input_schema": {"type": "object"}}]
    with pytest.raises(anthropic.BadRequestError, match="Thinking may not be enabled when tool_choice forces"):
        await raw.messages.create(model="m", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 2048},
                                  tools=tools, tool_choice={"type": "any"}, messages=[{"role": "user", "content": "x"}])
    edited = [{"role": "user", "content": "x"},
              {"role": "assistant", "content": [{"type": "thinking", "thinking": "edited", "signature": "abc"},
                                                {"type": "tool_use", "id": "t1", "name": "finish", "input": {}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        await raw.messages.create(model="m", max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 2048},
                                  tools=tools, messages=edited)
    bad_id = [{"role": "user", "content": "x"},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "functions.finish:0", "name": "finish", "input": {}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "functions.finish:0", "content": "ok"}]}]
    with pytest.raises(anthropic.BadRequestError, match=r"should match pattern"):
        await raw.messages.create(model="m", max_tokens=300, tools=tools, messages=bad_id)
    await raw.close()
