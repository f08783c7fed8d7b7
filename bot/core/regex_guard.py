"""The `search` tool's regex engine: Python's meaning of a pattern, run in linear time.

A model's pattern runs over untrusted repository text, and Python's ``re`` backtracks: a
pattern such as ``(?:(?:.{0,10}){0,10}){0,10}!`` takes minutes on a 14-character line, and
``re`` holds the GIL all the while, so ``asyncio.to_thread`` does not keep the event loop
(every installation's deliveries, ``/healthz``) alive.  Guessing which shapes backtrack
badly was tried before and missed that one.  So the pattern is run by RE2 (``google-re2``),
whose matching time is linear in the text and the compiled program, and which releases the
GIL while it matches.  A killable subprocess per search was the other option: it would keep
``re`` exactly, but costs a process start per call, has to ship the workspace's overlay to
the child, and still burns a core until the deadline kills it.

What a pattern means stays Python's: Python's own parser reads it (so what ``re`` refuses is
refused with ``re``'s message, and ``(?x)``, ``\\Z``, ``{,n}`` mean what they mean in
Python), and the parsed tree is written back out in RE2 syntax, with ``\\d``, ``\\w`` and
``\\s`` spelled as the Unicode sets Python uses.  What RE2 cannot run in linear time
(backreferences, lookarounds, atomic groups and possessive repeats) is answered with a clear
refusal, and so is a pattern whose compiled program is too large ("pattern too expensive").
One difference is left: RE2's ``\\b`` and ``\\B`` look at ASCII word characters only.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # the stdlib's own regex opcodes, to read its parse tree
import re._parser as sre_parse  # the stdlib's own regex parser: a pattern means what it means to re
from typing import Any

import re2

SEARCH_LINE_CHARS = 2_000  # at most the first 2,000 characters of a line are searched
# RE2's cost per line is about (characters × program size); 5,000 instructions on a
# 2,000-character line is a few milliseconds even when RE2 falls back from its DFA.
SEARCH_MAX_PROGRAM = 5_000
_RE2_MAX_REPEAT = 1_000  # RE2 refuses {n} with n over 1,000

_FLAG_LETTERS = ((sre_constants.SRE_FLAG_IGNORECASE, "i"), (sre_constants.SRE_FLAG_MULTILINE, "m"),
                 (sre_constants.SRE_FLAG_DOTALL, "s"))
# Python's str classes: \d is str.isdecimal (Unicode Nd), \w is str.isalnum or "_",
# \s is str.isspace.  Under (?a) they are the ASCII sets.
_UNICODE_SETS = {
    "DIGIT": r"\p{Nd}",
    "WORD": r"\p{L}\p{N}_",
    "SPACE": r"\t\n\x{b}\f\r \x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
             r"\x{202f}\x{205f}\x{3000}",
}
_ASCII_SETS = {"DIGIT": "0-9", "WORD": "0-9A-Za-z_", "SPACE": r"\t\n\x{b}\f\r "}
_UNSUPPORTED = {
    "GROUPREF": "backreferences such as \\1 or (?P=name)",
    "GROUPREF_EXISTS": "conditional groups (?(1)...)",
    "ASSERT": "lookahead and lookbehind (?=...), (?<=...)",
    "ASSERT_NOT": "negative lookahead and lookbehind (?!...), (?<!...)",
    "ATOMIC_GROUP": "atomic groups (?>...)",
    "POSSESSIVE_REPEAT": "possessive repeats such as a*+",
}


class PatternRefused(Exception):
    """Why a search pattern cannot be run; the message is shown to the model as is."""


def compile_search(pattern: str) -> Any:
    """The pattern compiled for RE2 with Python's meaning, or PatternRefused saying why not."""
    try:
        re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternRefused(f"invalid regular expression: {exc}") from None
    flags = parsed.state.flags
    prefix = "".join(letter for flag, letter in _FLAG_LETTERS if flags & flag)
    try:
        body = _emit(list(parsed), ascii=bool(flags & sre_constants.SRE_FLAG_ASCII))
    except RecursionError:
        raise PatternRefused("invalid regular expression: nested too deeply") from None
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the model's mistake, not ours to log
    options.never_capture = True  # only "does this line match" is asked
    try:
        regex = re2.compile(f"(?{prefix}){body}" if prefix else body, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if "repetition" in reason or "too large" in reason:
            raise PatternRefused(f"pattern too expensive: its repeats expand to more than "
                                 f"{_RE2_MAX_REPEAT} copies; search for a simpler pattern") from None
        raise PatternRefused(f"the search engine (RE2, linear time) refused the pattern: {reason}") from None
    if regex.programsize > SEARCH_MAX_PROGRAM:
        raise PatternRefused(f"pattern too expensive: it compiles to {regex.programsize} instructions "
                             f"(at most {SEARCH_MAX_PROGRAM}); search for a simpler or shorter pattern")
    return regex


def search_line(regex: Any, line: str) -> bool:
    """Whether ``regex`` matches somewhere in ``line`` (text RE2 cannot encode is replaced)."""
    try:
        return regex.search(line) is not None
    except UnicodeEncodeError:  # a lone surrogate from an undecodable byte
        return regex.search(line.encode("utf-8", "replace").decode("utf-8")) is not None


def _emit(items: list[Any], *, ascii: bool) -> str:
    return "".join(_emit_item(op, av, ascii=ascii) for op, av in items)


def _emit_item(op: Any, av: Any, *, ascii: bool) -> str:
    name = str(op)
    if name == "LITERAL":
        return _char(av)
    if name == "NOT_LITERAL":
        return f"[^{_char(av)}]"
    if name == "ANY":
        return "."  # (?s) is carried by the flags, as in Python
    if name == "IN":
        return _emit_set(av, ascii=ascii)
    if name == "AT":
        return _AT[str(av)]
    if name == "BRANCH":
        return "(?:" + "|".join(_emit(list(branch), ascii=ascii) for branch in av[1]) + ")"
    if name == "SUBPATTERN":
        _group, add, remove, sub = av
        inner_ascii = (ascii or bool(add & sre_constants.SRE_FLAG_ASCII)) and not (
            remove & sre_constants.SRE_FLAG_ASCII) and not (add & sre_constants.SRE_FLAG_UNICODE)
        on = "".join(letter for flag, letter in _FLAG_LETTERS if add & flag)
        off = "".join(letter for flag, letter in _FLAG_LETTERS if remove & flag)
        scoped = on + (f"-{off}" if off else "")
        return f"(?{scoped}:" + _emit(list(sub), ascii=inner_ascii) + ")"
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        low, high, sub = av
        if low > _RE2_MAX_REPEAT or (high != sre_constants.MAXREPEAT and high > _RE2_MAX_REPEAT):
            raise PatternRefused(f"pattern too expensive: a repeat count over {_RE2_MAX_REPEAT}")
        if high == sre_constants.MAXREPEAT:
            count = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
        elif (low, high) == (0, 1):
            count = "?"
        else:
            count = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
        lazy = "?" if name == "MIN_REPEAT" else ""
        return "(?:" + _emit(list(sub), ascii=ascii) + ")" + count + lazy
    if name in _UNSUPPORTED:
        raise PatternRefused(f"the search engine runs in linear time and does not support "
                             f"{_UNSUPPORTED[name]}; search without it")
    raise PatternRefused(f"the search engine does not support this part of the pattern ({name})")


_AT = {"AT_BEGINNING": "^", "AT_END": "$", "AT_BEGINNING_STRING": r"\A", "AT_END_STRING": r"\z",
       "AT_BOUNDARY": r"\b", "AT_NON_BOUNDARY": r"\B"}


def _char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{{{code:x}}}"


def _emit_set(items: list[Any], *, ascii: bool) -> str:
    """A character set; negated categories (\\W, \\S, \\D) inside [...] become alternatives."""
    sets = _ASCII_SETS if ascii else _UNICODE_SETS
    negate = False
    positive: list[str] = []
    negated: list[str] = []
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            positive.append(_char(av))
        elif name == "RANGE":
            positive.append(f"{_char(av[0])}-{_char(av[1])}")
        elif name == "CATEGORY":
            kind = str(av).removeprefix("CATEGORY_")
            if kind.startswith("NOT_"):
                negated.append(sets[kind.removeprefix("NOT_")])
            else:
                positive.append(sets[kind])
        else:
            raise PatternRefused(f"the search engine does not support this character set ({name})")
    if negate:
        if negated:
            raise PatternRefused("a [^...] set holding \\W, \\S or \\D is not supported; "
                                 "write the set without them")
        return "[^" + "".join(positive) + "]"
    parts = (["[" + "".join(positive) + "]"] if positive else []) + [f"[^{body}]" for body in negated]
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
