"""Hidden markers (`<!-- route-me:<kind> {json} -->`) that make the bot's own output findable."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_KIND_RE = re.compile(r"[a-z][a-z0-9-]*\Z")
# Non-greedy up to the first "-->": make_marker guarantees the JSON never contains one.
_MARKER_RE = re.compile(
    r"<!--[ \t]*route-me:(?P<kind>[a-z][a-z0-9-]*)[ \t\r\n]+(?P<json>.*?)-->", re.S
)
_STRIP_RE = re.compile(r"[ \t]*<!--[ \t]*route-me:[a-z][a-z0-9-]*[ \t\r\n].*?-->[ \t]*\r?\n?", re.S)


def make_marker(kind: str, data: Mapping[str, Any]) -> str:
    """The marker text; raises ValueError for a bad kind, TypeError for unserialisable data."""
    if not _KIND_RE.match(kind):
        raise ValueError(f"marker kind must be lower-case letters, digits and '-': {kind!r}")
    encoded = json.dumps(dict(data), sort_keys=True, separators=(",", ":"), allow_nan=False)
    # '<', '>' and '--' can only occur inside JSON strings, where a \u escape means the same
    # thing; escaping them means no value can close (or nest) the HTML comment.
    encoded = (
        encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("--", "\\u002d\\u002d")
    )
    return f"<!-- route-me:{kind} {encoded} -->"


def find_marker(body: str | None, kind: str) -> dict[str, Any] | None:
    """The JSON object of the first well-formed marker of ``kind`` in ``body``, else None."""
    if not body:
        return None
    for match in _MARKER_RE.finditer(body):
        if match.group("kind") != kind:
            continue
        try:
            data = json.loads(match.group("json"))
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return None


def strip_markers(body: str | None) -> str:
    """``body`` without any route-me marker, surrounding whitespace trimmed."""
    if not body:
        return ""
    return _STRIP_RE.sub("", body).strip()


def plan_body_markers(version: int) -> tuple[str, str]:
    """The markers around the plan text inside the plan comment (see extract_plan_body)."""
    return make_marker("plan-body", {"version": version}), make_marker("plan-body-end", {})


def extract_plan_body(body: str | None) -> str | None:
    """The plan text of a plan comment (e.g. after a maintainer edited it), or None."""
    # Bodies edited in the browser come back with CRLF line ends.
    text = (body or "").replace("\r\n", "\n")
    match = re.search(
        r"<!-- route-me:plan-body [^\n]*?-->(.*?)<!-- route-me:plan-body-end \{\} -->", text, re.S
    )
    return match.group(1).strip() if match else None
