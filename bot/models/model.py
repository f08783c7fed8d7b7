"""The composable model port: ``Model`` (one request in, one priced reply out) and its leaves.

Every layer of a model call implements ``Model``: the leaf ``ClientModel`` (one provider's
``ModelClient`` bound to one model id) and each wrapper that owns one concern around it
(``Retrying``, ``CircuitBreaking``, ``Budgeted``, ``Ledgered``, ``Fallback``), in the shape of
pydantic-ai's ``WrapperModel`` / ``FallbackModel``.  ``bot/models/stack.py`` composes them in
one place.  What varies per call (who it is for, the budgets it counts against, where it is in
a fallback chain) travels in ``CallInfo``, so the same stack serves every job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.core.costs import PriceTable
from bot.core.usage import Usage
from bot.models.errors import NotConfigured, Refused
from bot.models.port import STOP_REFUSAL, ModelClient, ModelReply, ModelRequest, ModelSpec

if TYPE_CHECKING:  # budget.py and ledger.py hold wrappers built on this module
    from bot.models.budget import Budget
    from bot.models.ledger import CallContext


@dataclass(frozen=True)
class CallInfo:
    """What one call carries through the layers besides the request."""

    context: CallContext
    """Who the call is for (installation, repo, issue, stage): the ledger row's keys."""
    budgets: Sequence[Budget] = ()
    """The spending limits it counts against (``Budgeted``)."""
    requested: ModelSpec | None = None
    """The model the role asked for; set by ``Fallback`` (None: the model called is the one asked for)."""
    fallback_reason: str | None = None
    """Why the models before this one in the chain did not serve (set by ``Fallback``)."""
    has_fallback: bool = False
    """Another model follows in the chain, so ``Retrying`` moves on sooner (set by ``Fallback``)."""


@dataclass(frozen=True)
class Served:
    """A reply plus who served it, why a fallback happened (None if the requested model served) and its cost."""

    reply: ModelReply
    served_by: ModelSpec
    requested: ModelSpec
    fallback_reason: str | None
    usage: Usage
    cost_usd: float | None
    strong_cost_usd: float | None


class Model(Protocol):
    """Anything a role can call: one provider's model, or a wrapper around a ``Model``.

    ``complete`` raises only ``bot.models.errors.ModelError`` subclasses for model failures.
    """

    @property
    def spec(self) -> ModelSpec:
        """The model this one calls first (a ``Fallback``: its primary)."""
        ...

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served: ...

    async def count_input_tokens(self, request: ModelRequest) -> int: ...


class WrapperModel:
    """Delegates everything to ``inner``; a wrapper overrides ``complete`` for its one concern."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    @property
    def spec(self) -> ModelSpec:
        return self.inner.spec

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        return await self.inner.complete(request, call=call)

    async def count_input_tokens(self, request: ModelRequest) -> int:
        return await self.inner.count_input_tokens(request)


class ClientModel:
    """One provider's model: a ``ModelClient`` bound to ``spec.model``, each reply priced at the
    model's price and at the strong model's (the all-strong comparison).  A refusal is raised as
    ``Refused`` carrying what it cost: the layers above treat it as a paid answer that cannot serve."""

    def __init__(self, client: ModelClient, spec: ModelSpec, *, prices: PriceTable, strong: ModelSpec) -> None:
        self.client = client
        self._spec = spec
        self._prices = prices
        self._strong = strong

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        spec = self._spec
        reply = await self.client.complete(request, model=spec.model)
        cost = self._prices.cost(spec, reply.usage)
        if reply.stop_reason == STOP_REFUSAL:
            refused = Refused(f"{spec} refused to answer (stop_reason {reply.stop_reason})",
                              provider=spec.provider, model=spec.model)
            refused.cost_usd, refused.usage, refused.reasoning_level = cost, reply.usage, reply.reasoning_level
            raise refused
        requested = call.requested or spec
        return Served(
            reply=reply, served_by=spec, requested=requested,
            fallback_reason=call.fallback_reason if spec != requested else None,
            usage=reply.usage, cost_usd=cost, strong_cost_usd=self._prices.cost(self._strong, reply.usage),
        )

    async def count_input_tokens(self, request: ModelRequest) -> int:
        return await self.client.count_input_tokens(request, model=self._spec.model)


class Unconfigured:
    """A model whose provider has no client: every call is ``NotConfigured`` (``Fallback`` moves on)."""

    def __init__(self, spec: ModelSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        spec = self._spec
        raise NotConfigured(f"provider `{spec.provider}` is not configured", provider=spec.provider, model=spec.model)

    async def count_input_tokens(self, request: ModelRequest) -> int:
        raise NotConfigured(f"provider `{self._spec.provider}` is not configured",
                            provider=self._spec.provider, model=self._spec.model)
