"""Secret-looking strings in the lines a change adds, reported without echoing them."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SecretHit:
    """One suspicious string; ``preview`` keeps at most a public prefix of the value."""

    path: str
    line: int
    kind: str
    preview: str


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    shown: int  # how many leading characters are a public prefix, safe to show


# Order matters: the first pattern that claims a span wins (sk-ant- before sk-).
_PATTERNS = (
    _Pattern("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), 0),
    _Pattern("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), 4),
    _Pattern("GitHub token", re.compile(r"\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36,}\b"), 4),
    _Pattern("GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), 11),
    _Pattern("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), 7),
    _Pattern("OpenAI-style API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), 3),
    _Pattern("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 5),
)

# `api_key = "…"`, `"password": "…"`, `token: str = "…"`, `SECRET := '…'`.
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|apikey
        |access[_-]?key|private[_-]?key|auth[_-]?key)[A-Za-z0-9_]*)
    ["']?\s*(?::\s*[A-Za-z_][\w\[\]., |]*?\s*)?(?::=|=|:)\s*[rbuRBU]?
    (?P<quote>["'`])(?P<value>[^"'`\n]{12,})(?P=quote)
    """
)

_PLACEHOLDER_WORDS = (
    "xxx", "changeme", "change_me", "change-me", "placeholder", "example", "your_", "your-",
    "yourtoken", "dummy", "fake", "sample", "redacted", "replace", "insert", "todo",
    "<", ">", "${", "{{", "%(", "{}", "***", "...", "…",
)


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return True
    return len(set(value)) <= 4  # "aaaaaaaaaaaa", "000000000000"


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str) -> bool:
    """A literal with the spread of a generated credential, not a word, path or env name."""
    if any(ch.isspace() for ch in value) or "://" in value or value.startswith(("/", "./", "~/")):
        return False
    if re.fullmatch(r"[A-Z0-9_]+", value):  # an environment variable's name, not its value
        return False
    classes = sum(
        bool(re.search(pattern, value)) for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    return classes >= 2 and _entropy(value) >= 3.0


def _redact(secret: str, shown: int) -> str:
    return f"{secret[:shown]}…[redacted, {len(secret)} chars]"


def _scan_line(path: str, number: int, text: str) -> list[SecretHit]:
    hits: list[SecretHit] = []
    claimed: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for match in pattern.regex.finditer(text):
            start, end = match.span()
            if any(start < b and a < end for a, b in claimed):
                continue
            secret = match.group(0)
            body = secret[pattern.shown:]
            if pattern.kind != "private key" and (_is_placeholder(secret) or _entropy(body) < 3.0):
                continue
            claimed.append((start, end))
            preview = secret if pattern.kind == "private key" else _redact(secret, pattern.shown)
            hits.append(SecretHit(path=path, line=number, kind=pattern.kind, preview=preview))
    for match in _ASSIGNMENT.finditer(text):
        start, end = match.span("value")
        value = match.group("value")
        if any(start < b and a < end for a, b in claimed):
            continue
        if _is_placeholder(value) or not _looks_random(value):
            continue
        hits.append(
            SecretHit(
                path=path,
                line=number,
                kind=f"hard-coded {match.group('name')}",
                preview=_redact(value, 0),
            )
        )
    return hits


# Credentials as they appear in error text: an Authorization header, a token in a URL.
_CREDENTIAL_IN_TEXT = re.compile(
    r"(?i)(?P<lead>\b(?:bearer|token|basic)\s+|[?&](?:access_token|token|key|api_key)=|://[^/\s:@]*:)"
    r"(?P<value>(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{12,})"  # a digit: words are not credentials
)


def redact_secrets(text: str) -> str:
    """``text`` (an error message about to be posted) with every credential-looking string masked."""
    for pattern in _PATTERNS:
        text = pattern.regex.sub(lambda m, shown=pattern.shown: _redact(m.group(0), shown), text)
    return _CREDENTIAL_IN_TEXT.sub(lambda m: m.group("lead") + _redact(m.group("value"), 0), text)


def find_secrets(added_lines: Iterable[tuple[str, int, str]]) -> list[SecretHit]:
    """Scan ``(path, line number, text)`` triples, in order; one hit per secret found."""
    hits: list[SecretHit] = []
    for path, number, text in added_lines:
        hits.extend(_scan_line(path, number, text))
    return hits
