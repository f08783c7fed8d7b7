"""Which imports a change adds, and which of them no manifest, stdlib or local module provides."""

from __future__ import annotations

import ast
import posixpath
import re
import sys
from collections.abc import Iterable, Mapping

from bot.core.manifests import declared_js_deps, declared_python_deps, normalise

__all__ = ["declared_js_deps", "declared_python_deps", "js_imports", "local_python_modules", "normalise",
           "python_imports", "unknown_imports"]

PYTHON_SUFFIXES = (".py", ".pyi")
JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")

_NODE_BUILTINS = frozenset(
    "assert async_hooks buffer child_process cluster console constants crypto dgram "
    "diagnostics_channel dns domain events fs http http2 https inspector module net os "
    "path perf_hooks process punycode querystring readline repl stream string_decoder "
    "sys timers tls trace_events tty url util v8 vm wasi worker_threads zlib test".split()
)
# Statements only (a line starting with import/export), so "from 'x'" inside a string
# is not taken for an import; the quote-free gap lets multi-line braces through.
_JS_STATIC = re.compile(
    r"""^\s*(?:import|export)\b[^;"'`]*?\bfrom\s*(["'])([^"'\n]+)\1""", re.MULTILINE
)
_JS_SIDE_EFFECT = re.compile(r"""^\s*import\s*(["'])([^"'\n]+)\1""", re.MULTILINE)
_JS_CALL = re.compile(r"""\b(?:require|import)\s*\(\s*(["'])([^"'\n]+)\1\s*\)""")
_JS_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_JS_LINE_COMMENT = re.compile(r"^\s*//.*$", re.MULTILINE)


def python_imports(source: str) -> set[str]:
    """Top-level modules imported absolutely; relative imports are local by definition."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        # A broken file is reported by the syntax check; guessing its imports helps nobody.
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def js_imports(source: str) -> set[str]:
    """npm package names (``@scope/name`` or ``name``) imported by bare specifiers."""
    text = _JS_LINE_COMMENT.sub("", _JS_BLOCK_COMMENT.sub("", source))
    found: set[str] = set()
    for pattern in (_JS_STATIC, _JS_SIDE_EFFECT, _JS_CALL):
        for match in pattern.finditer(text):
            package = _js_package(match.group(2).strip())
            if package:
                found.add(package)
    return found


def _js_package(specifier: str) -> str | None:
    # Relative/absolute paths, URLs and protocol specifiers (node:, npm:, https:) are not
    # packages; `~`, `#` and `@/` are the usual path-alias and subpath-import prefixes.
    if not specifier or specifier[0] in "./~#" or ":" in specifier or specifier.startswith("@/"):
        return None
    parts = specifier.split("/")
    if specifier.startswith("@"):
        if len(parts) < 2 or not parts[1]:
            return None
        package = "/".join(parts[:2])
    else:
        package = parts[0]
    return None if package in _NODE_BUILTINS else package


def local_python_modules(paths: Iterable[str]) -> set[str]:
    """Names importable from inside the repository: every package dir and module stem.

    Generous on purpose (tests, scripts and src/ layouts put different roots on sys.path):
    a module wrongly taken as local costs one missed warning, a wrong flag costs trust.
    """
    found: set[str] = set()
    for path in paths:
        if not path.endswith((*PYTHON_SUFFIXES, ".pyx")):
            continue
        *dirs, filename = path.split("/")
        stem = filename.rsplit(".", 1)[0]
        for name in (*dirs, stem):
            if name.isidentifier():
                found.add(name)
    return found


_PYTEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test|conftest)\.py$")


def unknown_imports(
    *,
    path: str,
    old: str | None,
    new: str,
    repo_paths: Iterable[str],
    manifests: Mapping[str, str],
) -> list[str]:
    """Imports the change adds to ``path`` that nothing in the repository provides, sorted."""
    if path.endswith(PYTHON_SUFFIXES):
        added = python_imports(new) - python_imports(old or "")
        candidates = {name for name in added if name not in sys.stdlib_module_names}
        if candidates:  # the manifests and the tree are only read when something is left
            declared = declared_python_deps(manifests)
            candidates = {name for name in candidates if normalise(name) not in declared}
        if candidates:
            paths = list(repo_paths)
            local = {normalise(name) for name in local_python_modules(paths)}
            candidates = {name for name in candidates if normalise(name) not in local}
            if "pytest" in candidates and any(_PYTEST_FILE.search(p) for p in paths):
                # Existing test_*.py files are run by a test runner the manifests often leave
                # out (dev requirements, tox, CI images): importing it is not an invention.
                candidates.discard("pytest")
        return sorted(candidates)
    if path.endswith(JS_SUFFIXES):
        added = js_imports(new) - js_imports(old or "")
        packages: set[str] = set()
        for manifest_path, text in manifests.items():
            if posixpath.basename(manifest_path) == "package.json":
                packages |= declared_js_deps(text)
        return sorted(name for name in added if name not in packages)
    return []
