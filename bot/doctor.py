"""``route-me doctor``: checks that the settings actually work, one line per check, ok or the fix.

Each check does the cheapest real thing: the App JWT is sent to ``GET /app`` (which names
the App), installations are listed, each configured provider lists its models with the
configured key, prices are looked up for every configured model when a budget is on, and the
state store is opened (migrations applied) and written to.  Nothing is posted anywhere and no
model is asked to generate.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.settings import Settings

ACCEPT = "application/vnd.github+json"
TIMEOUT = aiohttp.ClientTimeout(total=20, connect=10)


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and the detail or the fix."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def _github(session: aiohttp.ClientSession, settings: Settings) -> list[Check]:
    from bot.github.auth import make_app_jwt

    headers = {"Authorization": f"Bearer {make_app_jwt(settings.github_app_id, settings.github_private_key)}",
               "Accept": ACCEPT, "User-Agent": "route-me-doctor", "X-GitHub-Api-Version": "2022-11-28"}
    base = settings.github_api_url
    try:
        async with session.get(f"{base}/app", headers=headers) as response:
            body: Any = await response.json(content_type=None) if response.status < 500 else None
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return [Check("GitHub App", False, f"cannot reach {base} ({_reason(exc)}); check GITHUB_API_URL "
                                           "and the network")]
    if status == 401:
        return [Check("GitHub App", False, f"GitHub refused the App JWT (401): GITHUB_APP_ID {settings.github_app_id} "
                                           "is not the App this private key belongs to, or the key was revoked; "
                                           "compare the App id and generate a new key on the App's settings page")]
    if status != 200 or not isinstance(body, dict):
        return [Check("GitHub App", False, f"GET /app answered {status}; check GITHUB_API_URL ({base})")]
    checks = [Check("GitHub App", True, f"the JWT is accepted: App '{body.get('name')}' (id {body.get('id')}, "
                                        f"slug {body.get('slug')})")]
    count = 0
    url: str | None = f"{base}/app/installations?per_page=100"
    try:
        while url:
            async with session.get(url, headers=headers) as response:
                if response.status != 200:
                    checks.append(Check("installations", False, f"GET /app/installations answered {response.status}"))
                    return checks
                page = await response.json(content_type=None)
                count += len(page) if isinstance(page, list) else 0
                url = response.links.get("next", {}).get("url")  # type: ignore[assignment]
                url = str(url) if url else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        checks.append(Check("installations", False, f"cannot list installations ({_reason(exc)})"))
        return checks
    if count:
        checks.append(Check("installations", True, f"installed on {count} account(s)"))
    else:
        checks.append(Check("installations", False, f"the App is installed nowhere: install it from "
                                                    f"{body.get('html_url') or 'its settings page'} "
                                                    "(Install App) on the repositories route-me should work on"))
    return checks


def _configured_specs(settings: Settings) -> list[str]:
    return list(dict.fromkeys((settings.strong, settings.cheap, settings.judge, *settings.fallbacks)))


async def _provider(name: str, kind: str, base_url: str | None, api_key: str, models: list[str]) -> Check:
    """List the provider's models with the configured key: authenticates and reaches it, costs nothing."""
    label = f"provider {name}"
    try:
        if kind == "anthropic":
            import anthropic

            async with anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0,
                                                timeout=20) as client:
                page = await client.models.list(limit=1000)
                listed = {m.id for m in page.data}
        else:
            import openai

            async with openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=20) as client:
                page = await client.models.list()
                listed = {m.id for m in page.data}
    except Exception as exc:  # noqa: BLE001 - every failure is reported as this provider's line
        status = getattr(exc, "status_code", None)
        variable = ("ANTHROPIC_API_KEY" if name == "anthropic" else "OPENAI_API_KEY" if name == "openai"
                    else f"ROUTE_ME_PROVIDER_{name.upper()}_API_KEY")
        if status in (401, 403):
            return Check(label, False, f"the key was refused ({status}): set a valid {variable}")
        where = base_url or "the default endpoint"
        if status is None:
            return Check(label, False, f"cannot reach {where} ({_reason(exc)}): check the base URL and the network")
        return Check(label, False, f"{where} answered {status} to a models list ({_reason(exc)})")
    missing = [m for m in models if listed and m not in listed]
    note = f"; not in its list: {', '.join(missing)} (check the model id)" if missing else ""
    return Check(label, True, f"the key works; {len(listed)} model(s) listed{note}")


