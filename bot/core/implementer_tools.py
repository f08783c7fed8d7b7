"""The implementer's tools (SPEC section 5): definitions and a never-raising executor."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.regex_guard import SEARCH_LINE_CHARS, PatternRefused, compile_search, search_line
from bot.core.validate import make_validator
from bot.core.workspace import Refused, Workspace

logger = logging.getLogger(__name__)

LIST_MAX_PATHS = 2_000
READ_MAX_LINES = 400
READ_MAX_BYTES = 60_000
READ_MAX_LINE_CHARS = 4_000
READ_MAX_FILE_BYTES = 5_000_000
SEARCH_MAX_HITS = 200
SEARCH_MAX_PATTERN_CHARS = 500
SEARCH_MAX_SECONDS = 5.0
SEARCH_MAX_FILE_BYTES = 1_000_000
SEARCH_MAX_TOTAL_BYTES = 50_000_000
SEARCH_SHOW_CHARS = 300


@dataclass(frozen=True)
class ToolDef:
    """A tool offered to the model; same fields as ``bot.models.port.ToolSpec``."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass
class ToolOutcome:
    """What goes back to the model as the tool result."""

    content: str
    is_error: bool
    finished: bool = False
    summary: str = ""


def _schema(required: dict[str, str], optional: dict[str, str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for name, kind in {**required, **(optional or {})}.items():
        props[name] = {"type": kind, "minimum": 1} if kind == "integer" else {"type": kind}
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


IMPLEMENTER_TOOLS: tuple[ToolDef, ...] = (
    ToolDef("list_files",
            "List the repository's current files (your changes included) under a directory, "
            f"one path per line. Omit 'path' for the whole repository. At most {LIST_MAX_PATHS} "
            "paths are shown; list a subdirectory to see more.",
            _schema({}, {"path": "string"})),
    ToolDef("read_file",
            "Read a text file. Each line is shown as its number, right-aligned, then '| ', then "
            "the text, e.g. '   12| import os'; the number, '| ' and notes in [brackets] are not part of the file. "
            f"At most {READ_MAX_LINES} lines or {READ_MAX_BYTES} bytes per call; use start_line "
            "and end_line (1-based, inclusive) to read further.",
            _schema({"path": "string"}, {"start_line": "integer", "end_line": "integer"})),
    ToolDef("search",
            "Search current text files for a Python regular expression (case-sensitive), "
            "optionally only under 'path'. Returns 'path:line:text' lines, at most "
            f"{SEARCH_MAX_HITS}. Only files under {SEARCH_MAX_FILE_BYTES} bytes and the first "
            f"{SEARCH_LINE_CHARS} characters of each line are searched. The search runs in linear "
            "time, so backreferences, lookarounds and atomic groups are refused, and \\b is ASCII-only.",
            _schema({"pattern": "string"}, {"path": "string"})),
    ToolDef("write_file",
            "Create a file or replace its whole content. Returns 'ok' or an error.",
            _schema({"path": "string", "content": "string"})),
    ToolDef("replace_in_file",
            "Replace the text 'old' by 'new' in a file. 'old' must occur exactly once and match "
            "exactly, including indentation. Returns 'ok' or an error.",
            _schema({"path": "string", "old": "string", "new": "string"})),
    ToolDef("delete_file", "Delete a file. Returns 'ok' or an error.",
            _schema({"path": "string"})),
    ToolDef("finish",
            "Call once the change is complete, with a short summary of what you changed. The "
            "change is validated (syntax, allowed paths, size limits); if it is rejected the "
            "reasons come back and you can fix them and call finish again.",
            _schema({"summary": "string"})),
)
_BY_NAME = {tool.name: tool for tool in IMPLEMENTER_TOOLS}
_PY_TYPES: dict[str, type] = {"string": str, "integer": int}


class ToolExecutor:
    """Runs the implementer's tool calls against a workspace; every failure is a result."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        validate: Callable[[Workspace], list[str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workspace = workspace
        self._clock = clock
        self.validate = validate or make_validator(
            deny=workspace.deny,
            deny_edit=workspace.deny_edit,
            max_files=workspace.max_files,
            max_changed_lines=workspace.max_changed_lines,
        )
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._handlers: dict[str, Callable[..., ToolOutcome]] = {
            "list_files": self._list_files, "read_file": self._read_file,
            "search": self._search, "write_file": self._write_file,
            "replace_in_file": self._replace_in_file, "delete_file": self._delete_file,
            "finish": self._finish,
        }

    def run(self, name: str, arguments: Mapping[str, Any]) -> ToolOutcome:
        """Run one call; never raises (bad input becomes an ``error: ...`` result)."""
        key = name if isinstance(name, str) and name in _BY_NAME else "<unknown>"
        self.calls[key] += 1
        try:
            problem = _argument_problem(name, arguments)
            outcome = _error(problem) if problem else self._handlers[name](**arguments)
        except Refused as exc:
            outcome = _error(str(exc))
        except (FileNotFoundError, ValueError, TypeError) as exc:
            outcome = _error(str(exc) or type(exc).__name__)
        except Exception:  # a bug of ours must not end the job; the model can carry on
            logger.exception("implementer tool %s failed", key)
            outcome = _error(f"internal error while running {key}; try another approach")
        if outcome.is_error:
            self.errors[key] += 1
        return outcome

    def _list_files(self, path: str = "") -> ToolOutcome:
        prefix = "" if path in ("", ".", "/", "./") else path
        files = self.workspace.list_files(prefix)
        if not files:
            return _error(f"no files under {prefix!r}") if prefix else _ok("(no files)")
        shown = files[:LIST_MAX_PATHS]
        if len(files) > LIST_MAX_PATHS:
            shown.append(f"... {len(files) - LIST_MAX_PATHS} more paths not shown; "
                         "call list_files with a subdirectory path")
        return _ok("\n".join(shown))

    def _read_file(
        self, path: str, start_line: int = 1, end_line: int | None = None
    ) -> ToolOutcome:
        if start_line < 1 or (end_line is not None and end_line < start_line):
            return _error("start_line must be >= 1 and end_line >= start_line")
        size = self.workspace.size(path)
        if size > READ_MAX_FILE_BYTES:
            return _error(f"{path} is {size} bytes, too large to read; use search instead")
        text = self.workspace.read(path)
        if not text:
            return _ok("(empty file)")
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        total = len(lines)
        if start_line > total:
            return _error(f"start_line {start_line} is past the end: {path} has {total} lines")
        last = min(total, end_line or total, start_line + READ_MAX_LINES - 1)
        out: list[str] = []
        used = 0
        for number in range(start_line, last + 1):
            line = lines[number - 1]
            if len(line) > READ_MAX_LINE_CHARS:
                line = line[:READ_MAX_LINE_CHARS] + f" ... [line cut, {len(line)} chars]"
            rendered = f"{number:5d}| {line}"
            size = len(rendered.encode("utf-8", errors="replace")) + 1
            if used + size > READ_MAX_BYTES and out:
                last = number - 1
                break
            out.append(rendered)
            used += size
        if last < min(total, end_line or total):
            out.append(f"[lines {start_line}-{last} of {total} shown; call read_file with "
                       f"start_line={last + 1} to continue]")
        elif last == total and not text.endswith("\n"):
            out.append("[no newline at end of file]")
        return _ok("\n".join(out))

    def _search(self, pattern: str, path: str = "") -> ToolOutcome:
        if len(pattern) > SEARCH_MAX_PATTERN_CHARS:
            return _error(f"the pattern is longer than {SEARCH_MAX_PATTERN_CHARS} characters")
        try:
            regex = compile_search(pattern)
        except PatternRefused as exc:
            return _error(str(exc))
        prefix = "" if path in ("", ".", "/", "./") else path
        hits: list[str] = []
        notes = self._scan(regex, self.workspace.list_files(prefix), hits)
        return _ok("\n".join((hits or ["no matches"]) + notes))

    def _scan(self, regex: Any, files: list[str], hits: list[str]) -> list[str]:
        """Append ``path:line:text`` hits; return notes saying why the scan stopped early."""
        deadline = self._clock() + SEARCH_MAX_SECONDS
        scanned = 0
        for file_path in files:
            size = self.workspace.size(file_path)
            if size > SEARCH_MAX_FILE_BYTES:
                continue
            if scanned + size > SEARCH_MAX_TOTAL_BYTES:
                return [f"[search stopped after {scanned} bytes; narrow it with 'path']"]
            scanned += size
            try:
                text = self.workspace.read(file_path)
            except ValueError:  # binary
                continue
            for number, line in enumerate(text.split("\n"), 1):
                # Checked per line: RE2 bounds one line's cost by its length and the program size.
                if self._clock() > deadline:
                    return [f"[search stopped after {SEARCH_MAX_SECONDS:g} s; "
                            "narrow it with 'path']"]
                if search_line(regex, line[:SEARCH_LINE_CHARS]):
                    if len(hits) == SEARCH_MAX_HITS:
                        return [f"[only the first {SEARCH_MAX_HITS} matches shown; "
                                "narrow the search]"]
                    hits.append(f"{file_path}:{number}:{line[:SEARCH_SHOW_CHARS].rstrip()}")
        return []

    def _write_file(self, path: str, content: str) -> ToolOutcome:
        self.workspace.write(path, content)
        return _ok("ok")

    def _replace_in_file(self, path: str, old: str, new: str) -> ToolOutcome:
        self.workspace.replace(path, old, new)
        return _ok("ok")

    def _delete_file(self, path: str) -> ToolOutcome:
        self.workspace.delete(path)
        return _ok("ok")

    def _finish(self, summary: str) -> ToolOutcome:
        if not summary.strip():
            return _error("summary is empty; describe what you changed")
        if not self.workspace.changes():
            return _error("no changes were made; edit the files the plan names, then finish")
        problems = self.validate(self.workspace)
        if problems:
            listed = "\n".join(f"- {problem}" for problem in problems)
            return _error(
                f"the change is not valid yet:\n{listed}\nFix these, then call finish again."
            )
        return ToolOutcome(content="ok: change accepted", is_error=False, finished=True,
                           summary=summary.strip())


def _argument_problem(name: object, arguments: object) -> str | None:
    """Why a call does not fit its tool's schema, or None."""
    if not isinstance(name, str) or name not in _BY_NAME:
        shown = repr(name)[:80]
        return f"unknown tool {shown}; the tools are: {', '.join(_BY_NAME)}"
    if not isinstance(arguments, Mapping):
        return f"{name}: arguments must be a JSON object"
    schema = _BY_NAME[name].input_schema
    props = schema["properties"]
    extra = [str(k)[:40] for k in arguments if k not in props]
    if extra:
        allowed = ", ".join(props) or "none"
        return f"{name}: unexpected argument(s) {', '.join(extra)}; allowed: {allowed}"
    missing = [k for k in schema["required"] if k not in arguments]
    if missing:
        return f"{name}: missing required argument(s) {', '.join(missing)}"
    for key, value in arguments.items():
        kind = props[key]["type"]
        # bool is an int in Python, but not in JSON schema.
        if not isinstance(value, _PY_TYPES[kind]) or isinstance(value, bool):
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{name}: argument {key!r} must be {article} {kind}, got {type(value).__name__}"
    return None


def _ok(content: str) -> ToolOutcome:
    return ToolOutcome(content=content, is_error=False)


def _error(message: str) -> ToolOutcome:
    return ToolOutcome(content=f"error: {message}", is_error=True)
