"""Semantic Versioning 2.0.0: parsing and precedence."""

from __future__ import annotations

import re

_VERSION = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def parse(version: str) -> dict[str, object]:
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not valid SemVer string")
    parts = match.groupdict()
    return {"major": int(parts["major"]), "minor": int(parts["minor"]), "patch": int(parts["patch"]),
            "prerelease": parts["prerelease"], "build": parts["build"]}


def _cmp(a, b) -> int:
    return (a > b) - (a < b)


def _natural_key(text: str) -> list:
    return [int(chunk) if chunk.isdigit() else chunk.lower() for chunk in re.split(r"([0-9]+)", text)]


def _compare_prerelease(a: str | None, b: str | None) -> int:
    # A version without a pre-release has higher precedence than one with.
    if a is None or b is None:
        return _cmp(a is None, b is None)
    return _cmp(_natural_key(a), _natural_key(b))


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` has lower, equal or higher precedence than ``b``."""
    va, vb = parse(a), parse(b)
    release = _cmp((va["major"], va["minor"], va["patch"]), (vb["major"], vb["minor"], vb["patch"]))
    if release:
        return release
    return _compare_prerelease(va["prerelease"], vb["prerelease"])


def min_ver(a: str, b: str) -> str:
    return a if compare(a, b) <= 0 else b


def max_ver(a: str, b: str) -> str:
    return a if compare(a, b) >= 0 else b
