"""GitHub App authentication: the App JWT and cached installation tokens.

Tokens never leave this module except as the return value of ``InstallationTokens.get``;
jobs carry installation ids.  A token is reused until shortly before its ``expires_at``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# Refresh this long before GitHub's expiry so a token never dies mid-job.
TOKEN_MARGIN_SECONDS = 300
# GitHub rejects JWTs valid for more than 10 minutes; back-date iat for clock drift.
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 540
# A JWT is reused for a few minutes: signing costs a millisecond of CPU, and an outage
# that makes every job ask for a token again must not turn into a CPU storm.
JWT_REUSE_SECONDS = 300


def make_app_jwt(app_id: int, private_key: str | Any, *, now: float | None = None) -> str:
    """An RS256 JWT identifying the App (valid about nine minutes).

    ``private_key`` is the PEM text or, cheaper, a key object loaded once.
    """
    issued = int(now if now is not None else time.time()) - JWT_BACKDATE_SECONDS
    payload = {"iat": issued, "exp": issued + JWT_LIFETIME_SECONDS, "iss": str(app_id)}
    return jwt.encode(payload, private_key, algorithm="RS256")


def parse_github_time(value: str) -> float:
    """GitHub's ISO 8601 timestamps ("2016-07-11T22:14:10Z") as Unix time."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class InstallationTokens:
    """Fetches installation tokens through ``post`` and caches them until near expiry.

    ``post(url, jwt)`` performs ``POST /app/installations/{id}/access_tokens`` and returns
    the JSON answer; the app wires it to its GitHub client so retries and base URL apply.
    Concurrent callers for one installation share one request.
    """

    def __init__(
        self,
        *,
        app_id: int,
        private_key: str,
        post: Callable[[str, str], Awaitable[dict[str, Any]]],
        clock: Callable[[], float] = time.time,
        maxsize: int = 10_000,
    ) -> None:
        self._app_id = app_id
        # Parsing the PEM costs more than signing; do it once.
        self._private_key = load_pem_private_key(private_key.encode(), password=None)
        self._jwt: tuple[str, float] | None = None
        self._post = post
        self._clock = clock
        self._cache: TLRUCache[int, tuple[str, float]] = TLRUCache(
            maxsize=maxsize, ttu=lambda _key, value, now: value[1] - TOKEN_MARGIN_SECONDS, timer=clock
        )
        self._locks: dict[int, asyncio.Lock] = {}
        self.fetched = 0

    def app_jwt(self) -> str:
        now = self._clock()
        if self._jwt is None or now - self._jwt[1] > JWT_REUSE_SECONDS:
            self._jwt = (make_app_jwt(self._app_id, self._private_key, now=now), now)
        return self._jwt[0]

    async def get(self, installation_id: int) -> str:
        cached = self._cache.get(installation_id)
        if cached is not None:
            return cached[0]
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(installation_id)
            if cached is not None:
                return cached[0]
            answer = await self._post(
                f"/app/installations/{installation_id}/access_tokens", self.app_jwt()
            )
            token, expires_at = answer["token"], parse_github_time(answer["expires_at"])
            self.fetched += 1
            self._cache[installation_id] = (token, expires_at)
            return token

    def forget(self, installation_id: int, token: str | None = None) -> None:
        """Drop a token GitHub refused (401), so the next call mints a new one.

        With ``token``, only that token is dropped: when several requests see the same 401,
        the first one's fresh token must not be thrown away by the others.
        """
        cached = self._cache.get(installation_id)
        if cached is not None and (token is None or cached[0] == token):
            self._cache.pop(installation_id, None)
