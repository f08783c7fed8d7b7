"""Which imports a change adds, and which of them no manifest, stdlib or local module provides."""

from __future__ import annotations

import ast
import posixpath
import re
import sys
from collections.abc import Iterable, Mapping

from bot.core.manifests import (
    declared_js_deps,
    declared_python_deps,
    normalise,
    tsconfig_local_roots,
    types_package,
)

__all__ = ["declared_js_deps", "declared_python_deps", "js_imports", "local_python_modules", "normalise",
           "python_imports", "unknown_imports"]

PYTHON_SUFFIXES = (".py", ".pyi")
JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")
COMPONENT_SUFFIXES = (".vue", ".svelte")
_SOURCE_ROOTS = frozenset({"src", "lib"})
_SCRIPT_BLOCK = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_JS_TYPE_ONLY = re.compile(r"""^\s*(?:import|export)\s+type\b[^;"'`]*?\bfrom\s*(["'])([^"'\n]+)\1""", re.MULTILINE)

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


def js_type_only_imports(source: str) -> set[str]:
    """Packages imported with ``import type`` / ``export type`` only (erased at compile time)."""
    text = _JS_LINE_COMMENT.sub("", _JS_BLOCK_COMMENT.sub("", source))
    found = {_js_package(m.group(2).strip()) for m in _JS_TYPE_ONLY.finditer(text)}
    value_imports = js_imports(_JS_TYPE_ONLY.sub("", text))
    return {name for name in found if name and name not in value_imports}


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
    """Names importable from inside the repository: package roots and every module stem.

    Generous with modules (tests and scripts put different roots on sys.path), but a folder
    counts only where Python could import it as a package: a top-level or ``src/``-layout
    folder, or one with ``__init__.py``.  Otherwise ``docs/requests/conf.py`` would hide an
    invented ``requests``.
    """
    python = [p for p in paths if p.endswith((*PYTHON_SUFFIXES, ".pyx"))]
    packages = {posixpath.dirname(p) for p in python if posixpath.basename(p) == "__init__.py"}
    found: set[str] = set()
    for path in python:
        *dirs, filename = path.split("/")
        names = [filename.rsplit(".", 1)[0]]
        for depth, name in enumerate(dirs):
            if depth == 0 or (depth == 1 and dirs[0] in _SOURCE_ROOTS) or "/".join(dirs[: depth + 1]) in packages:
                names.append(name)
        found.update(name for name in names if name.isidentifier())
    return found


def _script_blocks(source: str) -> str:
    """The <script> blocks of a Vue or Svelte component: where its imports are."""
    return "\n".join(_SCRIPT_BLOCK.findall(source))


def _js_unknown(added: set[str], *, type_only: set[str], repo_paths: Iterable[str],
                manifests: Mapping[str, str]) -> list[str]:
    packages: set[str] = set()
    names: set[str] = set()
    scopes: set[str] = set()
    paths = list(repo_paths)
    for manifest_path, text in manifests.items():
        base = posixpath.basename(manifest_path)
        if base == "package.json":
            packages |= declared_js_deps(text)
        elif base in ("tsconfig.json", "jsconfig.json"):
            found_names, found_scopes = tsconfig_local_roots(manifest_path, text, paths)
            names |= found_names
            scopes |= found_scopes
    unknown = []
    for name in added:
        if name in packages or name in names or any(name.startswith(scope) for scope in scopes):
            continue
        if name in type_only and types_package(name) in packages:
            continue  # `import type … from 'express'` needs only @types/express
        unknown.append(name)
    return sorted(unknown)


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
    if path.endswith(COMPONENT_SUFFIXES):
        new, old = _script_blocks(new), _script_blocks(old or "")
    if path.endswith((*JS_SUFFIXES, *COMPONENT_SUFFIXES)):
        added = js_imports(new) - js_imports(old or "")
        if not added:
            return []
        return _js_unknown(added, type_only=js_type_only_imports(new), repo_paths=repo_paths,
                           manifests=manifests)
    return []
