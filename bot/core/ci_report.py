"""What a failed CI run says, cut down to what an implementer can act on (pure, no I/O).

The bot reads the failing check runs (their output and annotations), the failed GitHub
Actions job's log and the failing commit statuses; this module turns them into one bounded
text for the implementer and names the failing tests for the review's verdict.  A CI log
can be megabytes of setup noise: only the failing test names, assertion and traceback lines
(with a little context) and the log's last lines are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Actions prefixes every log line with an ISO timestamp; tools add ANSI colours.
_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Lines worth keeping from a test or build log, across the common runners.
_INTERESTING = re.compile(
    r"(FAILED|FAIL[: ]|ERROR[: ]|Error:|error:|##\[error\]|Traceback \(most recent call last\)|"
    r"^\s*File \"|^E\s{2,}|^>\s|assert|Assertion|Exception|panicked at|✕|✗|\bnot ok\b|"
    r"expected|Expected|Received|^\s*at .+:\d+)")
# "FAILED tests/test_x.py::test_y - AssertionError", jest's "✕ name", go's "--- FAIL: TestX".
_FAILED_TEST = re.compile(
    r"(?:FAILED|ERROR)\s+(\S+::\S+)|--- FAIL: (\S+)|✕ (.+?)(?: \(\d+ ?ms\))?$|^\s*not ok \d+ - (.+)$")
CONTEXT_LINES = 2
TAIL_LINES = 25
LOG_CHARS = 6_000
REPORT_CHARS = 24_000
FIELD_CHARS = 2_000
MAX_ANNOTATIONS = 30


@dataclass(frozen=True)
class Annotation:
    path: str
    line: int
    level: str
    message: str


@dataclass(frozen=True)
class FailingCheck:
    """One failing check run or commit status, with what it told us about the failure."""

    name: str
    url: str | None
    conclusion: str
    kind: str = "check run"
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: tuple[Annotation, ...] = ()
    log: str | None = None
    """The failed job's log, already trimmed with ``trim_log``."""
    tests: tuple[str, ...] = field(default=())
    """Failing test names found in the log, output or annotations."""


def clean_line(line: str) -> str:
    return _ANSI.sub("", _TIMESTAMP.sub("", line)).rstrip()


def trim_log(text: str, *, max_chars: int = LOG_CHARS) -> str:
    """The lines of a CI log that explain a failure, with context, and its last lines; at most ``max_chars``."""
    lines = [clean_line(line) for line in text.splitlines()]
    keep: set[int] = set()
    for index, line in enumerate(lines):
        if _INTERESTING.search(line):
            keep.update(range(max(0, index - CONTEXT_LINES), min(len(lines), index + CONTEXT_LINES + 1)))
    keep.update(range(max(0, len(lines) - TAIL_LINES), len(lines)))
    out: list[str] = []
    previous = -2
    for index in sorted(keep):
        if not lines[index].strip():
            continue
        if index != previous + 1 and out:
            out.append("…")
        out.append(lines[index])
        previous = index
    trimmed = "\n".join(out)
    if len(trimmed) <= max_chars:
        return trimmed
    # Too much: the first failures and the end of the log matter most; the middle goes.
    half = max_chars // 2
    return trimmed[:half].rstrip() + "\n… (log cut) …\n" + trimmed[-half:].lstrip()


def failing_tests(texts: Iterable[str | None]) -> tuple[str, ...]:
    """Test names reported as failed in ``texts``, first seen first, without repeats."""
    names: dict[str, None] = {}
    for text in texts:
        for line in (text or "").splitlines():
            match = _FAILED_TEST.search(clean_line(line))
            if match:
                name = next(group for group in match.groups() if group)
                names.setdefault(name.strip(), None)
    return tuple(names)


def _clip(text: str | None, limit: int = FIELD_CHARS) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " … (cut)"


def render_ci_report(checks: Sequence[FailingCheck], *, max_chars: int = REPORT_CHARS) -> str:
    """The failing checks as the implementer reads them: names, outputs, annotations, log excerpts."""
    parts: list[str] = []
    for check in checks:
        lines = [f"### {check.kind} `{check.name}`: {check.conclusion}"]
        if check.tests:
            lines.append("Failing tests: " + ", ".join(check.tests))
        if check.title:
            lines.append(f"Title: {_clip(check.title, 300)}")
        if check.summary:
            lines.append(f"Summary:\n{_clip(check.summary)}")
        if check.text:
            lines.append(f"Details:\n{_clip(check.text)}")
        if check.annotations:
            lines.append("Annotations:")
            lines += [f"- {a.path}:{a.line} [{a.level}] {_clip(a.message, 500)}"
                      for a in check.annotations[:MAX_ANNOTATIONS]]
            if len(check.annotations) > MAX_ANNOTATIONS:
                lines.append(f"- … and {len(check.annotations) - MAX_ANNOTATIONS} more")
        if check.log:
            lines.append("Log excerpt (failures, tracebacks and the last lines):\n```\n"
                         + check.log.replace("```", "ˋˋˋ") + "\n```")
        parts.append("\n".join(lines))
    report = "\n\n".join(parts) or "(CI failed but reported no details route-me could read.)"
    if len(report) > max_chars:
        report = report[:max_chars].rstrip() + "\n… (report cut)"
    return report
