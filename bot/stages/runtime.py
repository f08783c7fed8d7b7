"""Per-process collaborators of the stages (model stack, prompts, prices, snapshot cache) and the ledger bridge."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from cachetools import TTLCache

from bot import logcontext
from bot.core.costs import PriceTable
from bot.core.repo_config import RepoConfig
from bot.core.snapshot_cache import SnapshotCache
from bot.core.usage import StageCost, Usage
from bot.github.permissions import PermissionCache
from bot.models.ledger import LedgerEntry
from bot.models.port import ModelClient, ModelSpec
from bot.models.registry import build_clients, providers_from_env
from bot.models.shared_budget import StoreBudgetGate
from bot.models.stack import ModelStack
from bot.prompts import Prompts, load_prompts
from bot.services import Services
from bot.store import Store
from bot.store.ledger_writer import LedgerWriter

log = logging.getLogger(__name__)

STAGE_ORDER = ("plan", "implement", "advice", "fix", "ci_fix", "judge")
CONFIG_CACHE_SECONDS = 60


@dataclass
class Runtime:
    prompts: Prompts
    prices: PriceTable
    clients: dict[str, ModelClient]
    models: ModelStack
    snapshots: SnapshotCache
    permissions: PermissionCache
    config_texts: TTLCache[str, str | None]
    # Each repository's trigger label (lower case), from a valid config read in the last
    # minute: the webhook skips label events that cannot concern route-me (see webhook.job_for).
    trigger_labels: TTLCache[str, str]


def runtime(services: Services) -> Runtime:
    return services.extras["runtime"]


def known_trigger_label(services: Services, repo: str) -> str:
    """The repository's trigger label (lower case) from a config read in the last minute, else
    the default: what to go by where the config cannot (or need not) be read again."""
    return runtime(services).trigger_labels.get(repo.lower()) or RepoConfig().label.lower()


def load_prices(services: Services) -> PriceTable:
    prices = PriceTable.load_default()
    path = services.settings.prices_file
    if path is not None:
        # Settings already checked the file; either shape is accepted (see overrides_from_json).
        prices = prices.with_overrides(PriceTable.overrides_from_json(path.read_text()))
    return prices


async def build_runtime(services: Services) -> None:
    settings = services.settings
    prices = load_prices(services)
    clients = build_clients(providers_from_env(settings.env), timeout=settings.model_timeout)
    # Retried with backoff, kept when the store stays unwritable: a paid call is never uncounted.
    store = services.store
    ledger = LedgerWriter(store, sleep=services.sleep)
    services.extras["ledger"] = ledger

    async def record(entry: LedgerEntry) -> None:
        await ledger.write(ledger_row(entry))
        services.metrics.ledger(entry)
        logcontext.model.set(entry.model)

    models = ModelStack(
        clients=clients, prices=prices, strong=ModelSpec.parse(settings.strong), ledger=record,
        sleep=services.sleep,
        # Reservations in the store: every instance sharing it sees the calls the others have in flight.
        budget_gate=StoreBudgetGate(store, owner=f"{settings.instance}:budget-{uuid.uuid4().hex[:12]}",
                                    ttl_seconds=2 * settings.model_timeout + 60),
    )
    snapshots = SnapshotCache(settings.data_dir, max_entries=16)
    configured = [ModelSpec.parse(spec) for spec in dict.fromkeys(
        (settings.strong, settings.cheap, settings.judge, *settings.fallbacks))]
    services.metrics.probes.snapshot_entries = lambda: len(snapshots)
    services.metrics.probes.breakers = lambda: [(str(spec), models.breaker.is_open(spec)) for spec in configured]
    services.extras["runtime"] = Runtime(
        prompts=load_prompts(), prices=prices, clients=clients, models=models,
        snapshots=snapshots,
        permissions=PermissionCache(),
        config_texts=TTLCache(maxsize=1024, ttl=CONFIG_CACHE_SECONDS),
        trigger_labels=TTLCache(maxsize=1024, ttl=CONFIG_CACHE_SECONDS),
    )


async def close_runtime(services: Services) -> None:
    ledger = services.extras.pop("ledger", None)
    if ledger is not None:
        ledger.flush()
    current = services.extras.pop("runtime", None)
    if current is None:
        return
    # A snapshot download runs in its own task (shared by every job that wants it), so
    # stopping the worker does not stop it; it must not outlive the HTTP session and store.
    try:
        await current.snapshots.aclose()
    except Exception:  # noqa: BLE001 - closing is best effort at shutdown
        log.warning("could not stop the snapshot downloads", exc_info=True)
    for client in current.clients.values():
        try:
            await client.close()
        except Exception:  # noqa: BLE001 - closing is best effort at shutdown
            log.warning("could not close a model client", exc_info=True)


def ledger_row(entry: LedgerEntry) -> dict[str, Any]:
    row = asdict(entry)
    row["usage"] = asdict(entry.usage)
    return row


def ledger_entry(row: dict[str, Any]) -> LedgerEntry:
    values = dict(row)
    values["usage"] = Usage(**values["usage"])
    return LedgerEntry(**values)


def stage_costs(store: Store, repo: str, issue: int) -> list[StageCost]:
    """Tokens and dollars per stage for one issue, from the ledger (failed attempts included)."""
    by_stage: dict[str, list[LedgerEntry]] = {}
    for row in store.ledger_rows(repo=repo, issue=issue):
        entry = ledger_entry(row)
        by_stage.setdefault(entry.stage, []).append(entry)
    costs = []
    for stage in sorted(by_stage, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else 99):
        entries = by_stage[stage]
        usage = Usage()
        for entry in entries:
            usage = usage + entry.usage
        # A model that ran with reasoning on is named with its level (SPEC 8), e.g.
        # "anthropic:claude-opus-4-1 (reasoning: high)"; off or unknown (older rows): the spec alone.
        models = tuple(dict.fromkeys(
            e.model if e.reasoning in (None, "", "off") else f"{e.model} (reasoning: {e.reasoning})"
            for e in entries if e.outcome == "ok"))
        usd = None if any(e.cost_usd is None for e in entries) else sum(e.cost_usd or 0.0 for e in entries)
        strong = (None if any(_compared(e) is None for e in entries)
                  else sum(_compared(e) or 0.0 for e in entries))
        costs.append(StageCost(stage=stage, models=models, usage=usage, usd=usd, strong_usd=strong))
    return costs



def _compared(entry: LedgerEntry) -> float | None:
    """What a call counts as in the all-strong comparison.

    A call a fallback served (the requested model was rate-limited or down) counts at what it
    cost: landing on a cheaper model by accident is not a saving the split earned.
    """
    if entry.requested_model != entry.model:
        return entry.cost_usd
    return entry.strong_cost_usd
