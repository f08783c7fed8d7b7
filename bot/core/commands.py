"""Comment commands (SPEC section 3): finding `/word argument` lines in a comment's Markdown."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from bot.core.repo_config import VARIANTS

Where = Literal["issue", "pr"]

KNOWN_COMMANDS: tuple[str, ...] = (
    "approve", "revise", "edit", "variant", "cancel", "retry", "status", "fix", "rescore", "help",
)

COMMAND_SCOPE: dict[str, set[Where]] = {
    "approve": {"issue"},
    "revise": {"issue"},
    "edit": {"issue"},
    "variant": {"issue"},
    "cancel": {"issue"},
    "retry": {"issue", "pr"},
    "status": {"issue"},
    "fix": {"pr"},
    "rescore": {"pr"},
    "help": {"issue", "pr"},
}

# Usage and one-line effect of each command, for /help and the plan comment.
COMMAND_USAGE: dict[str, tuple[str, str]] = {
    "approve": ("/approve", "implement the current plan version"),
    "revise": ("/revise <feedback>", "write a new plan version that follows your feedback"),
    "edit": ("/edit", "the rest of your comment becomes the new plan version"),
    "variant": (
        "/variant OO|OK|KO|KK",
        "choose the split, planner then implementer: O = strong model, K = cheap model",
    ),
    "cancel": ("/cancel", "stop work on this issue (removing the label does the same)"),
    "retry": ("/retry", "re-run the stage that failed last"),
    "status": ("/status", "show state, plan version, models, tokens and cost so far"),
    "fix": ("/fix <feedback>", "the implementer works on this branch again and pushes a commit"),
    "rescore": ("/rescore", "score the pull request's current diff again"),
    "help": ("/help", "list the commands"),
}

# "/word" then whitespace or end of line: "/usr/bin", "/approve," and URLs never match.
_COMMAND_LINE = re.compile(r"\s*/([A-Za-z][A-Za-z0-9_-]*)(?:\s+(.*))?\Z")
# A fence opener, also as the first thing in a list item ("- ```", "1. ~~~").
_FENCE_OPEN = re.compile(r"(?P<indent> *)(?:(?:[-+*]|\d{1,9}[.)]) +)*(?P<fence>`{3,}|~{3,})(?P<info>.*)\Z")
_LIST_ITEM = re.compile(r" *(?:[-+*]|\d{1,9}[.)])(?: |\Z)")
_CODE_SPAN = re.compile(r"(`+)[^`].*?\1|`+")
# Four spaces of indentation make an indented code block (or continue a paragraph).
_CODE_INDENT = 4
# Commands that take the lines after them, up to the next command, as their text.
_MULTILINE = ("revise", "fix")


@dataclass(frozen=True)
class Command:
    """One command line. ``body`` is the lines after it that belong to it (see parse_commands)."""

    name: str
    argument: str
    body: str = ""

    @property
    def text(self) -> str:
        """The argument and the body as one text: a /revise or /fix feedback, an /edit plan."""
        return "\n".join(part for part in (self.argument, self.body) if part).strip()


@dataclass(frozen=True)
class _Line:
    index: int
    word: str  # as typed
    argument: str


def _command_lines(lines: list[str]) -> Iterator[_Line]:
    """Every `/word` line a reader sees as its own line of prose.

    Not: lines in fenced code (also fences inside list items), indented code, HTML
    comments, quotes, and the lazy continuation of a quoted paragraph.
    """
    fence: str | None = None
    in_comment = in_quote = in_list = False
    for index, line in enumerate(lines):
        if fence is not None:
            stripped = line.strip()
            # A closing fence: same character, at least as long, nothing after it.
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            continue
        if in_comment:
            in_comment = "-->" not in line
            continue
        if not line.strip():
            in_quote = False
            continue
        opened = _FENCE_OPEN.match(line)
        # A backtick fence's info string cannot contain a backtick (CommonMark); at the
        # top level a fence indented four spaces is indented code, not a fence.
        if opened and not (opened.group("fence")[0] == "`" and "`" in opened.group("info")) and (
            in_list or len(opened.group("indent")) < _CODE_INDENT or _LIST_ITEM.match(line)
        ):
            fence = opened.group("fence")
            continue
        indent = len(line) - len(line.lstrip(" "))
        if _LIST_ITEM.match(line):
            in_list = True
        elif indent == 0 and not in_quote:
            in_list = False
        prose = _CODE_SPAN.sub("", line)  # "`<!--` starts a comment" opens none
        if "<!--" in prose and "-->" not in prose.rsplit("<!--", 1)[1]:
            in_comment = True  # the rest of the comment is hidden, this line's start is not
        if line.lstrip().startswith(">"):
            in_quote = True
            continue
        if in_quote or indent >= _CODE_INDENT:
            continue  # "> quote\n/approve" is one quoted paragraph, rendered on one line
        match = _COMMAND_LINE.match(line)
        if match:
            yield _Line(index, match.group(1), (match.group(2) or "").strip())


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_commands(text: str | None) -> list[Command]:
    """The known commands in ``text``, in order.

    `/edit` takes the rest of the comment; `/revise` and `/fix` take the lines after them
    up to the next command, so feedback may span lines.  ``Command.text`` puts the text
    on the command's own line first.
    """
    if not text:
        return []
    lines = _split_lines(text)
    found = [line for line in _command_lines(lines) if line.word.lower() in KNOWN_COMMANDS]
    commands = []
    for position, line in enumerate(found):
        name = line.word.lower()
        if name == "edit":
            commands.append(Command(name, line.argument, "\n".join(lines[line.index + 1 :]).strip()))
            break
        body = ""
        if name in _MULTILINE:
            stop = found[position + 1].index if position + 1 < len(found) else len(lines)
            body = "\n".join(lines[line.index + 1 : stop]).strip()
        commands.append(Command(name, line.argument, body))
    return commands


def unknown_commands(text: str | None) -> list[str]:
    """Lower-cased `/words` (no slash) that look like commands but are not, deduplicated.

    Lines inside a /revise or /fix feedback, or after /edit, are the command's text.
    """
    unknown: list[str] = []
    taken = False
    for line in _command_lines(_split_lines(text or "")):
        name = line.word.lower()
        if name == "edit":
            break
        if name in KNOWN_COMMANDS:
            taken = name in _MULTILINE
        elif not taken and name not in unknown:
            unknown.append(name)
    return unknown


def suggest(word: str) -> str | None:
    """The known command closest to ``word`` (e.g. "aprove" -> "approve"), or None."""
    word = word.strip().lstrip("/").lower()
    if word in KNOWN_COMMANDS:
        return word
    close = difflib.get_close_matches(word, KNOWN_COMMANDS, n=1, cutoff=0.6)
    return close[0] if close else None


def parse_variant(arg: str) -> str | None:
    """"OO", "OK", "KO" or "KK" from a `/variant` argument (any case), else None."""
    value = arg.strip().strip("`'\"").strip().upper()
    return value if value in VARIANTS else None
