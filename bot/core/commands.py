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
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)\Z")


@dataclass(frozen=True)
class Command:
    """One command line. ``body`` is the new plan for ``edit`` and empty otherwise."""

    name: str
    argument: str
    body: str = ""


def _command_lines(text: str | None) -> Iterator[tuple[str, str, list[str]]]:
    """(word as typed, argument, following lines) per `/word` line outside code and quotes."""
    if not text:
        return
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fence: str | None = None
    for index, line in enumerate(lines):
        if fence is not None:
            stripped = line.strip()
            # A closing fence: same character, at least as long, nothing after it.
            if (
                len(line) - len(line.lstrip(" ")) <= 3
                and stripped
                and set(stripped) == {fence[0]}
                and len(stripped) >= len(fence)
            ):
                fence = None
            continue
        opened = _FENCE_OPEN.match(line)
        # A backtick fence's info string cannot contain a backtick (CommonMark).
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            continue
        if line.lstrip().startswith(">"):
            continue
        match = _COMMAND_LINE.match(line)
        if match:
            yield match.group(1), (match.group(2) or "").strip(), lines[index + 1 :]


def parse_commands(text: str | None) -> list[Command]:
    """The known commands in ``text``, in order; `/edit` takes the rest of the comment."""
    commands = []
    for word, argument, rest in _command_lines(text):
        name = word.lower()
        if name not in KNOWN_COMMANDS:
            continue
        if name == "edit":
            commands.append(Command(name, argument, "\n".join(rest).strip()))
            break
        commands.append(Command(name, argument))
    return commands


def unknown_commands(text: str | None) -> list[str]:
    """Lower-cased `/words` (no slash) that look like commands but are not, deduplicated."""
    unknown: list[str] = []
    for word, _argument, _rest in _command_lines(text):
        name = word.lower()
        if name == "edit":
            break
        if name not in KNOWN_COMMANDS and name not in unknown:
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
