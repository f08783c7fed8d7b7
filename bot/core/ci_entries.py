"""The package scripts and make targets a CI `run:` step invokes, and whether an edit changes them.

``ci_paths`` protects files a workflow names; a step such as ``npm test`` or ``make check`` runs
something defined *inside* a file (``scripts.test`` of package.json, the ``check`` rule of a
Makefile), which the implementer could otherwise rewrite to ``exit 0``.  ``run_entries`` finds
those invocations in a shell script; ``entry_changes`` says which protected entries an edit
alters.  Pure functions over text.

Followed: ``npm test|t|start|run|run-script X`` (with ``--prefix``), ``npm ci|install`` (the
install lifecycle scripts), ``yarn [run] X`` (``--cwd``), ``pnpm [run] X`` (``-C``/``--dir``),
each with npm's ``pre``/``post`` hooks; ``make|gmake [-C dir] [-f file] [targets]`` (no
target: the default goal), plus the prerequisites of a protected target; ``cd dir`` earlier in
the same script.  Not followed: workspaces/filters, Makefile variables and ``include``d files
(a Makefile with ``include``, conditionals or ``define`` is protected whole), tox/nox, pyproject
test configuration, and whatever the scripts themselves call.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable

DEFAULT_GOAL = ""  # the entry name for "make with no target"
MAKEFILE_NAMES = ("GNUmakefile", "makefile", "Makefile")
MAX_COMMANDS = 500  # commands examined per script
_SEPARATOR = re.compile(r"&&|\|\||[;|&\n]")
_NPM_ALIASES = {"test": "test", "t": "test", "tst": "test", "start": "start", "stop": "stop",
                "restart": "restart"}
_NPM_RUN = {"run", "run-script", "rum", "urn"}
_NPM_INSTALL = {"ci", "install", "i", "clean-install", "install-clean", "isntall"}
_INSTALL_SCRIPTS = ("preinstall", "install", "postinstall", "prepare")
# Subcommands that are the tool's own, not a package script.
_YARN_BUILTIN = frozenset(
    "add audit autoclean bin cache check config constraints create dedupe dlx exec explain "
    "generate-lock-entry global help import info init install licenses link list login logout "
    "node npm outdated owner pack patch plugin policies publish rebuild remove set stage tag "
    "team unlink unplug up upgrade upgrade-interactive version versions why workspace "
    "workspaces".split())
_PNPM_BUILTIN = frozenset(
    "add approve-builds audit bin config create deploy dlx doctor env exec fetch i import "
    "init install licenses link list ls outdated pack patch prune publish rebuild remove rm "
    "root server setup store unlink up update why".split())
_MAKE_ARG_OPTIONS = {"-C", "-f", "-I", "-o", "-W", "-l", "--directory", "--file", "--makefile",
                     "--include-dir", "--old-file", "--what-if", "--assume-old", "--assume-new"}

Entry = tuple[str, str]  # (file path, script name or make target; DEFAULT_GOAL for bare make)


def run_entries(script: str, *, work: str | None, exists: Callable[[str], bool]) -> list[tuple[Entry, str]]:
    """``((path, name), command)`` for each package script or make target ``script`` invokes.

    ``work`` is the step's working directory (repo-relative; None when unknown); ``exists``
    says whether a repository file exists (to pick which Makefile name make would read).
    """
    found: list[tuple[Entry, str]] = []
    cwd = work
    for index, raw in enumerate(_SEPARATOR.split(script)):
        if index >= MAX_COMMANDS:
            break
        words = _words(raw)
        while words and ("=" in words[0] and not words[0].startswith("-") or words[0] in ("sudo", "env", "time")):
            words = words[1:]  # VAR=value prefixes and wrappers
        if not words:
            continue
        command = " ".join(words)
        if words[0] == "cd":
            cwd = _join(cwd, words[1]) if len(words) > 1 else None
            continue
        if cwd is None:
            continue  # a directory we cannot resolve: nothing to point at
        tool = words[0]
        if tool in ("npm", "yarn", "pnpm"):
            where, names = _package_scripts(tool, words[1:])
            directory = _join(cwd, where) if where is not None else cwd
            if directory is not None:
                package = posixpath.join(directory, "package.json") if directory else "package.json"
                for name in names:
                    for hooked in (f"pre{name}", name, f"post{name}"):
                        found.append(((package, f"scripts.{hooked}"), command))
        elif tool in ("make", "gmake"):
            where, makefile, targets = _make_call(words[1:])
            directory = _join(cwd, where) if where is not None else cwd
            if directory is None:
                continue
            if makefile is not None:
                paths = [p for p in [_join(directory, makefile)] if p is not None]
            else:
                candidates = [posixpath.join(directory, n) if directory else n for n in MAKEFILE_NAMES]
                present = [p for p in candidates if exists(p)]
                paths = present[:1] or candidates  # none yet: creating any of them would be read
            for path in paths:
                for target in targets or [DEFAULT_GOAL]:
                    found.append(((path, target), command))
    return found


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def repo_path(raw: str, base: str = "") -> str | None:
    """A repo-relative path for ``raw`` (relative to ``base``; "" is the root), or None when it
    leaves the repository or cannot be resolved here (absolute, home, a variable)."""
    if not raw or raw.startswith(("/", "~", "$")):
        return None
    joined = posixpath.normpath(posixpath.join(base, raw)) if base else posixpath.normpath(raw)
    if joined == ".":
        return ""
    return None if joined == ".." or joined.startswith("../") else joined


def _join(cwd: str | None, raw: str) -> str | None:
    # An option or a workflow expression is not a directory we can resolve.
    if cwd is None or raw.startswith("-") or "${{" in raw:
        return None
    return repo_path(raw, cwd)


def _package_scripts(tool: str, args: list[str]) -> tuple[str | None, list[str]]:
    """(directory option, script names) of an npm/yarn/pnpm call."""
    where: str | None = None
    rest: list[str] = []
    dir_options = {"npm": ("--prefix",), "yarn": ("--cwd",), "pnpm": ("-C", "--dir")}[tool]
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        option = next((o for o in dir_options if arg == o or arg.startswith(o + "=")), None)
        if option is not None:
            if arg == option:
                where, skip = (args[index + 1] if index + 1 < len(args) else None), True
            else:
                where = arg[len(option) + 1:]
        elif arg == "--":
            break  # what follows goes to the script
        elif not arg.startswith("-"):
            rest.append(arg)
    if not rest:
        return where, ([] if tool == "npm" else list(_INSTALL_SCRIPTS))  # bare yarn/pnpm installs
    sub = rest[0]
    if sub in _NPM_RUN or (tool != "npm" and sub == "run"):
        return where, rest[1:2]
    if tool == "npm":
        if sub in _NPM_ALIASES:
            return where, [_NPM_ALIASES[sub]]
        if sub in _NPM_INSTALL:
            return where, list(_INSTALL_SCRIPTS)
        return where, []
    if sub in ("test", "t", "start"):
        return where, ["test" if sub == "t" else sub]
    if sub in ("install", "i"):
        return where, list(_INSTALL_SCRIPTS)
    builtin = _YARN_BUILTIN if tool == "yarn" else _PNPM_BUILTIN
    return where, ([] if sub in builtin else [sub])


def _make_call(args: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(-C directory, -f makefile, targets) of a make call."""
    where: str | None = None
    makefile: str | None = None
    targets: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        value: str | None = None
        name = arg
        if arg in _MAKE_ARG_OPTIONS:
            value = args[index + 1] if index + 1 < len(args) else ""
            index += 1
        elif arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
        elif arg[:2] in ("-C", "-f") and len(arg) > 2:
            name, value = arg[:2], arg[2:]
        elif arg.startswith("-") or "=" in arg:
            if arg in ("-j", "--jobs") and index + 1 < len(args) and args[index + 1].isdigit():
                index += 1
            index += 1
            continue
        else:
            targets.append(arg)
            index += 1
            continue
        if name in ("-C", "--directory"):
            where = _join(where or ".", value) if where is not None else value
        elif name in ("-f", "--file", "--makefile"):
            makefile = value
        index += 1
    return where, makefile, targets


