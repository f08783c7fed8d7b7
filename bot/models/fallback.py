"""``Fallback``: the first reply along a chain of models, and why each earlier one did not serve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.models.errors import (
    AllModelsFailed,
    ModelError,
    Overloaded,
    RateLimited,
    Refused,
    Skipped,
    StreamDropped,
    ToolCallRejected,
)
from bot.models.model import CallInfo, Model, Served
from bot.models.port import ModelRequest, ModelSpec
from bot.models.retrying import STOP


def describe(error: ModelError, spec: ModelSpec, *, retry_after_cap: float) -> str:
    """Why ``spec`` did not serve, as the comment says it ("`x` was overloaded (529) 3 times")."""
    if isinstance(error, Skipped):
        return error.message
    times = f" {error.attempts} times" if error.attempts > 1 else ""
    if isinstance(error, Refused):
        return f"`{spec}` refused to answer"
    if isinstance(error, ToolCallRejected):
        return f"`{spec}` sent malformed tool calls{times}"
    if isinstance(error, StreamDropped):
        return f"`{spec}` dropped the connection mid-answer{times}"
    if isinstance(error, Overloaded):
        # An overload reported inside a stream rides on an HTTP 200, which would read as success.
        status = error.status if error.status and error.status >= 400 else 529
        return f"`{spec}` was overloaded ({status}){times}"
    if isinstance(error, RateLimited):
        wait = error.retry_after
        if wait is not None and wait > retry_after_cap:
            return f"`{spec}` was rate-limited ({error.status or 429}) and asked to wait {wait:.0f}s"
        return f"`{spec}` was rate-limited ({error.status or 429}){times}"
    what = f"HTTP {error.status}" if error.status else "no response"
    return f"`{spec}` was unavailable ({what}){times}"


class Fallback:
    """Calls ``models`` in order until one serves.  Each later model is told who was asked for and
    why the earlier ones did not serve (the ledger row and the comment name it).  A stop error
    (key, bill, request, budget) ends the chain at once; when every model failed or was skipped,
    ``AllModelsFailed`` lists each one's reason."""

    def __init__(self, models: Sequence[Model], *, retry_after_cap: float) -> None:
        if not models:
            raise ValueError("a fallback chain needs at least one model")
        self.models = tuple(models)
        self._retry_after_cap = retry_after_cap

    @property
    def spec(self) -> ModelSpec:
        return self.models[0].spec

    async def count_input_tokens(self, request: ModelRequest) -> int:
        return await self.models[0].count_input_tokens(request)

    async def complete(self, request: ModelRequest, *, call: CallInfo) -> Served:
        requested = call.requested or self.spec
        attempts: list[tuple[str, str]] = []
        last_error: ModelError | None = None
        for index, model in enumerate(self.models):
            step = replace(call, requested=requested, fallback_reason="; ".join(r for _, r in attempts) or None,
                           has_fallback=index < len(self.models) - 1)
            try:
                return await model.complete(request, call=step)
            except STOP:
                raise
            except ModelError as error:
                attempts.append((str(model.spec), describe(error, model.spec, retry_after_cap=self._retry_after_cap)))
                if not isinstance(error, Skipped):
                    last_error = error
        summary = "; ".join(reason for _, reason in attempts) or "no model to try"
        raise AllModelsFailed(
            f"no model could answer: {summary}",
            provider=requested.provider,
            model=requested.model,
            attempts=attempts,
            last_error=last_error,
        )
