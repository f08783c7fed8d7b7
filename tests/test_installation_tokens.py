"""Installation tokens that expire or are revoked while a job runs: the next request mints a new one."""

from __future__ import annotations

import asyncio

from bot.github.auth import InstallationTokens
from tests import scenario as sc
from tests.fakes.app_keys import generate_app_key
from tests.test_implement_stage import planned  # noqa: F401 - fixture
from tests.test_plan_stage import comment


async def test_a_token_expiring_mid_implement_is_replaced_and_the_job_finishes(planned, github, openai):  # noqa: F811
    script = sc.implementer_replies()
    issued_before = github.installation_tokens_issued

    async def respond(body):
        if sc.turn_number(body) == 1:
            github.expire_tokens()  # GitHub's hour is up while the implementer works
        return script(body)

    openai.responder = respond
    await comment(planned, "/approve")
    pulls = github.pulls(sc.OWNER, sc.REPO)
    assert len(pulls) == 1
    assert len(github.reviews(sc.OWNER, sc.REPO, pulls[0]["number"])) == 1
    assert github.installation_tokens_issued == issued_before + 1
    refused = [f"{r.method} {r.path}" for r in github.rest_calls() if r.status == 401]
    assert len(refused) == 1, refused  # one refusal, then every request used the new token
    assert planned.worker.failed == 0


async def test_a_token_revoked_between_jobs_is_not_reused(planned, github, openai):  # noqa: F811
    github.expire_tokens()
    await comment(planned, "/approve")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1
    assert planned.worker.failed == 0


class _Minter:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, url: str, app_jwt: str) -> dict[str, str]:
        self.count += 1
        await asyncio.sleep(0)
        return {"token": f"ghs_{self.count}", "expires_at": "2999-01-01T00:00:00Z"}


async def test_a_late_refusal_of_an_old_token_keeps_the_fresh_one():
    private, _ = generate_app_key()
    mint = _Minter()
    tokens = InstallationTokens(app_id=1, private_key=private, post=mint)
    old = await tokens.get(42)
    tokens.forget(42, old)
    fresh = await tokens.get(42)
    tokens.forget(42, old)  # a second request that also saw the 401 on the old token
    assert await tokens.get(42) == fresh != old
    assert mint.count == 2
