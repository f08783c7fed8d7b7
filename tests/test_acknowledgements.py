"""Every command that is acted on is acknowledged at once with a reaction on its comment."""

from __future__ import annotations

from tests import scenario as sc
from tests.fakes.deliveries import issue_comment


async def send_real_comment(bot, github, body: str, *, user: str = sc.MAINTAINER, number: int = sc.ISSUE,
                            on_pull_request: bool = False) -> int:
    """The comment exists on the fake GitHub (so it can be reacted to) and its webhook is delivered."""
    made = github.add_comment(sc.OWNER, sc.REPO, number, body=body, user=user)
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=user,
                            comment_id=made["id"], on_pull_request=on_pull_request)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    await bot.send("issue_comment", payload)
    await bot.settle()
    return made["id"]


def reacted(github, comment_id: int) -> list[tuple[str, str]]:
    return [(r["user"]["login"], r["content"]) for r in github.reactions(comment_id)]


async def test_commands_on_the_issue_and_the_pull_request_are_acknowledged(start_planned, github):
    bot = await start_planned()
    status = await send_real_comment(bot, github, "/status")
    approve = await send_real_comment(bot, github, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    rescore = await send_real_comment(bot, github, "/rescore", number=pull, on_pull_request=True)
    for comment_id in (status, approve, rescore):
        assert reacted(github, comment_id) == [("route-me[bot]", "eyes")]
    # The reaction comes before the work: it is the first call the /approve job makes.
    reaction_at = next(i for i, r in enumerate(github.requests) if r.path.endswith(f"/{approve}/reactions"))
    first_commit = next(i for i, r in enumerate(github.requests) if r.path.endswith("/git/commits"))
    assert reaction_at < first_commit


async def test_what_is_not_acted_on_gets_no_reaction(start_planned, github):
    bot = await start_planned()
    outsider = await send_real_comment(bot, github, "/approve", user=sc.OUTSIDER)
    chatter = await send_real_comment(bot, github, "Thanks, looks good!")
    unknown = await send_real_comment(bot, github, "/aprove")
    assert reacted(github, outsider) == [] and reacted(github, chatter) == [] and reacted(github, unknown) == []
    assert github.pulls(sc.OWNER, sc.REPO) == []
