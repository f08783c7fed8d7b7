"""Download a repository tarball from the GitHub REST API to a file, streamed and size-capped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.github.client import MAX_ATTEMPTS, MAX_WAIT_SECONDS, backoff_delay, rate_limit_delay

log = logging.getLogger(__name__)

USER_AGENT = "route-me"
MAX_REDIRECTS = 5
_CHUNK = 1 << 16
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=60)
# sock_read only bounds the gap between two reads: a server dripping a byte a minute would
# hold the plan stage forever.  The whole download (redirects included) gets this long.
DEFAULT_TOTAL_SECONDS = 900.0


class TarballError(Exception):
    """The tarball could not be fetched.  ``status`` is the HTTP status, 0 when none came back."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True for errors worth a later retry: no response, rate limits, 5xx."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class DownloadTimedOut(TarballError):
    """The whole download took longer than its time limit (a slow drip, not a dead host)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(0, f"the download did not finish within {seconds:g} seconds")
        self.seconds = seconds


class TarballTooLarge(TarballError):
    """The archive is over the caller's byte cap; the download was abandoned."""

    def __init__(self, status: int, max_bytes: int) -> None:
        super().__init__(status, f"tarball is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes

    @property
    def retryable(self) -> bool:
        return False


async def download_tarball(
    session: aiohttp.ClientSession,
    *,
    api_url: str,
    token: str,
    owner: str,
    repo: str,
    ref: str,
    dest_file: Path,
    max_bytes: int,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    total_seconds: float = DEFAULT_TOTAL_SECONDS,
) -> None:
    """GET /repos/{owner}/{repo}/tarball/{ref} and stream the body into ``dest_file``.

    GitHub answers 302 to codeload.github.com.  Redirects are followed here rather than by
    aiohttp so the rule is ours, whatever the aiohttp version: the Authorization header goes
    only to the API's own origin (scheme, host and port), never to the redirect target,
    whose URL already carries a short-lived token of its own; an https URL never redirects
    to plain http.  The download must finish within ``total_seconds``.  On any failure the
    partial file is removed.
    """
    url = URL(api_url.rstrip("/") + "/repos/{}/{}/tarball/{}".format(
        quote(owner, safe=""), quote(repo, safe=""), quote(ref, safe="")
    ), encoded=True)
    api_origin = url.origin()
    dest_file = Path(dest_file)
    try:
        async with asyncio.timeout(total_seconds):
            await _follow(session, url, api_origin=api_origin, token=token, dest_file=dest_file,
                          max_bytes=max_bytes, timeout=timeout)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            dest_file.unlink()
        # ``from None`` throughout: aiohttp's errors quote the URL, and the codeload URL
        # carries a token; a chained cause would print it in every logged traceback.
        if isinstance(exc, aiohttp.ClientError):  # before TimeoutError: some are both
            raise TarballError(0, _network_error(exc, url)) from None
        if isinstance(exc, TimeoutError):
            raise DownloadTimedOut(total_seconds) from None
        raise


async def _follow(session: aiohttp.ClientSession, url: URL, *, api_origin: URL, token: str,
                  dest_file: Path, max_bytes: int, timeout: aiohttp.ClientTimeout) -> None:
    """Request ``url``, following redirects ourselves, and stream the answer to ``dest_file``."""
    for _ in range(MAX_REDIRECTS + 1):
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": USER_AGENT,
        }
        if url.origin() == api_origin:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with session.get(
                url, headers=headers, allow_redirects=False, timeout=timeout
            ) as resp:
                if resp.status in (301, 302, 303, 307, 308):
                    url = _redirect_target(url, resp)
                    continue
                if not 200 <= resp.status < 300:
                    raise TarballError(
                        resp.status,
                        await _error_message(resp),
                        retry_after=rate_limit_delay(resp.headers, now=time.time()),
                    )
                await _stream_to_file(resp, dest_file, max_bytes)
                return
        except aiohttp.ClientError as exc:
            # Named here, where the host is known; the URL itself may carry a token.
            raise TarballError(0, _network_error(exc, url)) from None
    raise TarballError(0, f"more than {MAX_REDIRECTS} redirects")


def _redirect_target(url: URL, resp: aiohttp.ClientResponse) -> URL:
    location = resp.headers.get("Location")
    if not location:
        raise TarballError(resp.status, "redirect without a Location header")
    return redirect_target(url, location, status=resp.status)


def redirect_target(url: URL, location: str, *, status: int) -> URL:
    """Where a redirect from ``url`` leads; refuses non-HTTP schemes and https → http."""
    target = url.join(URL(location))
    if target.scheme not in ("http", "https"):
        raise TarballError(status, f"redirect to a non-HTTP URL: {target.scheme}")
    if url.scheme == "https" and target.scheme == "http":
        # The codeload URL carries a token; it must not travel in clear text.
        raise TarballError(status, f"refused a redirect from https to plain http ({target.host})")
    return target


async def _stream_to_file(resp: aiohttp.ClientResponse, dest_file: Path, max_bytes: int) -> None:
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise TarballTooLarge(resp.status, max_bytes)
    received = 0
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    # Plain blocking writes of 64 KiB chunks: each is far shorter than a network read.
    with open(dest_file, "wb") as out:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise TarballTooLarge(resp.status, max_bytes)
            out.write(chunk)


async def _error_message(resp: aiohttp.ClientResponse) -> str:
    """GitHub's JSON ``message`` when there is one, else the reason phrase (never the body)."""
    with contextlib.suppress(Exception):
        body = await resp.json(content_type=None)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return body["message"][:300]
    return resp.reason or "request failed"


def _network_error(exc: aiohttp.ClientError, url: URL) -> str:
    """What went wrong on the wire, naming the host only: never the URL, nor aiohttp's text
    (which quotes the URL, and the codeload URL carries a token)."""
    host = url.host or "the server"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connecting to {host} timed out"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return f"{host} stopped answering (read timeout)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {host}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"the download from {host} broke off"
    return f"network error talking to {host} ({type(exc).__name__})"


async def retry_download(attempt: Callable[[], Awaitable[None]], *,
                         sleep: Callable[[float], Awaitable[None]],
                         max_attempts: int = MAX_ATTEMPTS, label: str = "tarball") -> None:
    """Run ``attempt`` (one download) until it succeeds, retrying what GitHub says is worth it.

    The same rule as the REST client: 5xx and network errors back off and try again, and a
    429 or a 403 with ``retry-after`` (or an exhausted rate limit) waits as asked, when the
    wait is short.  A download that already used its whole time limit is not repeated.
    """
    for number in range(1, max_attempts + 1):
        try:
            await attempt()
            return
        except TarballError as exc:
            delay = _retry_delay(exc, number)
            if number >= max_attempts or delay is None or delay > MAX_WAIT_SECONDS:
                raise
            log.warning("%s download failed (%s); retrying in %.1fs", label, exc, delay)
            await sleep(delay)


def _retry_delay(exc: TarballError, attempt: int) -> float | None:
    if isinstance(exc, (TarballTooLarge, DownloadTimedOut)):
        return None
    if exc.status in (403, 429):
        # A 403 without retry-after is a real refusal; a 429 without one still backs off.
        if exc.retry_after is not None:
            return exc.retry_after
        return backoff_delay(attempt) if exc.status == 429 else None
    if exc.retryable:
        return backoff_delay(attempt)
    return None
