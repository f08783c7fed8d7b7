"""Stale read results in the implementer's history become stubs, in rare whole chunks (pure)."""

from __future__ import annotations

from bot.models.anthropic_adapter import to_anthropic_params
from bot.models.openai_adapter import to_openai_params
from bot.models.port import Message, ModelRequest, ToolCall, ToolResult
from bot.stages.history import TrimPolicy, history_tokens, stub_for, trim_history

BIG = "\n".join(f"{n:5d}| line {n} of some file" for n in range(1, 201))  # ~2k tokens
EAGER = TrimPolicy(keep_recent_turns=2, trigger_tokens=1_000, min_savings_tokens=500)


def loop_history(calls: list[tuple[str, dict]], *, results: dict[int, str] | None = None) -> list[Message]:
    """A tool loop: the first user message, then one call and its result per turn."""
    messages = [Message(role="user", text="Implement the plan.")]
    for n, (name, arguments) in enumerate(calls):
        call = ToolCall(id=f"c{n}", name=name, arguments=arguments)
        content = (results or {}).get(n, BIG if name in ("read_file", "search", "list_files") else "ok")
        messages.append(Message(role="assistant", tool_calls=(call,)))
        messages.append(Message(role="user", tool_results=(ToolResult(call.id, content),)))
    return messages


def contents(messages) -> list[str]:
    return [r.content for m in messages for r in m.tool_results]


def test_a_short_history_is_left_as_it_is() -> None:
    messages = loop_history([("read_file", {"path": "a.py"})] * 3)
    assert trim_history(messages, TrimPolicy(trigger_tokens=100_000)) is messages


def test_reads_older_than_the_recent_turns_become_stubs() -> None:
    messages = loop_history([("read_file", {"path": "a.py"}), ("search", {"pattern": "def x", "path": "src"}),
                             ("list_files", {}), ("read_file", {"path": "b.py"}),
                             ("replace_in_file", {"path": "c.py", "old": "x", "new": "y"})])
    trimmed = trim_history(messages, EAGER)
    assert contents(trimmed) == [
        "[read_file a.py: 200 lines, elided; read it again if needed]",
        "[search 'def x' in src: 200 lines, elided; search again if needed]",
        "[list_files .: 200 lines, elided; list again if needed]",
        BIG,  # within the last 2 turns
        "ok",
    ]
    assert trimmed[0] == messages[0]  # the first message (plan, preloaded files) is never touched
    assert history_tokens(trimmed) < history_tokens(messages) // 3


def test_a_read_superseded_by_a_later_read_or_edit_goes_even_when_recent() -> None:
    messages = loop_history([("read_file", {"path": "a.py"}), ("read_file", {"path": "b.py"}),
                             ("replace_in_file", {"path": "a.py", "old": "x", "new": "y"}),
                             ("read_file", {"path": "b.py"})])
    trimmed = trim_history(messages, TrimPolicy(keep_recent_turns=10, trigger_tokens=1_000, min_savings_tokens=500))
    assert contents(trimmed) == ["[read_file a.py: 200 lines, elided; read it again if needed]",
                                 "[read_file b.py: 200 lines, elided; read it again if needed]", "ok", BIG]


def test_errors_and_small_savings_are_kept() -> None:
    messages = loop_history([("read_file", {"path": "a.py"})] + [("write_file", {"path": "n.py", "content": BIG})] * 3,
                            results={0: "a.py is tiny"})
    assert trim_history(messages, EAGER) is messages  # eliding a tiny read is not worth a cache miss
    failing = [Message(role="user", text="go"),
               Message(role="assistant", tool_calls=(ToolCall("e", "read_file", {"path": "x"}),)),
               Message(role="user", tool_results=(ToolResult("e", BIG, is_error=True),))]
    assert trim_history(failing + failing[1:] * 3, EAGER)[2].tool_results[0].content == BIG


def test_a_second_trim_does_not_count_stubs_again() -> None:
    messages = loop_history([("read_file", {"path": f"f{n}.py"}) for n in range(4)])
    once = trim_history(messages, EAGER)
    assert once is not messages
    assert trim_history(once, EAGER) is once  # nothing new to elide: same prefix, cache still hits


def test_a_ranged_read_says_which_lines_it_was() -> None:
    call = ToolCall("c", "read_file", {"path": "a.py", "start_line": 10, "end_line": 40})
    assert stub_for(call, "x\ny") == "[read_file a.py lines 10-40: 2 lines, elided; read it again if needed]"


def test_the_trimmed_history_still_pairs_every_call_with_its_result_on_both_wires() -> None:
    trimmed = trim_history(loop_history([("read_file", {"path": f"f{n}.py"}) for n in range(5)]), EAGER)
    request = ModelRequest(system="s", messages=tuple(trimmed))
    anthropic = to_anthropic_params(request, model="claude-opus-5-5")["messages"]
    uses = [b["id"] for m in anthropic for b in m["content"] if isinstance(b, dict) and b["type"] == "tool_use"]
    answers = [b["tool_use_id"] for m in anthropic for b in m["content"]
               if isinstance(b, dict) and b["type"] == "tool_result"]
    assert uses == answers == [f"c{n}" for n in range(5)]
    wire = to_openai_params(request, model="kimi-k2.6", provider="moonshot")["messages"]
    called = [c["id"] for m in wire for c in m.get("tool_calls", [])]
    answered = [m["tool_call_id"] for m in wire if m["role"] == "tool"]
    assert called == answered == [f"c{n}" for n in range(5)]
    assert "elided" in wire[3]["content"] and "elided" not in wire[-1]["content"]


def test_a_result_shorter_than_its_stub_is_kept() -> None:
    messages = loop_history([("read_file", {"path": "a.py"}), ("read_file", {"path": "tiny.py"})] + [("list_files", {})] * 3,
                            results={1: "    1| x = 1"})
    trimmed = trim_history(messages, EAGER)
    assert contents(trimmed)[0].startswith("[read_file a.py:")
    assert contents(trimmed)[1] == "    1| x = 1"


def test_only_models_whose_cache_prices_make_a_trim_pay_are_trimmed() -> None:
    from bot.core.costs import PriceTable
    from bot.stages.implement import HISTORY_TRIM, history_trim_for

    prices = PriceTable.load_default()
    assert history_trim_for(prices, "openai:kimi-k2.6") == HISTORY_TRIM  # rewrite 0.95 vs read 0.16
    assert history_trim_for(prices, "moonshot:kimi-k2.6") == HISTORY_TRIM
    assert history_trim_for(prices, "anthropic:claude-opus-5-5") is None  # rewrite 5 vs read 0.2
    assert history_trim_for(prices, "anthropic:claude-haiku-4-5") is None
    assert history_trim_for(prices, "someone:unpriced-model") is None
