"""Per-repository configuration (`.github/route-me.yml`): parsing, validation and path policy."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

Variant = Literal["OO", "OK", "KO", "KK"]
VARIANTS: tuple[str, ...] = ("OO", "OK", "KO", "KK")
CONFIG_PATH = ".github/route-me.yml"
MAX_CONFIG_BYTES = 64 * 1024

_MODEL_SPEC_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*):(\S+)\Z")
# git check-ref-format forbids these anywhere in a ref name.
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def validate_model_spec(spec: str) -> str:
    """``provider:model`` with a lower-cased provider name (letters, digits, '_')."""
    match = _MODEL_SPEC_RE.match(spec.strip())
    if not match:
        raise ValueError(
            f"{spec!r} is not a model spec; expected provider:model, e.g. anthropic:claude-opus-4-1"
        )
    return f"{match.group(1).lower()}:{match.group(2)}"


def _validate_glob(pattern: str) -> str:
    cleaned = _normalize_glob(pattern)
    if not cleaned:
        raise ValueError("a path glob must not be empty")
    if "\\" in cleaned:
        raise ValueError(f"{pattern!r}: use '/' in path globs, not '\\'")
    if ".." in cleaned.split("/"):
        raise ValueError(f"{pattern!r}: '..' is not allowed in path globs")
    return cleaned


def _validate_branch_prefix(prefix: str) -> str:
    problem = None
    if not prefix:
        problem = "must not be empty"
    elif len(prefix) > 100:
        problem = "is longer than 100 characters"
    elif _BAD_REF_CHARS.search(prefix) or ".." in prefix or "@{" in prefix or "//" in prefix:
        problem = "contains characters git does not allow in a branch name"
    elif prefix.startswith(("/", "-")):
        problem = "must not start with '/' or '-'"
    elif any(part.startswith(".") or part.endswith(".lock") for part in prefix.split("/")[:-1]):
        problem = "has a path component starting with '.' or ending with '.lock'"
    elif prefix.split("/")[-1].startswith("."):
        problem = "has a path component starting with '.'"
    if problem:
        raise ValueError(f"branch_prefix {prefix!r} {problem}")
    return prefix


ModelSpec = Annotated[str, AfterValidator(validate_model_spec)]
Glob = Annotated[str, AfterValidator(_validate_glob)]
PositiveInt = Annotated[int, Field(gt=0)]

REASONING_ROLES: tuple[str, ...] = ("planner", "implementer", "judge")
REASONING_LEVELS: tuple[str, ...] = ("off", "low", "medium", "high")


def validate_reasoning_value(value: object) -> str | int:
    """One role's reasoning: off/low/medium/high (any case) or a whole token budget (0 = off)."""
    if value is False:
        return "off"  # YAML 1.1 reads a bare `off` (or `no`) as false: that is what the user wrote
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"must be off, low, medium, high or a token budget, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a token budget cannot be negative, got {value}")
        return value
    text = value.strip().lower()
    if text in REASONING_LEVELS:
        return text
    if text.isdigit():
        return int(text)
    raise ValueError(f"must be off, low, medium, high or a token budget, got {value!r}")


