"""Which models serve one issue, what they fall back to, and the budgets their calls count against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.costs import PriceTable
from bot.core.repo_config import RepoConfig, implementer_route_for
from bot.models.budget import Budget
from bot.models.chain import fallback_chain, merged_fallbacks, no_cheaper_than
from bot.models.port import ModelSpec, Reasoning
from bot.settings import Settings
from bot.stages.state import IssueState
from bot.store import Store

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Models:
    """The split for one issue and the model spec behind each role."""

    variant: str
    planner: str
    implementer: str
    judge: str
    fallbacks: tuple[str, ...]
    strong: str
    cheap: str


def choose_models(*, settings: Settings, config: RepoConfig, state: IssueState | None,
                  planned_paths: list[str] | None = None) -> Models:
    """The split stored for the issue (else the repo's, else OK) and the model behind each role."""
    variant = (state.variant if state and state.variant else None) or (
        config.variant if "variant" in config.model_fields_set else "OK"
    )
    strong = config.strong or settings.strong
    cheap = config.cheap or settings.cheap
    implementer = strong if variant[1] == "O" else cheap
    if planned_paths:
        implementer = implementer_route_for(config, planned_paths) or implementer
    return Models(
        variant=variant,
        planner=strong if variant[0] == "O" else cheap,
        implementer=implementer,
        judge=config.judge or settings.judge or strong,
        fallbacks=merged_fallbacks(settings.fallbacks, config.fallbacks),
        strong=strong,
        cheap=cheap,
    )


def reasoning_for(role: str, *, settings: Settings, config: RepoConfig) -> Reasoning:
    """The reasoning a role is called with (SPEC 8): the repository's setting for that role, else
    the server's ``ROUTE_ME_REASONING``.  The advisor is asked like the planner (same question
    depth: how to approach the code), so it takes the planner's setting."""
    key = "planner" if role == "advisor" else role
    value = config.reasoning.get(key, settings.reasoning.get(key, "off"))
    return Reasoning.parse(value)


def fallbacks_for(primary: str, models: Models, *, strong_role: bool, config: RepoConfig,
                  prices: PriceTable) -> list[ModelSpec]:
    """The fallback chain; a strong role never falls back to the cheap model (under any
    provider, or one priced no higher) unless the repo allows it."""
    primary_spec, cheap = ModelSpec.parse(primary), ModelSpec.parse(models.cheap)
    candidates = [ModelSpec.parse(s) for s in models.fallbacks]
    if strong_role and not config.allow_cheap_planner_fallback and primary_spec.model != cheap.model:
        candidates = no_cheaper_than(cheap, candidates, prices)
    return fallback_chain(primary_spec, candidates)


def issue_budgets(*, store: Store, settings: Settings, config: RepoConfig, clock: Callable[[], float],
                  repo: str, number: int, installation_id: int) -> list[Budget]:
    """The repo's per-issue budget and the server's daily budget per installation, where set."""
    budgets: list[Budget] = []
    # Each budget re-reads the ledger before every call (refresh) and is keyed, so concurrent
    # jobs on the same issue or installation share the model stack's in-flight reservations.
    if config.budget_usd is not None:
        budgets.append(Budget(
            name=f"budget_usd for issue #{number}", limit_usd=config.budget_usd,
            spent_usd=store.spent_usd(repo=repo, issue=number),
            unpriced_calls=store.unpriced_calls(repo=repo, issue=number),
            key=f"issue:{repo}#{number}",
            refresh=lambda: store.spent_usd(repo=repo, issue=number)))
    if settings.daily_budget_usd is not None:
        since = clock() - DAY_SECONDS
        budgets.append(Budget(
            name="daily budget for this installation", limit_usd=settings.daily_budget_usd,
            spent_usd=store.spent_usd(installation_id=installation_id, since=since),
            unpriced_calls=store.unpriced_calls(installation_id=installation_id, since=since),
            key=f"daily:{installation_id}",
            refresh=lambda: store.spent_usd(installation_id=installation_id, since=clock() - DAY_SECONDS)))
    return budgets
