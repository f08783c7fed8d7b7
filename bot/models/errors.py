"""Our own model-call error types: every provider failure becomes one of these, sorted by what helps."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterable, Mapping

# The router sorts errors into four behaviours:
#   retry the same model          Overloaded (and RateLimited with a short retry-after)
#   fall back to the next model   RateLimited, ProviderUnavailable, persistent Overloaded
#   stop at once                  AuthFailed, SpendLimited, BadRequest, BudgetExceeded, PriceUnknown
#   give up                       AllModelsFailed (the chain is exhausted)


class ModelError(Exception):
    """A model call failed.  The message is for humans and never contains an API key."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after

    @property
    def spec(self) -> str:
        """The ``provider:model`` this error is about."""
        return f"{self.provider}:{self.model}"


class RateLimited(ModelError):
    """HTTP 429: too many requests or tokens for now; ``retry_after`` says when to come back."""


class Overloaded(ModelError):
    """The provider is overloaded (Anthropic 529 / overloaded_error, an OpenAI-compatible 503 saying so)."""


class ProviderUnavailable(ModelError):
    """Other 5xx, a connection error or a timeout: the provider cannot answer right now."""


class AuthFailed(ModelError):
    """401/403: the key is wrong or lacks permission.  Retrying cannot help."""


class SpendLimited(ModelError):
    """402, a billing/credit error or ``insufficient_quota``: the account cannot pay.  Retrying cannot help."""


class BadRequest(ModelError):
    """Any other 4xx: the request itself is wrong (too long, bad schema, unknown model)."""


class BudgetExceeded(ModelError):
    """Raised by the router before a call whose estimated cost would exceed a budget; no call is made."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        estimated_usd: float,
        remaining_usd: float,
        budget_name: str,
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.estimated_usd = estimated_usd
        self.remaining_usd = remaining_usd
        self.budget_name = budget_name


class PriceUnknown(ModelError):
    """Raised by the router before a call to a model with no known price while a budget is active:
    its cost could not be checked against the budget (nor counted after), so no call is made."""

    def __init__(self, message: str, *, provider: str = "", model: str = "", budget_name: str) -> None:
        super().__init__(message, provider=provider, model=model)
        self.budget_name = budget_name


class AllModelsFailed(ModelError):
    """Every model in the chain failed or was skipped; ``attempts`` lists (model spec, reason)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        attempts: list[tuple[str, str]],
        last_error: ModelError | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            model=model,
            status=last_error.status if last_error else None,
            retry_after=last_error.retry_after if last_error else None,
        )
        self.attempts = attempts
        self.last_error = last_error


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret that occurs in ``text``; short strings are ignored so we never mangle prose."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return text


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); None if absent or junk.

    Header lookup is case-insensitive whatever mapping type we are given.
    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    if not math.isfinite(value):
        return None
    return max(0.0, value)
