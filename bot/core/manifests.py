"""Which dependencies a repository declares: Python manifests (pyproject, requirements, setup, Pipfile) and package.json."""

from __future__ import annotations

import ast
import configparser
import json
import posixpath
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any


def normalise(name: str) -> str:
    """PEP 503-style key that also matches import names: lower case, runs of - _ . become _."""
    return re.sub(r"[-_.]+", "_", name.strip()).lower()


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
    "djangorestframework": ("rest_framework",), "markdown-it-py": ("markdown_it",),
    "django-cors-headers": ("corsheaders",), "django-filter": ("django_filters",),
    "django-environ": ("environ",), "django-debug-toolbar": ("debug_toolbar",),
    "django-extensions": ("django_extensions",), "pycryptodomex": ("Cryptodome",),
    "pyyaml-include": ("yamlinclude",), "ruamel-yaml": ("ruamel",), "typing-extensions": ("typing_extensions",),
    "python-levenshtein": ("Levenshtein",), "pycairo": ("cairo",), "pygobject": ("gi",),
    "pyqt5": ("PyQt5",), "pyqt6": ("PyQt6",), "pysocks": ("socks",), "pyusb": ("usb",),
    "tensorflow-cpu": ("tensorflow",), "tf-nightly": ("tensorflow",), "torchvision": ("torchvision",),
    "sentence-transformers": ("sentence_transformers",), "scikit-build": ("skbuild",),
    "pydantic-settings": ("pydantic_settings",), "python-socketio": ("socketio",),
    "eth-hash": ("eth_hash",), "pyinstaller": ("PyInstaller",), "pywavelets": ("pywt",),
    "jsonschema-specifications": ("jsonschema_specifications",), "google-auth": ("google",),
    "protobuf3": ("google",), "opencv-contrib-python-headless": ("cv2",), "pymysql": ("pymysql",),
    "docker-py": ("docker",), "llama-cpp-python": ("llama_cpp",), "pyobjc": ("objc", "Foundation", "AppKit"),
}

# Namespace packages shared by many distributions (google-cloud-storage -> import google).
_NAMESPACES = frozenset({"google", "azure", "zope", "jaraco", "backports", "sphinxcontrib"})

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9._-]+)")
_URL_REQUIREMENT = re.compile(r"^(?:git|hg|svn|bzr)\+|^[a-z][a-z0-9+.-]*://", re.IGNORECASE)

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
    for affix in ("_python", "_py"):  # markdown-it-py, llama-cpp-python
        if key.endswith(affix) and len(key) > len(affix):
            keys.add(key[: -len(affix)])
    return keys


def _requirement_name(line: str) -> str | None:
    egg = _EGG.search(line)
    line = line.split(" #")[0].strip()
    if not line or line.startswith("#"):
        return None
    if line.startswith("-") or _URL_REQUIREMENT.match(line):
        # "-e git+https://…#egg=foo" and a bare "git+https://…#egg=foo" declare foo.
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
    specs = _dev_dependency_specs(tool)
    names.extend(n for n in map(_requirement_name, specs) if n)
    poetry = tool.get("poetry", {}) or {}
    tables = [poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})]
    tables.extend(g.get("dependencies", {}) for g in (poetry.get("group", {}) or {}).values())
    for table in tables:
        names.extend(name for name in (table or {}) if name.lower() != "python")
    return names, "pytest" in tool


def _dev_dependency_specs(tool: Mapping[str, Any]) -> list[str]:
    """Requirement strings of the dev dependencies uv, PDM and Hatch keep under [tool]."""
    groups: list[Any] = [(_table(tool, "uv")).get("dev-dependencies")]
    groups.extend(_table(_table(tool, "pdm"), "dev-dependencies").values())
    for env in _table(_table(tool, "hatch"), "envs").values():
        if isinstance(env, Mapping):
            groups += [env.get("dependencies"), env.get("extra-dependencies")]
    return [spec for group in groups if isinstance(group, list) for spec in group if isinstance(spec, str)]


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


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


def types_package(package: str) -> str:
    """The DefinitelyTyped package of ``package``: express → @types/express, @a/b → @types/a__b."""
    return "@types/" + (package[1:].replace("/", "__") if package.startswith("@") else package)


_JSONC_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r'("(?:\\.|[^"\\])*")|,(\s*[}\]])')


def _jsonc(text: str) -> Any:
    """tsconfig.json is JSON with comments and trailing commas; strings are left intact."""
    text = _JSONC_COMMENT.sub(lambda m: m.group(1) or "", text)
    text = _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def tsconfig_local_roots(path: str, text: str, repo_paths: Sequence[str]) -> tuple[set[str], set[str]]:
    """Bare specifiers a tsconfig/jsconfig makes local: (package-like names, scope prefixes).

    ``paths`` aliases ("@app/*", "components/*") and what sits directly under ``baseUrl``.
    """
    data = _jsonc(text)
    options = data.get("compilerOptions") if isinstance(data, dict) else None
    if not isinstance(options, dict):
        return set(), set()
    names: set[str] = set()
    scopes: set[str] = set()
    aliases = options.get("paths")
    for alias in aliases if isinstance(aliases, dict) else {}:
        key = str(alias).rstrip("*").rstrip("/")
        if key.startswith("@") and "/" not in key:
            scopes.add(key + "/")  # "@app/*": every "@app/…" is the project's own
        elif key:
            parts = key.split("/")
            names.add("/".join(parts[:2]) if key.startswith("@") else parts[0])
    base_url = options.get("baseUrl")
    if isinstance(base_url, str):
        root = posixpath.normpath(posixpath.join(posixpath.dirname(path), base_url))
        prefix = "" if root == "." else root + "/"
        for repo_path in repo_paths:
            if repo_path.startswith(prefix):
                first = repo_path[len(prefix):].split("/")[0]
                names.add(first.split(".")[0] if "/" not in repo_path[len(prefix):] else first)
    return names, scopes


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


