"""The GitHub REST client: gidgethub over the app's one aiohttp session, with retries that know GitHub.

- 5xx and network errors are retried only where repeating the request cannot do work
  twice: GET/PUT/PATCH/DELETE and the content-addressed git-data POSTs (blobs, trees,
  commits).  Creating a comment, a ref or a pull request is never blindly repeated; the
  stages look for what a failed call may already have made.
- An installation client asks its ``TokenSource`` for the token on every request, so a
  long job never outlives its token; a 401 drops the refused token and the request is
  sent once more with a fresh one (a 401 means GitHub did nothing, so repeating is safe).
- Primary (``x-ratelimit-remaining: 0``) and secondary (``retry-after``) rate limits wait
  when the wait is short, and otherwise surface as errors the job reports.
Every request is counted, so tests and benchmarks can assert the REST budget.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import gidgethub
import gidgethub.aiohttp
import gidgethub.sansio

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
MAX_WAIT_SECONDS = 60.0
# Content-addressed git objects, and installation tokens (minting one more token changes nothing).
_SAFE_POST = re.compile(r"/git/(blobs|trees|commits)$|/app/installations/\d+/access_tokens$")
USER_AGENT = "route-me"
# A CI job log can be hundreds of megabytes: read at most this much, keep its two ends.
LOG_MAX_BYTES = 32 * 1024 * 1024
LOG_KEEP_BYTES = 1024 * 1024
LOG_SECONDS = 60.0


# Errors of the network or of GitHub's side that a later try may not meet: expected in a
# long-running service, so they are logged as one line, without a traceback.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, gidgethub.GitHubBroken)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


def is_repeatable(method: str, url: str) -> bool:
    """Whether sending the request twice has the same effect as once."""
    if method in ("GET", "HEAD", "PUT", "PATCH", "DELETE"):
        return True
    return method == "POST" and bool(_SAFE_POST.search(url.split("?", 1)[0]))


def backoff_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: up to 1, 2, 4 … seconds."""
    return (rng or random).uniform(0.5, 1.0) * (2 ** (attempt - 1))


def rate_limit_delay(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds GitHub asks us to wait, from ``retry-after`` or an exhausted primary limit."""
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return None
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - now)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class TokenSource:
    """Where an installation client gets its token: ``current()`` per request (cached by the
    caller), ``refused(token)`` when GitHub answered 401 to it."""

    current: Callable[[], Awaitable[str]]
    refused: Callable[[str], None]


class GitHubClient(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp client plus call counting and GitHub-aware retries."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        oauth_token: str | None = None,
        tokens: TokenSource | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        on_request: Callable[[str, str, int], None] | None = None,
        on_rate_limit: Callable[[str, int], None] | None = None,
    ) -> None:
        super().__init__(session, USER_AGENT, oauth_token=oauth_token, base_url=base_url)
        self._sleep = sleep
        self._clock = clock
        self._on_request = on_request
        self._on_rate_limit = on_rate_limit
        self._tokens = tokens
        self.calls: list[tuple[str, str, int]] = []

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = dict(headers)
        token: str | None = None
        if self._tokens is not None and "authorization" not in headers:
            token = await self._tokens.current()
            headers["authorization"] = f"token {token}"
        attempt = 0
        while True:
            attempt += 1
            try:
                status, response_headers, data = await super()._request(method, url, headers, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._record(method, url, 0)
                if attempt >= MAX_ATTEMPTS or not is_repeatable(method, url):
                    raise
                log.warning("GitHub %s %s: %s; retrying", method, _path(url), type(exc).__name__)
                await self.sleep(backoff_delay(attempt))
                continue
            self._record(method, url, status)
            self._note_rate_limit(response_headers)
            if status == 401 and token is not None and self._tokens is not None:
                # The token expired or was revoked under us: mint a new one and try once more.
                log.warning("GitHub %s %s answered 401; retrying with a fresh token", method, _path(url))
                self._tokens.refused(token)
                token = None
                headers["authorization"] = f"token {await self._tokens.current()}"
                continue
            return status, response_headers, data

    async def download_redirected(self, url: str, *, keep_bytes: int = LOG_KEEP_BYTES,
                                  max_bytes: int = LOG_MAX_BYTES) -> str | None:
        """Text behind an endpoint that answers 302 to a signed download (Actions job logs).

        The signed URL is fetched without our token (it is another host and carries its own
        short-lived signature).  Only the first and last ``keep_bytes // 2`` of at most
        ``max_bytes`` are kept: a failure's explanation sits at the start or the end of a log.
        None when GitHub has no download (404, 410 for expired logs, no redirect).
        """
        headers = gidgethub.sansio.create_headers(self.requester, accept="application/vnd.github+json")
        token = await self._tokens.current() if self._tokens is not None else self.oauth_token
        if token:
            headers["authorization"] = f"token {token}"
        full = gidgethub.sansio.format_url(url, {}, base_url=self.base_url)
        timeout = aiohttp.ClientTimeout(total=LOG_SECONDS)
        async with self._session.get(full, headers=headers, allow_redirects=False, timeout=timeout) as resp:
            self._record("GET", full, resp.status)
            location = resp.headers.get("Location")
            if resp.status not in (301, 302, 307) or not location:
                log.info("GET %s answered %s, no download", _path(full), resp.status)
                return None
        head, tail, total = bytearray(), bytearray(), 0
        half = keep_bytes // 2
        async with self._session.get(location, timeout=timeout) as resp:
            if resp.status != 200:
                log.info("the download behind %s answered %s", _path(full), resp.status)
                return None
            async for chunk in resp.content.iter_chunked(64 * 1024):
                total += len(chunk)
                room = half - len(head)
                if room > 0:
                    head += chunk[:room]
                    chunk = chunk[room:]
                tail += chunk
                del tail[:-half or None]
                if total >= max_bytes:
                    break
        cut = "\n… (middle of the log not read) …\n" if total > len(head) + len(tail) else ""
        return head.decode("utf-8", "replace") + cut + tail.decode("utf-8", "replace")

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: gidgethub.HTTPException, attempt: int
    ) -> bool:
        if attempt >= MAX_ATTEMPTS:
            return False
        status = int(exception.status_code)
        delay: float | None = None
        if status in (403, 429):
            delay = rate_limit_delay(exception.headers, now=self._clock())
        elif status >= 500 and is_repeatable(method, url):
            delay = backoff_delay(attempt)
        if delay is None or delay > MAX_WAIT_SECONDS:
            return False
        log.warning("GitHub %s %s answered %s; retrying in %.1fs", method, _path(url), status, delay)
        await self.sleep(delay)
        return True

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        """Report x-ratelimit-remaining (per resource: core, search, …) for /metrics."""
        remaining = headers.get("x-ratelimit-remaining")
        if self._on_rate_limit is not None and remaining is not None and remaining.isdigit():
            self._on_rate_limit(headers.get("x-ratelimit-resource", "core"), int(remaining))

    def _record(self, method: str, url: str, status: int) -> None:
        self.calls.append((method, _path(url), status))
        if self._on_request is not None:
            self._on_request(method, url, status)


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


async def get_optional(gh: GitHubClient, url: str, url_vars: Mapping[str, Any] | None = None) -> Any:
    """GET that answers None for a 404 instead of raising."""
    try:
        return await gh.getitem(url, url_vars or {})
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) == 404:
            return None
        raise
