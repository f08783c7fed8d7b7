"""Download a repository tarball from the GitHub REST API to a file, streamed and size-capped."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import quote

import aiohttp
from yarl import URL

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
        if isinstance(exc, TimeoutError):
            raise TarballError(0, f"the download did not finish within {total_seconds:g} seconds") from exc
        if isinstance(exc, aiohttp.ClientError):
            raise TarballError(0, f"{type(exc).__name__}: {exc}") from exc
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
                    retry_after=_retry_after(resp),
                )
            await _stream_to_file(resp, dest_file, max_bytes)
            return
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


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
