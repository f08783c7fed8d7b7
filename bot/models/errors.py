"""Our own model-call error types: every provider failure becomes one of these, sorted by what helps."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Iterable, Mapping

from bot.core.usage import Usage

# The layers of bot/models/stack.py sort errors into four behaviours:
#   retry the same model          Overloaded, StreamDropped, ToolCallRejected (once), RateLimited
#                                 with a short retry-after (header or body)
#   fall back to the next model   RateLimited, ProviderUnavailable, persistent Overloaded, a refusal
#   stop at once                  AuthFailed, SpendLimited, BadRequest (RequestNotSent included),
#                                 BudgetExceeded, PriceUnknown
#   give up                       AllModelsFailed (the chain is exhausted)
#   not tried                     Skipped: NotConfigured, CircuitOpen (the next model is tried)
# Only Overloaded and ProviderUnavailable count towards the circuit breaker: an error our own
# request caused (RequestNotSent, BadRequest, ToolCallRejected) says nothing about the provider.


class ModelError(Exception):
    """A model call failed.  The message is for humans and never contains an API key."""

    attempts: int = 1
    """How many calls to this model ended in this error (set by ``Retrying`` when it gives up)."""
    circuit_open: bool = False
    """Set by ``CircuitBreaking`` when the model's breaker is open after this error: no retry."""

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


class StreamDropped(ProviderUnavailable):
    """The connection broke mid-answer (httpx ``RemoteProtocolError``, a truncated stream): the
    provider was answering, so the same model is worth another try before falling back."""


class ToolCallRejected(ModelError):
    """The provider refused the model's own malformed tool call (Groq's 400 ``tool_use_failed``):
    the request was fine and another sample usually is, so it gets one retry, then a fallback."""


class Refused(ModelError):
    """The model answered with a refusal (Anthropic ``stop_reason: refusal``, an OpenAI-compatible
    ``content_filter`` or ``message.refusal``): asking it again gets the same answer, so ``Fallback``
    moves to the next model, or fails naming the refusal.  Raised by ``ClientModel``, not adapters."""

    cost_usd: float | None = None  # the refused call was paid for; budgets count it
    usage: Usage = Usage()  # what it was paid for; the ledger row records it
    reasoning_level: str = ""  # the reasoning the refusing call ran with


class Skipped(ModelError):
    """The model was not called at all; its message says why (``Fallback`` names it and moves on)."""


class NotConfigured(Skipped):
    """The model's provider has no client (no key in the environment)."""


class CircuitOpen(Skipped):
    """The model failed repeatedly in the last minute, so its circuit breaker skips it."""


class AuthFailed(ModelError):
    """401/403: the key is wrong or lacks permission.  Retrying cannot help."""


class SpendLimited(ModelError):
    """402, a billing/credit error or ``insufficient_quota``: the account cannot pay.  Retrying cannot help."""


class BadRequest(ModelError):
    """Any other 4xx: the request itself is wrong (too long, bad schema, unknown model)."""


class RequestNotSent(BadRequest):
    """Our own request could not be encoded (a lone surrogate from a non-UTF-8 file name in a
    tool result, say): nothing reached the provider, so it never counts against it."""


class BudgetExceeded(ModelError):
    """Raised by ``Budgeted`` before a call whose estimated cost would exceed a budget; no call is made."""

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
    """Raised by ``Budgeted`` before a call to a model with no known price while a budget is active:
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


# "Please try again in 18.642s" / "in 656ms" / "in 1m30s" (OpenAI, Groq), "please try again after
# 1 seconds" (Moonshot): some 429s say when to come back only in the message.
_BODY_WAIT = re.compile(
    r"try again (?:in|after)\s+(?:(?P<m>\d+(?:\.\d+)?)\s*m(?:in(?:ute)?s?)?\s*(?=\d))?"
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\b",
    re.IGNORECASE,
)


def retry_after_from_text(text: str) -> float | None:
    """Seconds to wait from a hint in an error message, or None when it gives none."""
    found = _BODY_WAIT.search(text or "")
    if found is None:
        return None
    value = float(found.group("n"))
    unit = found.group("unit").lower()
    if unit.startswith("ms") or unit.startswith("milli"):
        value /= 1000.0
    elif unit.startswith("m"):
        value *= 60.0
    if found.group("m"):
        value += float(found.group("m")) * 60.0
    return value if math.isfinite(value) else None