def validate_reasoning(mapping: dict[str, Any]) -> dict[str, str | int]:
    """The ``reasoning`` key (SPEC 8): role → level, roles from a closed set, one message per problem."""
    problems: list[str] = []
    cleaned: dict[str, str | int] = {}
    for role, value in mapping.items():
        if role not in REASONING_ROLES:
            close = difflib.get_close_matches(str(role).lower(), REASONING_ROLES, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            problems.append(f"unknown role {role!r}{hint}; roles: {', '.join(REASONING_ROLES)}")
            continue
        try:
            cleaned[role] = validate_reasoning_value(value)
        except ValueError as exc:
            problems.append(f"{role} {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return cleaned


class ImplementerRoute(BaseModel):
    """Send the implementer to another model when every file the plan touches matches ``paths``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    paths: list[Glob] = Field(min_length=1, description="Globs; all planned files must match one.")
    model: ModelSpec = Field(description="The implementer model spec for such plans.")


class RepoConfig(BaseModel):
    """The keys of `.github/route-me.yml` (SPEC section 4); every key is optional."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    label: str = Field("route-me", min_length=1, description="Trigger label (case-insensitive).")
    variant: Variant = Field("OK", description="Default split: planner then implementer, O/K.")
    strong: ModelSpec | None = Field(None, description="The O model; None = server default.")
    cheap: ModelSpec | None = Field(None, description="The K model; None = server default.")
    judge: ModelSpec | None = Field(None, description="The judge; None = server default.")
    require_approval: bool = Field(True, description="Wait for /approve before implementing.")
    allowed_paths: list[Glob] = Field([], description="If set, only these paths may change.")
    denied_paths: list[Glob] = Field([], description="Paths that may never change.")
    max_files: PositiveInt = Field(20, description="Most files one change may touch.")
    max_changed_lines: PositiveInt = Field(1000, description="Most added+removed lines.")
    max_turns: PositiveInt = Field(30, description="Implementer tool-loop turns.")
    budget_usd: Annotated[float, Field(gt=0)] | None = Field(None, description="Per issue.")
    draft: bool = Field(False, description="Open pull requests as drafts.")
    branch_prefix: Annotated[str, AfterValidator(_validate_branch_prefix)] = Field(
        "route-me/", description="Prefix of the branches the bot pushes."
    )
    # Extensions beyond the SPEC key list.
    fallbacks: list[ModelSpec] = Field(
        [], description="Tried in order after the server's ROUTE_ME_FALLBACKS are exhausted."
    )
    allow_cheap_planner_fallback: bool = Field(
        False, description="Let the planner fall back to the cheap model when O is unavailable."
    )
    implementer_routes: list[ImplementerRoute] = Field(
        [], description="First route whose globs match all planned files picks the implementer."
    )
    ci_fix_rounds: Annotated[int, Field(ge=0, le=10)] = Field(
        2, description="Commits the implementer may push to fix failing CI on its pull request; 0 = off."
    )
    max_advice: Annotated[int, Field(ge=0, le=10)] = Field(
        2, description="ask_advisor calls (answered by the strong model) per implementer run; 0 = off."
    )
    reasoning: Annotated[dict[str, Any], AfterValidator(validate_reasoning)] = Field(
        {}, description="Role (planner, implementer, judge) → off|low|medium|high|token budget; "
                        "a role left out takes the server's ROUTE_ME_REASONING."
    )


KNOWN_KEYS: tuple[str, ...] = tuple(RepoConfig.model_fields)


class ConfigError(Exception):
    """An invalid config file; ``errors`` holds (key, problem) pairs for the comment."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{key}: {problem}" for key, problem in self.errors))


def parse_repo_config(text: str | None) -> RepoConfig:
    """Parse the file's text; no file or an empty one gives the defaults."""
    if text is None or not text.strip():
        return RepoConfig()
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError([("(file)", f"is larger than {MAX_CONFIG_BYTES // 1024} KiB")])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "could not be parsed"
        raise ConfigError([("(file)", f"is not valid YAML{where}: {problem}")]) from None
    if data is None:
        return RepoConfig()
    if not isinstance(data, dict):
        raise ConfigError([("(file)", f"must be a mapping of keys to values, not {_kind(data)}")])
    errors = [(str(key), _unknown_key_problem(key)) for key in data if key not in KNOWN_KEYS]
    known = {key: value for key, value in data.items() if key in KNOWN_KEYS}
    try:
        config = RepoConfig.model_validate(known)
    except ValidationError as exc:
        errors.extend(_describe(error) for error in exc.errors())
    if errors:
        raise ConfigError(errors)
    return config


def _unknown_key_problem(key: Any) -> str:
    if not isinstance(key, str):
        return "keys must be strings"
    close = difflib.get_close_matches(key.lower(), KNOWN_KEYS, n=1, cutoff=0.6)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    return f"unknown key{hint}"


def _describe(error: Any) -> tuple[str, str]:
    key = ""
    for part in error["loc"]:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part not in ("function-after", "constrained-str") and not str(part).startswith(
            ("function-", "lax-", "strict-")
        ):
            key += f".{part}" if key else str(part)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "value_error" and error["type"] != "missing":
        message += f" (got {_kind(error.get('input'))})"
    return key or "(file)", message


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "nothing"}
    name = names.get(type(value), type(value).__name__)
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= 40):
        return f"{name} {value!r}"
    return name


# --- path policy ------------------------------------------------------------------------


def _normalize_glob(pattern: str) -> str:
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern.lstrip("/")


@functools.lru_cache(maxsize=512)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Anchored regex for a glob: ``**`` spans directories, ``*`` and ``?`` stay in one."""
    pattern = _normalize_glob(pattern)
    if pattern.endswith("/"):
        pattern += "**"
    # Runs of stars mean no more than one; collapsing them keeps the regex from backtracking
    # exponentially on long paths.
    pattern = re.sub(r"(?:\*\*/)+", "**/", re.sub(r"\*{3,}", "**", pattern))
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[^/{body}]" if negate else f"(?!/)[{body}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    # A pattern naming a directory also covers everything under it.
    return re.compile("".join(out) + "(?:/.*)?", re.S)


def glob_match(pattern: str, path: str) -> bool:
    return glob_to_regex(pattern).fullmatch(path) is not None


def _path_problem(path: str) -> str | None:
    if not path or path != path.strip():
        return "is empty or has surrounding whitespace"
    if path.startswith("/") or "\\" in path or re.match(r"[A-Za-z]:", path):
        return "is not a relative POSIX path"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "must be a normalised repository path (no '..', '.', or empty parts)"
    if any(part.lower() == ".git" for part in parts):
        return "is inside .git, which is never changed"
    return None


def is_path_denied(config: RepoConfig, path: str) -> str | None:
    """Why the bot must not change ``path``, or None when it may."""
    problem = _path_problem(path)
    if problem:
        return f"{path!r} {problem}"
    for pattern in config.denied_paths:
        if glob_match(pattern, path):
            return f"{path} matches denied_paths pattern {pattern!r}"
    if path.lower().startswith(".github/workflows/"):
        # Workflows run with the repo's secrets, so only an allow pattern that names
        # .github/ literally (not a catch-all like "**") opens them up.
        if not any(p.startswith(".github/") and glob_match(p, path) for p in config.allowed_paths):
            return f"{path} is a GitHub Actions workflow; add it to allowed_paths to permit it"
        return None
    if config.allowed_paths and not any(glob_match(p, path) for p in config.allowed_paths):
        return f"{path} matches no allowed_paths pattern"
    return None


def implementer_route_for(config: RepoConfig, paths: Iterable[str]) -> str | None:
    """The model of the first implementer route matching every path, None if none (or no paths)."""
    paths = list(paths)
    if not paths:
        return None
    for route in config.implementer_routes:
        if all(any(glob_match(glob, path) for glob in route.paths) for path in paths):
            return route.model
    return None
