"""How a file too large to show whole enters the context pack: its head, or an outline plus excerpts."""

from __future__ import annotations

import ast
import math
import re
from collections import Counter, defaultdict

from bot.core.fences import display_path, fence, fenced, nbytes
from bot.core.relevance import IssueSignals

MIN_BLOCK_BYTES = 300
ERROR_LINE_WEIGHT = 10.0  # a line quoting the issue's error message outranks any one name
_OUTLINE_RE = re.compile(
    r"^\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\(\w+\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function\*?|func|fn|interface|struct|enum|trait|impl|type|module)\s+\S"
    r"|^\s*(?:export\s+)?(?:const|let|var)\s+\w+\s*=\s*(?:async\s*)?(?:\(|function)"
)


def head_block(label: str, path: str, text: str, limit: int) -> str | None:
    """The beginning of ``text``, fenced within ``limit`` bytes; None when too little fits."""
    header = f"\n## {label}: {display_path(path)} (beginning only; {nbytes(text)} bytes in all)\n"
    room = limit - nbytes(header) - 2 * len(fence(text)) - 3
    if room < 100:
        return None
    return header + fenced(_trim(text, room))


def outline_block(label: str, path: str, text: str, limit: int, signals: IssueSignals) -> str | None:
    """An outline of ``text`` and excerpts around the issue's matches, within ``limit`` bytes."""
    lines = text.splitlines()
    header = (
        f"\n## {label}: {display_path(path)} ({len(lines)} lines, too large to show in full: "
        "outline, then the lines that match the issue; line numbers on the left)\n"
    )
    room = limit - nbytes(header) - 2 * len(fence(text)) - 3
    if room < MIN_BLOCK_BYTES:
        return None
    weights = _line_weights(lines, signals)
    entries = _outline(path, text, lines)
    outline = _fit_outline(entries, weights, room * 35 // 100)
    body = "Outline:\n" + outline if outline else ""
    excerpts = _excerpts(lines, weights, room - nbytes(body) - 12)
    if excerpts:
        body += "\nExcerpts:\n" + excerpts
    return header + fenced(body) if body else None


def _outline(path: str, text: str, lines: list[str]) -> list[tuple[int, str]]:
    """(line index, definition line) for classes and functions; ast for Python, else regex."""
    if path.endswith(".py"):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            tree = None
        if tree is not None:
            kinds = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            found = sorted({n.lineno - 1 for n in ast.walk(tree) if isinstance(n, kinds)})
            return [(i, lines[i].rstrip()[:160]) for i in found if i < len(lines)]
    return [(i, s.rstrip()[:160]) for i, s in enumerate(lines) if _OUTLINE_RE.match(s)]


def _line_weights(lines: list[str], signals: IssueSignals) -> Counter[int]:
    """Per line: issue identifiers, damped by how often each recurs in this file, and errors."""
    idents = sorted(signals.idents, key=len, reverse=True)
    word_re = re.compile(r"\b(?:" + "|".join(map(re.escape, idents)) + r")\b") if idents else None
    matches: dict[str, list[int]] = defaultdict(list)
    weights: Counter[int] = Counter()
    for i, line in enumerate(lines):
        if word_re is not None:
            for word in set(word_re.findall(line)):
                matches[word].append(i)
        for error in signals.errors:
            if error in line:
                matches[error].append(i)
    for word, where in matches.items():
        # A name on 3 lines of a file says more than one on 300 (a per-file IDF).
        weight = signals.idents.get(word, ERROR_LINE_WEIGHT) / (1 + math.log(len(where)))
        for i in where:
            weights[i] += weight
    return weights


def _fit_outline(entries: list[tuple[int, str]], weights: Counter[int], room: int) -> str:
    """Definitions in line order; when they do not all fit, those matching the issue first."""
    rendered = {i: f"{i + 1:>5}: {s}\n" for i, s in entries}
    if sum(nbytes(r) for r in rendered.values()) <= room:
        return "".join(rendered.values())
    order = sorted(rendered, key=lambda i: (-weights.get(i, 0.0), i))
    keep: set[int] = set()
    size = 24  # the "... N more" line
    for i in order:
        if size + nbytes(rendered[i]) > room:
            break
        keep.add(i)
        size += nbytes(rendered[i])
    if not keep:
        return ""
    return "".join(rendered[i] for i in sorted(keep)) + f"  ... {len(entries) - len(keep)} more\n"


def _excerpts(lines: list[str], weights: Counter[int], room: int) -> str:
    """Windows of lines around the strongest matches, in line order."""
    if room <= 0 or not weights:
        return ""
    strongest = max(weights.values())
    chosen: set[int] = set()
    size = 0
    for center, weight in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:30]:
        if weight < strongest / 4:
            break  # weak matches are noise next to the strong ones
        window = [i for i in range(max(0, center - 4), min(len(lines), center + 5)) if i not in chosen]
        cost = sum(nbytes(_numbered(i, lines[i])) + 1 for i in window) + 6
        if cost > room - size:
            continue
        chosen.update(window)
        size += cost
    rendered: list[str] = []
    for i in sorted(chosen):
        if rendered and i - 1 not in chosen:
            rendered.append("  ...")
        rendered.append(_numbered(i, lines[i]))
    return "\n".join(rendered) + "\n" if rendered else ""


def _numbered(index: int, line: str) -> str:
    return f"{index + 1:>5}| {line.rstrip()[:240]}"


def _trim(text: str, room: int) -> str:
    """The longest prefix of whole lines within ``room`` UTF-8 bytes (a cut line if none fits)."""
    data = text.encode("utf-8")[:room]
    cut = data.decode("utf-8", errors="ignore")
    end = cut.rfind("\n") + 1
    return cut[:end] if end > len(cut) // 2 else cut  # a very long line is cut, not dropped