async def _providers(settings: Settings) -> list[Check]:
    from bot.models.registry import providers_from_env

    specs = _configured_specs(settings)
    used: dict[str, list[str]] = {}
    for spec in specs:
        provider, _, model = spec.partition(":")
        used.setdefault(provider, []).append(model)
    declared = {p.name: p for p in providers_from_env(settings.env)}
    checks = []
    for name, models in used.items():
        provider = declared.get(name)
        if provider is None:
            checks.append(Check(f"provider {name}", False, f"not configured, but {', '.join(models)} use it"))
            continue
        checks.append(await _provider(name, provider.kind, provider.base_url, provider.api_key, models))
    return checks


def _prices(settings: Settings) -> list[Check]:
    """With a daily budget, a model without a price is refused at every call: say so now."""
    from bot.core.costs import PriceTable

    prices = PriceTable.load_default()
    if settings.prices_file is not None:
        prices = prices.with_overrides(PriceTable.overrides_from_json(settings.prices_file.read_text()))
    unpriced = [spec for spec in _configured_specs(settings) if prices.price(spec) is None]
    if settings.daily_budget_usd is None:
        detail = "no daily budget set" + (f"; costs of {', '.join(unpriced)} will show as unknown" if unpriced else "")
        return [Check("prices", True, detail)]
    if unpriced:
        return [Check("prices", False, f"ROUTE_ME_DAILY_BUDGET_USD is set, so every call to {', '.join(unpriced)} "
                                       "would be refused: no price is known; add it to the file named by "
                                       "ROUTE_ME_PRICES ({\"model-id\": {\"input\": …, \"output\": …}} in USD "
                                       "per million tokens)")]
    return [Check("prices", True, f"every configured model has a price (budget ${settings.daily_budget_usd:g}/day)")]


def _store(settings: Settings, open_store: Callable[[str], Any]) -> list[Check]:
    """Open the store (migrations applied) and write to it; then the snapshot folder."""
    checks = []
    where = "PostgreSQL" if settings.db.startswith(("postgres://", "postgresql://")) else settings.db
    try:
        store = open_store(settings.db)
        try:
            # A delete of nothing still needs the write lock: a read-only file or role fails here.
            store.prune(older_than_seconds=100 * 365 * 86_400)
        finally:
            store.close()
        checks.append(Check("state store", True, f"{where} opens, migrations are current, writes work"))
    except Exception as exc:  # noqa: BLE001 - reported with the fix
        checks.append(Check("state store", False, f"{where}: {_reason(exc)}; set ROUTE_ME_DB to a writable path "
                                                  "(its folder is created) or a reachable PostgreSQL URL"))
    checks.append(_writable_dir("snapshots", Path(settings.data_dir), "ROUTE_ME_DATA_DIR"))
    return checks


def _writable_dir(name: str, path: Path, variable: str) -> Check:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=f".doctor-{uuid.uuid4().hex[:6]}-"):
            pass
    except OSError as exc:
        return Check(name, False, f"cannot write in {path} ({exc.strerror or _reason(exc)}); "
                                  f"set {variable} to a writable folder")
    return Check(name, True, f"{path} is writable")


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order an operator fixes things."""
    from bot.store import open_store

    checks = [Check("settings", True, f"App {settings.github_app_id}, API {settings.github_api_url}, models "
                                      f"strong={settings.strong} cheap={settings.cheap} judge={settings.judge}"
                                      + (f" fallbacks={','.join(settings.fallbacks)}" if settings.fallbacks else ""))]
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        github, providers = await asyncio.gather(_github(session, settings), _providers(settings))
    checks += github + providers + _prices(settings)
    checks += await asyncio.to_thread(_store, settings, open_store)
    return checks


def settings_checks(problems: list[str]) -> list[Check]:
    """The settings that failed to load, one line each (nothing else can be checked then)."""
    return [Check("settings", False, problem) for problem in problems]


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed lines and the exit code (1 when anything failed)."""
    failed = [c for c in checks if not c.ok]
    lines = [c.line() for c in checks]
    lines.append(f"{len(failed)} problem(s) found" if failed else "all checks passed")
    return "\n".join(lines), 1 if failed else 0

