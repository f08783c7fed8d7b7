"""Who may run commands: write, maintain or admin permission from the collaborator-permission API.

``author_association`` describes a comment's author, not what they may do, so it is never
used.  Answers are cached briefly per repository and user to spare the REST budget;
errors never are.
"""

from __future__ import annotations

import gidgethub
from cachetools import TTLCache

from bot.github.client import GitHubClient

MAINTAINER_ROLES = frozenset({"admin", "maintain", "write"})
CACHE_SECONDS = 120


class PermissionCache:
    def __init__(self, *, ttl: float = CACHE_SECONDS, maxsize: int = 4096) -> None:
        self._cache: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=maxsize, ttl=ttl)

    async def is_maintainer(self, gh: GitHubClient, *, repo: str, login: str) -> bool:
        key = (repo.lower(), login.lower())
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            answer = await gh.getitem(f"/repos/{repo}/collaborators/{{username}}/permission",
                                      {"username": login})
        except gidgethub.BadRequest as exc:
            # Only a 404 says "not a collaborator".  A 403 is a rate limit or a missing app
            # permission: answering "outsider" would turn a maintainer away (and remember
            # it), so it surfaces as the job's failure and nothing is cached.
            if int(exc.status_code) == 404:
                self._cache[key] = False
                return False
            raise
        # role_name keeps "maintain"; permission maps it to "write".  Either qualifies.
        allowed = (answer.get("permission") in MAINTAINER_ROLES
                   or answer.get("role_name") in MAINTAINER_ROLES)
        self._cache[key] = allowed
        return allowed
