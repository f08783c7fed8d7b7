"""Which imports a change adds, and which of them no manifest, stdlib or local module provides."""

from __future__ import annotations

import ast
import configparser
import json
import posixpath
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

PYTHON_SUFFIXES = (".py", ".pyi")
JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")

# Distribution names whose import name differs; the generic normalisation handles the rest.
# A small table on purpose: an unknown mapping costs a false warning, never a missed error.
_IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "pyyaml": ("yaml",), "beautifulsoup4": ("bs4",), "pillow": ("PIL",),
    "scikit-learn": ("sklearn",), "scikit-image": ("skimage",),
    "python-dateutil": ("dateutil",), "opencv-python": ("cv2",),
    "opencv-python-headless": ("cv2",), "opencv-contrib-python": ("cv2",),
    "attrs": ("attr", "attrs"), "python-dotenv": ("dotenv",), "pyjwt": ("jwt",),
    "protobuf": ("google",), "grpcio": ("grpc",), "psycopg2-binary": ("psycopg2",),
    "psycopg-binary": ("psycopg",), "mysqlclient": ("MySQLdb",),
    "mysql-connector-python": ("mysql",), "pycryptodome": ("Crypto",),
    "pyopenssl": ("OpenSSL",), "pyserial": ("serial",), "pyzmq": ("zmq",),
    "dnspython": ("dns",), "gitpython": ("git",), "pygithub": ("github",),
    "python-jose": ("jose",), "python-multipart": ("multipart",),
    "python-slugify": ("slugify",), "python-magic": ("magic",),
    "python-telegram-bot": ("telegram",), "google-api-python-client": ("googleapiclient",),
    "pymupdf": ("fitz",), "ipython": ("IPython",), "websocket-client": ("websocket",),
    "setuptools": ("setuptools", "pkg_resources"), "pytest": ("pytest", "_pytest"),
    "faiss-cpu": ("faiss",), "faiss-gpu": ("faiss",), "tensorflow-gpu": ("tensorflow",),
    "msgpack-python": ("msgpack",), "discord-py": ("discord",),
    "pywin32": ("win32api", "win32con", "win32com", "pywintypes"),
}

# Namespace packages shared by many distributions (google-cloud-storage -> import google).
_NAMESPACES = frozenset({"google", "azure", "zope", "jaraco", "backports", "sphinxcontrib"})

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9._-]+)")

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


def normalise(name: str) -> str:
    """PEP 503-style key that also matches import names: lower case, runs of - _ . become _."""
    return re.sub(r"[-_.]+", "_", name.strip()).lower()


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


def _import_keys(distribution: str) -> set[str]:
    key = normalise(distribution)
    keys = {key}
    keys.update(normalise(name) for name in _IMPORT_NAMES.get(key.replace("_", "-"), ()))
    head = key.split("_")[0]
    if "." in distribution or head in _NAMESPACES:  # zope.interface, google-cloud-storage
        keys.add(normalise(distribution.split(".")[0]) if "." in distribution else head)
    for affix in ("python_", "py_"):
        if key.startswith(affix) and len(key) > len(affix):
            keys.add(key[len(affix):])
    return keys


def _requirement_name(line: str) -> str | None:
    line = line.split(" #")[0].strip()
    if not line or line.startswith("#"):
        return None
    if line.startswith("-"):
        egg = _EGG.search(line)
        return egg.group(1) if egg else None
    match = _REQUIREMENT_NAME.match(line)
    return match.group(1) if match else None


def _is_requirements_file(path: str) -> bool:
    name = posixpath.basename(path).lower()
    parent = posixpath.basename(posixpath.dirname(path)).lower()
    if not name.endswith((".txt", ".in")):
        return False
    return "requirements" in name or parent == "requirements"


def _pyproject_names(text: str) -> tuple[list[str], bool]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return [], False
    names: list[str] = []
    project = data.get("project", {})
    specs: list[Any] = list(project.get("dependencies", []) or [])
    for group in (project.get("optional-dependencies", {}) or {}).values():
        specs.extend(group or [])
    for group in (data.get("dependency-groups", {}) or {}).values():
        specs.extend(item for item in group or [] if isinstance(item, str))
    names.extend(n for n in map(_requirement_name, (s for s in specs if isinstance(s, str))) if n)
    tool = data.get("tool", {}) or {}
    poetry = tool.get("poetry", {}) or {}
    tables = [poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})]
    tables.extend(g.get("dependencies", {}) for g in (poetry.get("group", {}) or {}).values())
    for table in tables:
        names.extend(name for name in (table or {}) if name.lower() != "python")
    return names, "pytest" in tool


def _setup_cfg_names(text: str) -> tuple[list[str], bool]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return [], False
    lines: list[str] = []
    if parser.has_option("options", "install_requires"):
        lines.extend(parser.get("options", "install_requires").splitlines())
    if parser.has_section("options.extras_require"):
        for _, value in parser.items("options.extras_require"):
            lines.extend(value.splitlines())
    return [n for n in map(_requirement_name, lines) if n], parser.has_section("tool:pytest")


def _setup_py_names(text: str) -> list[str]:
    """String literals in ``install_requires=[…]`` / ``extras_require={…}`` of setup()."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in ("install_requires", "extras_require"):
            for leaf in ast.walk(node.value):
                if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                    name = _requirement_name(leaf.value)
                    if name:
                        names.append(name)
    return names


def declared_python_deps(files: Mapping[str, str]) -> set[str]:
    """Import keys (see ``normalise``) of every dependency declared in the given manifests."""
    names: list[str] = []
    uses_pytest = False
    for path, text in files.items():
        base = posixpath.basename(path)
        if base == "pyproject.toml":
            found, pytest_config = _pyproject_names(text)
        elif base == "setup.cfg":
            found, pytest_config = _setup_cfg_names(text)
        elif base == "setup.py":
            found, pytest_config = _setup_py_names(text), False
        elif base == "Pipfile":
            found, pytest_config = _pipfile_names(text), False
        elif _is_requirements_file(path):
            found, pytest_config = [n for n in map(_requirement_name, text.splitlines()) if n], False
        else:
            found, pytest_config = [], base in ("pytest.ini", "tox.ini", "conftest.py")
        names.extend(found)
        uses_pytest = uses_pytest or pytest_config
    if uses_pytest:
        # A repository configured for pytest runs its tests with it even when no manifest
        # lists it (tox, CI images); flagging `import pytest` there would be noise.
        names.append("pytest")
    keys: set[str] = set()
    for name in names:
        keys |= _import_keys(name)
    return keys


def _pipfile_names(text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    return [*(data.get("packages", {}) or {}), *(data.get("dev-packages", {}) or {})]


def declared_js_deps(package_json: str) -> set[str]:
    """Package names in every dependency table of one package.json, plus its own name."""
    try:
        data = json.loads(package_json)
    except (json.JSONDecodeError, TypeError):
        return set()
    if not isinstance(data, dict):
        return set()
    names: set[str] = set()
    for table in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        section = data.get(table)
        if isinstance(section, dict):
            names.update(str(key) for key in section)
    if isinstance(data.get("name"), str):  # workspace packages import each other by name
        names.add(data["name"])
    return names


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