# Judging an edit ----------------------------------------------------------------------


def entry_changes(path: str, names: Iterable[str], old: str | None, new: str | None) -> list[str]:
    """Which of ``names`` (entries of ``path``) the edit ``old`` -> ``new`` changes or removes.

    A deletion changes every entry; text that cannot be read simply counts as changing all of
    them (only an unchanged file is then allowed).
    """
    names = sorted(set(names))
    if old == new:
        return []
    if new is None:
        return names
    if posixpath.basename(path) == "package.json":
        before, after = _scripts(old), _scripts(new)
        if before is None or after is None:
            return names
        return [n for n in names if before.get(n.removeprefix("scripts.")) != after.get(n.removeprefix("scripts."))]
    before_rules, after_rules = make_rules(old or ""), make_rules(new)
    if before_rules is None or after_rules is None:
        return names
    changed = []
    for entry in names:
        name = entry
        if name == DEFAULT_GOAL:
            goal = _first_goal(before_rules)
            if goal is None or goal != _first_goal(after_rules):
                changed.append(entry)
                continue
            name = goal[0]
        if any(before_rules.get(t) != after_rules.get(t) for t in _closure(name, before_rules, after_rules)):
            changed.append(entry)
    return changed


def _scripts(text: str | None) -> dict[str, object] | None:
    if text is None:
        return {}
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    scripts = document.get("scripts", {})
    return scripts if isinstance(scripts, dict) else {"": scripts}


_RULE = re.compile(r"^([^\s:=#][^:=#]*?)\s*(::?)(?!=)(.*)$")
_UNSIMPLE = re.compile(r"^\s*-?(include|sinclude|ifeq|ifneq|ifdef|ifndef|else|endif|define|endef)\b"
                       r"|^\s*\.(DEFAULT_GOAL|RECIPEPREFIX)\b")


def make_rules(text: str) -> dict[str, list[str]] | None:
    """Target -> its rule lines (target lines and recipes); None if not simple make.

    Targets keep the file's order (the default goal is the first ordinary one).  Variable
    assignments are skipped: a change to one is not seen (not followed).
    """
    rules: dict[str, list[str]] = {}
    current: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith("\t"):
            if not current:
                return None  # a recipe with no rule: not something we parse
            for lines in current:
                lines.append(line)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _UNSIMPLE.match(line):
            return None
        match = _RULE.match(line)
        if match is None:
            current = []  # an assignment or a directive we do not follow
            continue
        current = []
        for target in match.group(1).split():
            lines = rules.setdefault(target, [])
            lines.append(line)
            current.append(lines)
    return rules


def _first_goal(rules: dict[str, list[str]]) -> tuple[str, list[str]] | None:
    for target, lines in rules.items():
        if not target.startswith(".") and "%" not in target:
            return target, lines
    return None


def _closure(target: str, *rule_sets: dict[str, list[str]]) -> list[str]:
    """``target`` and the targets its prerequisites name, in either version (bounded)."""
    seen = [target]
    index = 0
    while index < len(seen) and len(seen) < 200:
        for rules in rule_sets:
            for line in rules.get(seen[index], []):
                match = _RULE.match(line)
                if match is None:
                    continue
                prerequisites = match.group(3).split(";", 1)[0].replace("|", " ").split()
                seen.extend(p for p in prerequisites if p not in seen and p in rules)
        index += 1
    return seen
