"""Which files the implementer's first message carries, so it need not spend turns reading them (pure).

Every implementer turn re-sends the whole history, so a ``read_file`` turn costs the file once
as output of the tool and then again on every later turn, plus one more full re-send of the
history for the turn itself.  Files the approved plan names are read in almost every run:
putting their current text in the first message saves those turns.  A token budget keeps a
plan that names huge files from filling the context; what does not fit is left to read_file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.core.tokens import estimate_tokens

# ~25% of a modest 128k-token implementer context: room is left for the plan, the tools and
# the edits.  The files are shown as read_file shows them (numbered lines), so this also
# bounds what a single file may add.
PRELOAD_TOKEN_BUDGET = 32_000
# The answer to a whole-file read of a preloaded file that has not changed: re-sending it
# would cost a turn's worth of tokens again on every later turn, and tell the model nothing.
UNCHANGED_REREAD = ("unchanged since it was shown in the first message ({lines} lines); "
                    "read a line range if you need a part again")
_NUMBERED_LINE = re.compile(r"^ *\d+\| ", re.MULTILINE)


@dataclass(frozen=True)
class Preloaded:
    path: str
    shown: str  # exactly what read_file would have answered


@dataclass(frozen=True)
class PreloadChoice:
    files: tuple[Preloaded, ...]
    too_large: tuple[str, ...]  # named by the plan and readable, but over the remaining budget


def choose_preloads(paths: Sequence[str], read: Callable[[str], str | None], *,
                    budget_tokens: int = PRELOAD_TOKEN_BUDGET) -> PreloadChoice:
    """The plan's files in plan order while they fit; ``read`` answers None for a file that
    cannot be shown (not there yet, binary, refused)."""
    files: list[Preloaded] = []
    too_large: list[str] = []
    left = budget_tokens
    for path in dict.fromkeys(paths):
        shown = read(path)
        if shown is None:
            continue
        cost = estimate_tokens(shown) + estimate_tokens(path) + 8  # the <file> wrapper
        if cost > left:
            too_large.append(path)
            continue
        files.append(Preloaded(path=path, shown=shown))
        left -= cost
    return PreloadChoice(files=tuple(files), too_large=tuple(too_large))


def preload_block(file: Preloaded) -> str:
    return f'<file path="{file.path}">\n{file.shown}\n</file>'


def render_preloads(choice: PreloadChoice) -> str:
    """The files as ``<file path="...">`` blocks, then a note naming those left out."""
    blocks = [preload_block(f) for f in choice.files]
    if choice.too_large:
        blocks.append("Not shown (over the size budget; read them if you need to): "
                      + ", ".join(choice.too_large))
    return "\n".join(blocks)


def whole_file_read(arguments: Mapping[str, object]) -> str | None:
    """The path a ``read_file`` call asks for whole (no line range), else None."""
    path = arguments.get("path")
    if not isinstance(path, str) or "start_line" in arguments or "end_line" in arguments:
        return None
    return path


def unchanged_reread(file: Preloaded, *, shown_now: str | None, first_message: str) -> str | None:
    """The short answer to re-reading ``file`` whole, or None to answer with the file.

    Only when ``read_file`` would show exactly what was preloaded (the model has not changed
    it) and the preloaded copy is still in the first message the model is sent.
    """
    if shown_now != file.shown or preload_block(file) not in first_message:
        return None
    return UNCHANGED_REREAD.format(lines=len(_NUMBERED_LINE.findall(file.shown)))
