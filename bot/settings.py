"""Server settings from the environment (SPEC section 4), validated once at start.

Nothing here runs at import time: ``load_settings(env)`` takes a mapping so tests pass
their own, and every problem is reported as one line naming the variable.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.repo_config import validate_reasoning

DEFAULT_STRONG = "anthropic:claude-opus-5-5"
DEFAULT_CHEAP = "openai:kimi-k2.6"
MAX_GITHUB_PAYLOAD = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
_SPEC_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*:\S+$")
_EXTRA_PROVIDER_KEY = re.compile(r"^ROUTE_ME_PROVIDER_([A-Z0-9_]+?)_API_KEY$")
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class SettingsError(Exception):
    """Raised with every problem found, one line each, so an operator fixes them in one go."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Validated server configuration.  Secrets are excluded from ``repr``."""

    github_app_id: int
    github_private_key: str = field(repr=False)
    github_webhook_secret: str = field(repr=False)
    github_api_url: str = "https://api.github.com"
    strong: str = DEFAULT_STRONG
    cheap: str = DEFAULT_CHEAP
    judge: str = DEFAULT_STRONG
    fallbacks: tuple[str, ...] = ()
    reasoning: Mapping[str, str | int] = field(default_factory=lambda: dict(DEFAULT_REASONING))
    """Role → reasoning level (SPEC 8, ``ROUTE_ME_REASONING``); a repository's ``reasoning`` overrides it."""
    db: str = "./route-me.db"
    data_dir: Path = Path("./route-me-data")
    host: str = "0.0.0.0"
    port: int = 8080
    webhook_path: str = "/api/github/webhooks"
    workers: int = 4
    max_body_bytes: int = MAX_GITHUB_PAYLOAD
    # Unauthenticated traffic is bounded before the signature can be checked (bot/intake_limits.py).
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 256
    max_large_bodies: int = 2
    planner_token_budget: int = 60_000
    daily_budget_usd: float | None = None
    prices_file: Path | None = None
    model_timeout: float = 600.0
    # Several instances (SPEC section 10): how long a running job's lease lasts without renewal
    # (a dead instance's job is taken over after it), how long SIGTERM waits for running jobs,
    # and the name this instance's lease owners start with (a restart expires its own leases).
    lease_seconds: float = 30.0
    shutdown_grace: float = 30.0
    instance: str = "route-me"
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_token: str | None = field(default=None, repr=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


def _model_spec(env: Mapping[str, str], name: str, default: str, problems: list[str]) -> str:
    value = env.get(name, "").strip() or default
    if not _SPEC_RE.match(value):
        problems.append(f"{name}: '{value}' is not a model spec of the form provider:model")
    return value


# A thinking planner (the plan is where a wrong turn costs most, and it is called a few times per
# issue), a non-thinking implementer (many turns of mechanical edits: thinking there multiplies the
# bill for little), and a judge that thinks a little before scoring.
DEFAULT_REASONING: dict[str, str | int] = {"planner": "high", "implementer": "off", "judge": "low"}


def _reasoning(env: Mapping[str, str], problems: list[str]) -> dict[str, str | int]:
    """``ROUTE_ME_REASONING=planner=high,implementer=off,judge=low``; roles left out keep the default."""
    setting = dict(DEFAULT_REASONING)
    raw = env.get("ROUTE_ME_REASONING", "").strip()
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        role, sep, value = part.partition("=")
        if not sep:
            problems.append(f"ROUTE_ME_REASONING: '{part}' is not role=level (e.g. planner=high)")
            continue
        try:
            setting.update(validate_reasoning({role.strip().lower(): value.strip()}))
        except ValueError as exc:
            problems.append(f"ROUTE_ME_REASONING: {exc}")
    return setting


def _int(env: Mapping[str, str], name: str, default: int, problems: list[str], *, low: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}: '{raw}' is not a whole number")
        return default
    if value < low:
        problems.append(f"{name}: must be at least {low}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, problems: list[str], *, low: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name}: '{raw}' is not a number of seconds")
        return default
    if not value >= low:
        problems.append(f"{name}: must be at least {low:g} seconds, got {raw}")
    return value


def _postgres_url_problems(url: str) -> list[str]:
    """A PostgreSQL URL must name a host (or socket) and a database; a bad port is caught here,
    not at the first delivery."""
    parsed = urllib.parse.urlsplit(url)
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return [f"ROUTE_ME_DB: the port in '{parsed.scheme}://{parsed.hostname}:…' is not a number"]
    host = parsed.hostname or urllib.parse.parse_qs(parsed.query).get("host")
    if not host or not parsed.path.strip("/"):
        return ["ROUTE_ME_DB: a PostgreSQL URL needs a host and a database, e.g. postgresql://user:pw@host:5432/route_me"]
    return []


def _private_key(env: Mapping[str, str], problems: list[str]) -> str:
    inline = env.get("GITHUB_PRIVATE_KEY", "").strip()
    path = env.get("GITHUB_PRIVATE_KEY_PATH", "").strip()
    if inline:
        # Hosting dashboards often store a PEM on one line with literal "\n" sequences.
        pem = inline.replace("\\n", "\n")
        source = "GITHUB_PRIVATE_KEY"
    elif path:
        try:
            pem = Path(path).expanduser().read_text()
        except OSError as exc:
            problems.append(f"GITHUB_PRIVATE_KEY_PATH: cannot read '{path}' ({exc.strerror})")
            return ""
        source = "GITHUB_PRIVATE_KEY_PATH"
    else:
        problems.append(
            "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH: missing (the GitHub App's PEM private key)"
        )
        return ""
    if "-----BEGIN" not in pem or "PRIVATE KEY-----" not in pem:
        problems.append(f"{source}: does not look like a PEM private key")
        return ""
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        load_pem_private_key(pem.encode(), password=None)
    except Exception:  # noqa: BLE001 - any parse failure is the same problem to the operator
        problems.append(f"{source}: the PEM private key could not be parsed")
        return ""
    return pem


def _price_file_problems(path: Path) -> list[str]:
    """One line if ROUTE_ME_PRICES cannot be read or parsed (shapes: see PriceTable.overrides_from_json)."""
    from bot.core.costs import PriceTable

    if not path.is_file():
        return [f"ROUTE_ME_PRICES: no such file '{path}'"]
    try:
        PriceTable.overrides_from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [f"ROUTE_ME_PRICES: cannot read '{path}' ({exc.strerror})"]
    except (ValueError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())  # the JSON decoder's message may span lines
        return [f"ROUTE_ME_PRICES: '{path}' {reason}"]
    return []


def extra_provider_problems(env: Mapping[str, str]) -> list[str]:
    """One line per ROUTE_ME_PROVIDER_<NAME>_API_KEY whose BASE_URL is missing (there is no default
    endpoint to guess), or whose name cannot be used in a model spec."""
    problems = []
    for key in sorted(env):
        found = _EXTRA_PROVIDER_KEY.match(key)
        if not found or not env[key].strip():
            continue
        upper = found.group(1)
        base = f"ROUTE_ME_PROVIDER_{upper}_BASE_URL"
        if not env.get(base, "").strip():
            problems.append(f"{base}: missing (ROUTE_ME_PROVIDER_{upper}_API_KEY is set; the provider's "
                            "OpenAI-compatible endpoint, e.g. https://api.moonshot.ai/v1)")
        if not _PROVIDER_NAME.match(upper.lower()):
            problems.append(f"{key}: '{upper.lower()}' is not a usable provider name (letters, digits and _)")
    return problems


def _logging(env: Mapping[str, str], problems: list[str]) -> tuple[str, str]:
    """LOG_LEVEL and LOG_FORMAT, checked: a typo must not silently log everything or nothing."""
    from bot.logcontext import FORMATS, check_level

    level = env.get("LOG_LEVEL", "").strip() or "INFO"
    problem = check_level(level)
    if problem:
        problems.append(problem)
    fmt = env.get("LOG_FORMAT", "").strip().lower() or "text"
    if fmt not in FORMATS:
        problems.append(f"LOG_FORMAT: '{fmt}' is not one of {', '.join(FORMATS)}")
    return level.upper(), fmt


def load_settings(env: Mapping[str, str], *, require_model_keys: bool = True,
                  require_github: bool = True) -> Settings:
    """Build Settings from ``env`` or raise SettingsError listing every problem.

    ``require_github=False`` is for commands that never talk to GitHub (``bench --tasks``):
    the App's id, key and secret may then be absent.
    """
    problems: list[str] = []
    github_problems = problems if require_github else []
    app_id_raw = env.get("GITHUB_APP_ID", "").strip()
    app_id = 0
    if not app_id_raw:
        github_problems.append("GITHUB_APP_ID: missing (the numeric id of your GitHub App)")
    elif not app_id_raw.isdigit():
        github_problems.append(f"GITHUB_APP_ID: '{app_id_raw}' is not a number")
    else:
        app_id = int(app_id_raw)
    private_key = _private_key(env, github_problems)
    secret = env.get("GITHUB_WEBHOOK_SECRET", "")
    if not secret:
        github_problems.append("GITHUB_WEBHOOK_SECRET: missing (the webhook secret set on the GitHub App)")
    api_url = env.get("GITHUB_API_URL", "").strip().rstrip("/") or "https://api.github.com"
    if not re.match(r"^https?://[^\s/]+", api_url):
        problems.append(f"GITHUB_API_URL: '{api_url}' is not an http(s) URL")

    strong = _model_spec(env, "ROUTE_ME_STRONG", DEFAULT_STRONG, problems)
    cheap = _model_spec(env, "ROUTE_ME_CHEAP", DEFAULT_CHEAP, problems)
    judge = _model_spec(env, "ROUTE_ME_JUDGE", strong, problems)
    fallbacks = tuple(s.strip() for s in env.get("ROUTE_ME_FALLBACKS", "").split(",") if s.strip())
    for spec in fallbacks:
        if not _SPEC_RE.match(spec):
            problems.append(f"ROUTE_ME_FALLBACKS: '{spec}' is not a model spec of the form provider:model")

    reasoning = _reasoning(env, problems)

    db = env.get("ROUTE_ME_DB", "").strip() or "./route-me.db"
    if db.startswith(("postgres://", "postgresql://")):
        problems.extend(_postgres_url_problems(db))

    path = env.get("WEBHOOK_PATH", "").strip() or "/api/github/webhooks"
    if not path.startswith("/"):
        problems.append(f"WEBHOOK_PATH: '{path}' must start with /")
    port = _int(env, "PORT", 8080, problems)
    if port > 65535:
        problems.append(f"PORT: {port} is not a TCP port")

    daily_raw = env.get("ROUTE_ME_DAILY_BUDGET_USD", "").strip()
    daily: float | None = None
    if daily_raw:
        try:
            daily = float(daily_raw)
            if daily <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"ROUTE_ME_DAILY_BUDGET_USD: '{daily_raw}' is not a positive number")
    prices_raw = env.get("ROUTE_ME_PRICES", "").strip()
    prices_file = Path(prices_raw) if prices_raw else None
    if prices_file is not None:
        problems.extend(_price_file_problems(prices_file))

    workers = _int(env, "ROUTE_ME_WORKERS", 4, problems)
    max_body = _int(env, "ROUTE_ME_MAX_BODY_BYTES", MAX_GITHUB_PAYLOAD, problems)
    header_timeout = _seconds(env, "ROUTE_ME_HEADER_TIMEOUT", 10.0, problems, low=0.1)
    body_timeout = _seconds(env, "ROUTE_ME_BODY_TIMEOUT", 10.0, problems, low=0.1)
    max_connections = _int(env, "ROUTE_ME_MAX_CONNECTIONS", 256, problems, low=8)
    max_large_bodies = _int(env, "ROUTE_ME_MAX_LARGE_BODIES", 2, problems)
    planner_budget = _int(env, "ROUTE_ME_PLANNER_TOKEN_BUDGET", 60_000, problems, low=1000)
    model_timeout = _int(env, "ROUTE_ME_MODEL_TIMEOUT", 600, problems)
    lease = _seconds(env, "ROUTE_ME_LEASE_SECONDS", 30.0, problems, low=1.0)
    grace = _seconds(env, "ROUTE_ME_SHUTDOWN_GRACE", 30.0, problems, low=0.0)
    instance = (env.get("ROUTE_ME_INSTANCE", "").strip() or env.get("FLY_MACHINE_ID", "").strip()
                or socket.gethostname() or "route-me")

    log_level, log_format = _logging(env, problems)
    metrics_token = env.get("ROUTE_ME_METRICS_TOKEN", "").strip() or None

    if require_model_keys:
        problems.extend(extra_provider_problems(env))
        problems.extend(missing_provider_keys(env, {strong, cheap, judge, *fallbacks}))

    if problems:
        raise SettingsError(problems)
    return Settings(
        github_app_id=app_id,
        github_private_key=private_key,
        github_webhook_secret=secret,
        github_api_url=api_url,
        strong=strong,
        cheap=cheap,
        judge=judge,
        fallbacks=fallbacks,
        reasoning=reasoning,
        db=db,
        data_dir=Path(env.get("ROUTE_ME_DATA_DIR", "").strip() or "./route-me-data"),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        port=port,
        webhook_path=path,
        workers=workers,
        max_body_bytes=max_body,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        max_large_bodies=max_large_bodies,
        planner_token_budget=planner_budget,
        daily_budget_usd=daily,
        prices_file=prices_file,
        model_timeout=float(model_timeout),
        lease_seconds=lease,
        shutdown_grace=grace,
        instance=instance,
        log_level=log_level,
        log_format=log_format,
        metrics_token=metrics_token,
        env=dict(env),
    )


def provider_key_variable(provider: str) -> str:
    """The environment variable holding ``provider``'s API key."""
    if provider == "anthropic":
        return "ANTHROPIC_API_KEY"
    if provider == "openai":
        return "OPENAI_API_KEY"
    return f"ROUTE_ME_PROVIDER_{provider.upper()}_API_KEY"


def missing_provider_keys(env: Mapping[str, str], specs: set[str]) -> list[str]:
    """One line per provider used by ``specs`` whose credentials are absent."""
    problems = []
    for provider in sorted({spec.split(":", 1)[0] for spec in specs if ":" in spec}):
        variable = provider_key_variable(provider)
        if env.get(variable, "").strip():
            continue  # declared; a missing BASE_URL is reported by extra_provider_problems
        users = ", ".join(sorted(s for s in specs if s.startswith(provider + ":")))
        problems.append(f"{variable}: missing (needed for {users})")
        if provider not in ("anthropic", "openai"):
            base = f"ROUTE_ME_PROVIDER_{provider.upper()}_BASE_URL"
            if not env.get(base, "").strip():
                problems.append(f"{base}: missing (the OpenAI-compatible endpoint for '{provider}')")
    return problems
