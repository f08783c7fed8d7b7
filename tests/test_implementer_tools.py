"""The implementer's tool executor: schemas, results, refusals, finish, and fuzzed input."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.core import implementer_tools as tools
from bot.core.implementer_tools import (
    IMPLEMENTER_TOOLS,
    ToolExecutor,
    ToolOutcome,
)
from bot.core.regex_guard import PatternRefused, compile_search, search_line
from bot.core.snapshot import Snapshot
from bot.core.workspace import Workspace

A_PY = "import os\n\n\ndef f():\n    return 1\n"


def deny_workflows(path: str) -> str | None:
    return "denied by config" if path.startswith(".github/workflows/") else None


@pytest.fixture
def snapshot(tmp_path: Path) -> Snapshot:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text(A_PY)
    (root / "src" / "notes.txt").write_text("alpha\nbeta\ngamma")
    (root / "big.txt").write_text("".join(f"row {n}\n" for n in range(1, 1001)))
    (root / "img.png").write_bytes(b"\x89PNG\x00\x00 return 1")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.py").write_text("return 1\n")
    os.symlink(tmp_path / "outside", root / "linked")
    os.symlink(tmp_path / "outside" / "secret.py", root / "secret.py")
    return Snapshot.from_directory(root, "sha1")


@pytest.fixture
def executor(snapshot: Snapshot) -> ToolExecutor:
    return ToolExecutor(Workspace(snapshot, deny=deny_workflows))


def run(executor: ToolExecutor, name: str, **arguments: Any) -> ToolOutcome:
    return executor.run(name, arguments)


# definitions -----------------------------------------------------------------------


def test_tool_names_and_required_fields_follow_the_spec() -> None:
    expected = {
        "list_files": ([], {"path"}),
        "read_file": (["path"], {"path", "start_line", "end_line"}),
        "search": (["pattern"], {"pattern", "path"}),
        "write_file": (["path", "content"], {"path", "content"}),
        "replace_in_file": (["path", "old", "new"], {"path", "old", "new"}),
        "delete_file": (["path"], {"path"}),
        "finish": (["summary"], {"summary"}),
    }
    assert [t.name for t in IMPLEMENTER_TOOLS] == list(expected)
    for tool in IMPLEMENTER_TOOLS:
        required, props = expected[tool.name]
        assert tool.input_schema["required"] == required
        assert set(tool.input_schema["properties"]) == props
        assert tool.description
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)


def test_tool_def_fields_match_the_port() -> None:
    assert list(tools.ToolDef.__dataclass_fields__) == ["name", "description", "input_schema"]


# reading ---------------------------------------------------------------------------


def test_list_files(executor: ToolExecutor) -> None:
    out = run(executor, "list_files")
    assert not out.is_error
    assert out.content.splitlines() == [
        ".github/workflows/ci.yml", "big.txt", "img.png", "src/a.py", "src/notes.txt",
    ]
    assert run(executor, "list_files", path="src").content == "src/a.py\nsrc/notes.txt"
    assert run(executor, "list_files", path=".").content == out.content
    missing = run(executor, "list_files", path="nope")
    assert missing.is_error and missing.content.startswith("error: no files under 'nope'")


def test_list_files_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(12):
        (tmp_path / f"f{n:02}.txt").write_text("x")
    monkeypatch.setattr(tools, "LIST_MAX_PATHS", 5)
    out = ToolExecutor(Workspace(Snapshot.from_directory(tmp_path, "s"))).run("list_files", {})
    lines = out.content.splitlines()
    assert lines[:5] == ["f00.txt", "f01.txt", "f02.txt", "f03.txt", "f04.txt"]
    assert lines[5].startswith("... 7 more paths not shown")


def test_read_file_numbers_lines(executor: ToolExecutor) -> None:
    out = run(executor, "read_file", path="src/a.py")
    assert out.content == "    1| import os\n    2| \n    3| \n    4| def f():\n    5|     return 1"


def test_read_file_range_and_missing_final_newline(executor: ToolExecutor) -> None:
    assert run(executor, "read_file", path="src/a.py", start_line=4, end_line=5).content == (
        "    4| def f():\n    5|     return 1"
    )
    assert run(executor, "read_file", path="src/notes.txt", start_line=3).content == (
        "    3| gamma\n[no newline at end of file]"
    )


def test_read_file_pages_large_files(executor: ToolExecutor) -> None:
    first = run(executor, "read_file", path="big.txt")
    lines = first.content.splitlines()
    assert len(lines) == tools.READ_MAX_LINES + 1
    assert lines[0] == "    1| row 1" and lines[399] == "  400| row 400"
    assert lines[-1] == "[lines 1-400 of 1000 shown; call read_file with start_line=401 to continue]"
    last = run(executor, "read_file", path="big.txt", start_line=901, end_line=5000)
    assert last.content.splitlines()[-1] == " 1000| row 1000"


def test_read_file_byte_cap(executor: ToolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "READ_MAX_BYTES", 50)
    out = run(executor, "read_file", path="big.txt")
    assert out.content.splitlines()[-1].startswith("[lines 1-3 of 1000 shown; call read_file with start_line=4")


def test_read_file_long_line_is_cut(executor: ToolExecutor) -> None:
    executor.workspace.write("min.js", "x" * 10_000)
    out = run(executor, "read_file", path="min.js")
    assert "[line cut, 10000 chars]" in out.content
    assert len(out.content) < 5_000


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"path": "src/a.py", "start_line": 0}, "start_line must be >= 1"),
        ({"path": "src/a.py", "start_line": 4, "end_line": 2}, "end_line >= start_line"),
        ({"path": "src/a.py", "start_line": 50}, "past the end: src/a.py has 5 lines"),
        ({"path": "img.png"}, "binary"),
        ({"path": "nope.py"}, "does not exist"),
        ({"path": "secret.py"}, "symlink"),
        ({"path": "linked/secret.py"}, "symlink"),
        ({"path": "../outside/secret.py"}, "'..' is not allowed"),
    ],
)
def test_read_file_errors(executor: ToolExecutor, arguments: dict[str, Any], message: str) -> None:
    out = executor.run("read_file", arguments)
    assert out.is_error and out.content.startswith("error: ")
    assert message in out.content


def test_read_empty_file(executor: ToolExecutor) -> None:
    executor.workspace.write("empty.txt", "")
    assert run(executor, "read_file", path="empty.txt").content == "(empty file)"


# search ----------------------------------------------------------------------------


def test_search_finds_lines_and_skips_binary(executor: ToolExecutor) -> None:
    out = run(executor, "search", pattern=r"return \d")
    assert out.content == "src/a.py:5:    return 1"  # not img.png, not the symlinked file
    assert run(executor, "search", pattern="RETURN").content == "no matches"  # case-sensitive


def test_search_sees_the_overlay_and_respects_path(executor: ToolExecutor) -> None:
    executor.workspace.write("lib/new.py", "def helper():\n    return 1\n")
    executor.workspace.delete("src/a.py")
    assert run(executor, "search", pattern="return").content == "lib/new.py:2:    return 1"
    assert run(executor, "search", pattern="row 99\\b", path="big.txt").content == "big.txt:99:row 99"
    assert run(executor, "search", pattern="return", path="src").content == "no matches"


def test_search_caps_hits(executor: ToolExecutor) -> None:
    out = run(executor, "search", pattern="^row")
    lines = out.content.splitlines()
    assert len(lines) == tools.SEARCH_MAX_HITS + 1
    assert lines[-1] == f"[only the first {tools.SEARCH_MAX_HITS} matches shown; narrow the search]"


def test_search_bounds_total_bytes(executor: ToolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "SEARCH_MAX_TOTAL_BYTES", 100)
    out = run(executor, "search", pattern="gamma")
    assert "[search stopped after" in out.content


def test_search_only_considers_start_of_long_lines(executor: ToolExecutor) -> None:
    executor.workspace.write("long.txt", "a" * 3000 + "NEEDLE\n")
    assert run(executor, "search", pattern="NEEDLE").content == "no matches"


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}", "(?P<x>a)(?P<x>b)"])
def test_search_invalid_regex(executor: ToolExecutor, pattern: str) -> None:
    out = run(executor, "search", pattern=pattern)
    assert out.is_error and out.content.startswith("error: invalid regular expression")


# Classic catastrophic backtracking for re; RE2 runs them in linear time.
@pytest.mark.parametrize("pattern", ["(a+)+$", r"(\w+\s*)*!", "(a|aa)*b", "(a|a)*b", "(x+x+)+y",
                                     "a.*b.*c.*d.*e.*f", "a.*b.*a.*c", "(?:(?:.{0,10}){0,7}){0,6}!"])
def test_search_runs_catastrophic_patterns_in_linear_time(executor: ToolExecutor, pattern: str) -> None:
    executor.workspace.write("evil.txt", "a" * 1900 + "c\n" + "x" * 1900 + "\n" + "ab" * 1000 + "\n")
    started = time.perf_counter()
    out = run(executor, "search", pattern=pattern, path="evil.txt")
    assert not out.is_error and "[search stopped" not in out.content
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("pattern", [
    r"(?:(?:.{0,10}){0,10}){0,10}!",  # the pattern: 9,104 RE2 instructions
    r"(?:(?:.{0,30}){0,30}){0,30}!",  # RE2 refuses to expand it at all
    r".{0,1000}x.{0,1000}y",
    "a{1001}",
])
def test_search_answers_pattern_too_expensive(executor: ToolExecutor, pattern: str) -> None:
    executor.workspace.write("evil.txt", "a" * 14 + "\n")
    started = time.perf_counter()
    out = run(executor, "search", pattern=pattern)
    assert out.is_error and out.content.startswith("error: pattern too expensive")
    assert time.perf_counter() - started < 1.0


async def test_a_hostile_search_never_stalls_the_event_loop(executor: ToolExecutor) -> None:
    """The stages run the tool with to_thread; the loop (deliveries, /healthz) must keep turning.

    Python's re spends ~5 s on the 13-character line holding the GIL; RE2 releases it.
    """
    executor.workspace.write("evil.txt", "a" * 13 + "\n")
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)  # ticking before the search starts
    out = await asyncio.to_thread(executor.run, "search", {"pattern": "(?:(?:.{0,10}){0,7}){0,6}!"})
    done.set()
    await ticking
    assert out.content == "no matches"
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f} s"


# Python's meaning is kept: the pattern is parsed by re's parser and written out for RE2.
SEMANTICS_TEXTS = ["def foo(", "\u0663", "\u3000", "\x0b", "\u00e9", "x", "FOO", "aB", "AB", "a", "row", "ab",
                   "aaab", "-", "foo bar baz", "foobarbaz", "a word.", "\u2014", "a]", "^", "tab\there", "_", "Stra\u00dfe"]


@pytest.mark.parametrize("pattern", [
    r"def \w+\(", r"\d", r"\s", r"\S", r"\W", r"\D", r"[\W\d]", r"[\w-]", r"(?i)foo", r"(?i:a)B", r"a(?-i:B)",
    r"a\Z", r"\Aa", r"^row$", r"(?x) a b # comment", r"a{,3}b", r"a{2}", r"[^a-z\]]", r"(?a)\w", r"(?a)\s",
    r"x*?y", r"(foo|bar)+baz", r"(?s).", r"\bword\b", r"[.\-^]", "\u00e9+", r"\N{EM DASH}", r"[^x]", r"\]",
    r"(?P<name>a)b", "", r"\t", r"(?i)stra\u00dfe", r"\x41|\u00e9",
])
def test_search_keeps_python_semantics(pattern: str) -> None:
    python = re.compile(pattern)
    compiled = compile_search(pattern)
    for text in SEMANTICS_TEXTS:
        assert search_line(compiled, text) == bool(python.search(text)), (pattern, text)


@pytest.mark.parametrize("pattern, says", [
    (r"(a)\1", "backreferences"), (r"(?P<x>a)(?P=x)", "backreferences"), (r"(?=x)", "lookahead"),
    (r"(?<!x)y", "lookbehind"), (r"(?>a+)+", "atomic groups"), (r"a*+", "possessive"),
    (r"[^\W\d]", "[^...] set"),
])
def test_search_refuses_what_re2_cannot_run_clearly(executor: ToolExecutor, pattern: str, says: str) -> None:
    out = run(executor, "search", pattern=pattern)
    assert out.is_error and says in out.content


def test_search_line_survives_lone_surrogates() -> None:
    assert search_line(compile_search("a.b"), "a\udcffb")  # as from an undecodable byte
    with pytest.raises(PatternRefused):
        compile_search("(")


def test_search_stops_at_the_time_budget(executor: ToolExecutor) -> None:
    step = tools.SEARCH_MAX_SECONDS * 0.6  # every clock read advances 60% of the budget
    ticks = iter(range(1000))
    slow = ToolExecutor(executor.workspace, clock=lambda: next(ticks) * step)
    out = run(slow, "search", pattern="gamma")
    assert out.content == (
        f"no matches\n[search stopped after {tools.SEARCH_MAX_SECONDS:g} s; narrow it with 'path']"
    )
    assert next(ticks) == 3  # started, first line in budget, second line over it


def test_search_pattern_length_cap(executor: ToolExecutor) -> None:
    out = run(executor, "search", pattern="a" * 10_000)
    assert out.is_error and "longer than" in out.content


# editing ---------------------------------------------------------------------------


def test_edits_return_ok_and_change_the_workspace(executor: ToolExecutor) -> None:
    assert run(executor, "write_file", path="src/b.py", content="y = 2\n").content == "ok"
    assert run(executor, "replace_in_file", path="src/a.py", old="return 1", new="return 2").content == "ok"
    assert run(executor, "delete_file", path="src/notes.txt").content == "ok"
    assert [(c.path, c.action) for c in executor.workspace.changes()] == [
        ("src/a.py", "modify"), ("src/b.py", "create"), ("src/notes.txt", "delete"),
    ]


@pytest.mark.parametrize(
    "name, arguments",
    [
        ("write_file", {"path": "../x", "content": "x"}),
        ("write_file", {"path": "/etc/passwd", "content": "x"}),
        ("write_file", {"path": "a/../../x", "content": "x"}),
        ("write_file", {"path": ".git/config", "content": "x"}),
        ("write_file", {"path": ".github/workflows/x.yml", "content": "x"}),
        ("write_file", {"path": "linked/evil.py", "content": "x"}),
        ("write_file", {"path": "secret.py", "content": "x"}),
        ("write_file", {"path": "src\\a.py", "content": "x"}),
        ("write_file", {"path": "src/a\x00.py", "content": "x"}),
        ("delete_file", {"path": ".github/workflows/ci.yml"}),
        ("delete_file", {"path": "secret.py"}),
        ("replace_in_file", {"path": "linked/secret.py", "old": "return", "new": "x"}),
        ("replace_in_file", {"path": ".github/workflows/ci.yml", "old": "push", "new": "x"}),
    ],
)
def test_refused_edits_are_errors_and_change_nothing(
    executor: ToolExecutor, name: str, arguments: dict[str, Any]
) -> None:
    out = executor.run(name, arguments)
    assert out.is_error and out.content.startswith("error: path ")
    assert "refused" in out.content
    assert executor.workspace.changes() == []


def test_replace_in_file_rules(executor: ToolExecutor) -> None:
    missing = run(executor, "replace_in_file", path="src/a.py", old="return  1", new="x")
    assert missing.is_error and "occurred 0 times" in missing.content and "5|     return 1" in missing.content
    run(executor, "write_file", path="d.txt", content="k\nk\n")
    twice = run(executor, "replace_in_file", path="d.txt", old="k", new="x")
    assert twice.is_error and "occurred 2 times" in twice.content
    assert executor.workspace.read("d.txt") == "k\nk\n"


def test_guard_violations_are_errors(snapshot: Snapshot) -> None:
    executor = ToolExecutor(Workspace(snapshot, max_files=1, max_changed_lines=3, max_file_bytes=100))
    assert run(executor, "write_file", path="a.txt", content="1\n").content == "ok"
    too_many = run(executor, "write_file", path="b.txt", content="1\n")
    assert too_many.is_error and "the limit is 1" in too_many.content
    too_long = run(executor, "write_file", path="a.txt", content="1\n2\n3\n4\n")
    assert too_long.is_error and "the limit is 3" in too_long.content
    too_big = run(executor, "write_file", path="a.txt", content="x" * 101)
    assert too_big.is_error and "101 bytes" in too_big.content


# finish ----------------------------------------------------------------------------


def test_finish_with_no_change_is_an_error(executor: ToolExecutor) -> None:
    out = run(executor, "finish", summary="did nothing")
    assert out.is_error and not out.finished
    assert out.content.startswith("error: no changes were made")


def test_finish_with_syntax_error_then_fixed(executor: ToolExecutor) -> None:
    run(executor, "replace_in_file", path="src/a.py", old="return 1", new="return (1")
    failed = run(executor, "finish", summary="fix f")
    assert failed.is_error and not failed.finished
    assert "src/a.py: syntax error: line 5" in failed.content
    run(executor, "replace_in_file", path="src/a.py", old="return (1", new="return 2")
    done = run(executor, "finish", summary="  f returns 2  ")
    assert done == ToolOutcome(content="ok: change accepted", is_error=False, finished=True, summary="f returns 2")


def test_finish_requires_a_summary(executor: ToolExecutor) -> None:
    run(executor, "write_file", path="n.txt", content="x\n")
    out = run(executor, "finish", summary="   ")
    assert out.is_error and "summary is empty" in out.content


def test_finish_uses_the_injected_validator(executor: ToolExecutor) -> None:
    seen: list[Workspace] = []

    def validate(workspace: Workspace) -> list[str]:
        seen.append(workspace)
        return ["tests are missing", "docs are missing"]

    custom = ToolExecutor(executor.workspace, validate=validate)
    run(custom, "write_file", path="n.txt", content="x\n")
    out = run(custom, "finish", summary="s")
    assert seen == [executor.workspace]
    assert out.is_error and "- tests are missing\n- docs are missing" in out.content


def test_calls_and_errors_are_counted(executor: ToolExecutor) -> None:
    run(executor, "list_files")
    run(executor, "read_file", path="src/a.py")
    run(executor, "read_file", path="nope")
    executor.run("rm_rf", {})
    assert executor.calls == {"list_files": 1, "read_file": 2, "<unknown>": 1}
    assert executor.errors == {"read_file": 1, "<unknown>": 1}


# fuzzing ---------------------------------------------------------------------------

GARBAGE: list[Any] = [None, [], ["a"], 0, -1, 10**30, 1.5, True, "", "x" * 200_000, {"a": 1}, "\x00", "\ud800"]


@pytest.mark.parametrize("tool", [t.name for t in IMPLEMENTER_TOOLS])
def test_executor_never_raises_for_garbage(executor: ToolExecutor, tool: str) -> None:
    props = list(next(t for t in IMPLEMENTER_TOOLS if t.name == tool).input_schema["properties"])
    for value in GARBAGE:
        for key in props:
            base = {"path": "src/a.py", "content": "x", "old": "import", "new": "x",
                    "pattern": "x", "summary": "s"}
            arguments = {k: base[k] for k in props if k in base}
            arguments[key] = value
            out = executor.run(tool, arguments)
            assert isinstance(out, ToolOutcome)
            if out.is_error:
                assert out.content.startswith("error: ")
            assert len(out.content) < 100_000
    for arguments in (None, [], "path", 5, {"unexpected": 1}, {1: 2}):
        out = executor.run(tool, arguments)  # type: ignore[arg-type]
        assert out.is_error and out.content.startswith("error: ")


@pytest.mark.parametrize(
    "name, arguments, message",
    [
        ("nope", {}, "unknown tool 'nope'"),
        (None, {}, "unknown tool None"),
        ("read_file", None, "arguments must be a JSON object"),
        ("read_file", ["src/a.py"], "arguments must be a JSON object"),
        ("read_file", {}, "missing required argument(s) path"),
        ("read_file", {"path": "a", "mode": "r"}, "unexpected argument(s) mode"),
        ("read_file", {"path": 5}, "argument 'path' must be a string, got int"),
        ("read_file", {"path": "src/a.py", "start_line": "1"}, "'start_line' must be an integer"),
        ("read_file", {"path": "src/a.py", "start_line": True}, "'start_line' must be an integer, got bool"),
        ("list_files", {"path": None}, "'path' must be a string, got NoneType"),
        ("write_file", {"path": "a.txt"}, "missing required argument(s) content"),
    ],
)
def test_argument_errors_are_explained(
    executor: ToolExecutor, name: Any, arguments: Any, message: str
) -> None:
    out = executor.run(name, arguments)
    assert out.is_error
    assert message in out.content
    assert executor.workspace.changes() == []


def test_internal_bug_becomes_an_error_result(executor: ToolExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(prefix: str = "") -> list[str]:
        raise KeyError("bug")

    monkeypatch.setattr(executor.workspace, "list_files", boom)
    out = run(executor, "list_files")
    assert out.is_error and "internal error while running list_files" in out.content
