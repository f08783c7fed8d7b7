"""Whether a model's search regex is safe to run on untrusted text, and how much of each line to search."""

from __future__ import annotations

import re._parser as sre_parse  # the stdlib's own regex parser, to inspect a pattern's shape
from typing import Any

SEARCH_LINE_CHARS = 2_000  # at most the first 2,000 characters of a line are searched
SEARCH_MAX_REPEATS = 4
SEARCH_STEP_BUDGET = 20_000_000  # backtracking steps allowed per line, roughly 0.15 s


def search_plan(pattern: str) -> tuple[str | None, int]:
    """``(why the pattern is refused or None, characters of each line to search)``.

    Python's ``re`` has no timeout and the repository's text is untrusted, so we bound the
    backtracking instead: repeats inside repeats (``(a+)+``) and repeated overlapping
    alternatives (``(a|aa)*``) take exponential time and are refused; k sequential
    unbounded repeats (``a.*b.*c``) take about L**k steps on a crafted line of length L,
    so L shrinks as k grows and more than SEARCH_MAX_REPEATS are refused.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - re.compile accepted it; judge by the line cap only
        return None, SEARCH_LINE_CHARS
    shape = {"nested": False, "repeats": 0}
    _walk(list(parsed), inside_repeat=False, shape=shape)
    if shape["nested"]:
        return ("the pattern repeats a group that contains a repeat or overlapping "
                "alternatives (like (a+)+ or (a|aa)*), which can take exponential time; "
                "simplify it"), 0
    repeats = int(shape["repeats"])
    if repeats > SEARCH_MAX_REPEATS:
        return (f"the pattern has {repeats} unbounded repeats (*, +, {{n,}}); use at most "
                f"{SEARCH_MAX_REPEATS}, e.g. search for the most distinctive part"), 0
    if repeats <= 1:
        return None, SEARCH_LINE_CHARS
    return None, min(SEARCH_LINE_CHARS, int(SEARCH_STEP_BUDGET ** (1 / repeats)))


def _walk(items: list[Any], *, inside_repeat: bool, shape: dict[str, Any]) -> None:
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            many = av[1] > 10
            shape["repeats"] += many
            shape["nested"] |= many and inside_repeat
            _walk(list(av[2]), inside_repeat=inside_repeat or many, shape=shape)
        elif name == "BRANCH":
            # (a|aa)* : alternatives that can match the same text backtrack exponentially.
            shape["nested"] |= inside_repeat and not _branches_deterministic(av[1])
            for branch in av[1]:
                _walk(list(branch), inside_repeat=inside_repeat, shape=shape)
        elif name == "SUBPATTERN":
            _walk(list(av[3]), inside_repeat=inside_repeat, shape=shape)
        elif name in ("ASSERT", "ASSERT_NOT"):
            _walk(list(av[1]), inside_repeat=inside_repeat, shape=shape)
        elif name == "GROUPREF_EXISTS":
            for branch in av[1:]:
                if branch is not None:
                    _walk(list(branch), inside_repeat=inside_repeat, shape=shape)
        # POSSESSIVE_REPEAT and ATOMIC_GROUP never backtrack into themselves: safe.


def _branches_deterministic(branches: list[Any]) -> bool:
    """True when every alternative starts with its own distinct literal character."""
    firsts = []
    for branch in branches:
        items = list(branch)
        if not items or str(items[0][0]) != "LITERAL":
            return False
        firsts.append(items[0][1])
    return len(set(firsts)) == len(firsts)
