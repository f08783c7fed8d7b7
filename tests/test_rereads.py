"""A whole-file re-read of a preloaded, unchanged file is answered with a note, not the file again."""

from __future__ import annotations

from bot.core.preload import PreloadChoice, Preloaded, render_preloads
from bot.core.snapshot import Snapshot
from bot.core.workspace import Workspace
from bot.models.port import Message, ToolCall, ToolResult
from bot.stages.history import TrimPolicy, trim_history
from bot.stages.rereads import PreloadedRereads
from tests import scenario as sc
from tests.test_plan_stage import comment, label

NOTE = "unchanged since it was shown in the first message ({} lines); read a line range if you need a part again"


def read(path: str, **line_range: int) -> ToolCall:
    return ToolCall(id=f"r-{path}", name="read_file", arguments={"path": path, **line_range})


async def test_the_first_reread_of_a_preloaded_file_gets_a_note_and_reads_after_an_edit_get_the_file(
        make_bot, github, anthropic, openai):
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    (_, guard), (_, test_edit), finish = sc.IMPLEMENTER_TURNS[1], sc.IMPLEMENTER_TURNS[2], sc.IMPLEMENTER_TURNS[3]
    openai.responder = sc.implementer_replies([
        ("read_file", {"path": "calc/ops.py"}),  # preloaded, unchanged: the note
        ("read_file", {"path": "calc/ops.py", "start_line": 2, "end_line": 3}),  # a range: read as usual
        ("read_file", {"path": "README.md"}),  # not preloaded: read as usual
        ("replace_in_file", guard),
        ("read_file", {"path": "calc/ops.py"}),  # changed since preload: the new text
        ("replace_in_file", test_edit),
        finish,
    ])
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1
    results = sc.tool_results(openai.completion_bodies[-1])
    assert results[0] == NOTE.format(3)
    assert results[1] == '    2|     """a divided by b."""\n    3|     return a / b'
    assert results[2].startswith("    1| # calc")
    assert results[4].startswith("    1| def divide") and "    4|         raise ValueError" in results[4]


def preloaded(tmp_path, text: str) -> tuple[PreloadedRereads, Workspace, str]:
    """A workspace with a.py, its preload as implement.py makes it, and the first message holding it."""
    (tmp_path / "a.py").write_text(text)
    workspace = Workspace(Snapshot.from_directory(tmp_path, "s"))
    shown = "\n".join(f"{n:5d}| {line}" for n, line in enumerate(text.splitlines(), 1))
    choice = PreloadChoice(files=(Preloaded("a.py", shown),), too_large=())
    first = "Implement the plan.\n" + render_preloads(choice)
    return PreloadedRereads(choice, workspace, first_message=first), workspace, first


def test_a_preload_no_longer_in_the_history_is_read_as_usual(tmp_path) -> None:
    rereads, _, first = preloaded(tmp_path, "a = 1\nb = 2\n")
    assert rereads.note(read("a.py")) == NOTE.format(2)
    rereads.track([Message(role="user", text="Implement the plan.")])  # a compaction that dropped it
    assert rereads.note(read("a.py")) is None
    rereads.track([Message(role="user", text=first)])
    assert rereads.note(read("a.py")) == NOTE.format(2)


def test_trimming_the_history_keeps_the_preloaded_copy(tmp_path) -> None:
    rereads, _, first = preloaded(tmp_path, "a = 1\nb = 2\n")
    messages: list[Message] = [Message(role="user", text=first)]
    for n in range(6):
        call = ToolCall(id=f"c{n}", name="read_file", arguments={"path": f"big{n}.py"})
        messages += [Message(role="assistant", tool_calls=(call,)),
                     Message(role="user", tool_results=(ToolResult(call.id, "x = 1\n" * 500),))]
    eager = TrimPolicy(keep_recent_turns=1, trigger_tokens=1, min_savings_tokens=1)
    trimmed = rereads.track(trim_history(messages, eager))
    assert trimmed is not messages  # a trim happened: the old reads are stubs now
    assert trimmed[0].text == first  # trim_history only stubs tool results, never the first message
    assert rereads.note(read("a.py")) == NOTE.format(2)


def test_only_whole_file_reads_of_unchanged_preloaded_files_get_the_note(tmp_path) -> None:
    rereads, workspace, _ = preloaded(tmp_path, "a = 1\nb = 2\n")
    assert rereads.note(read("a.py", start_line=1, end_line=2)) is None
    assert rereads.note(read("other.py")) is None
    assert rereads.note(ToolCall(id="w", name="write_file", arguments={"path": "a.py", "content": ""})) is None
    workspace.write("a.py", "a = 3\nb = 2\n")
    assert rereads.note(read("a.py")) is None
    workspace.write("a.py", "a = 1\nb = 2\n")  # put back as it was shown: unchanged again
    assert rereads.note(read("a.py")) == NOTE.format(2)
