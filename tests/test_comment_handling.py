"""Which comments route-me answers: silence on issues it does not track, /cancel with a broken config."""

from __future__ import annotations

import pytest

from bot.core.markers import find_marker
from bot.stages.runtime import runtime
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, issue_labeled
from tests.fakes.github_git import Author


async def comment(bot, body: str, *, user: str = sc.MAINTAINER):
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body=body, user=user)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    await bot.send("issue_comment", payload)
    await bot.settle()


async def label(bot, *, name: str = "route-me", action: str = "labeled"):
    await bot.send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label=name,
                                           title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sc.MAINTAINER,
                                           action=action))
    await bot.settle()


def commit_config(github, bot, text: str) -> None:
    """A maintainer pushes a new .github/route-me.yml to the default branch."""
    repo = github.repo(sc.OWNER, sc.REPO)
    files = repo.flat_files(repo.head_sha())
    files[".github/route-me.yml"] = ("100644", "blob", repo.hash_blob(text.encode()))
    author = Author(sc.MAINTAINER, "alice@example.com", "@1700000000 +0000")
    sha = repo.commit_tree(repo.write_tree(files), parents=[repo.head_sha()], message="config",
                           author=author)
    repo.set_ref("refs/heads/main", sha)
    runtime(bot.services).config_texts.clear()  # the bot caches the file for a minute


@pytest.fixture
async def planned(make_bot, github, anthropic):
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await label(bot)
    return bot


@pytest.mark.parametrize("body", ["/lgtm", "/retest", "/tmp is full, please clean up", "/approve",
                                  "/cancel", "/lgtm\n/approve"])
async def test_comments_on_an_issue_route_me_does_not_track_get_no_answer(make_bot, github, body):
    sc.seed(github)
    bot = await make_bot()
    await comment(bot, body)
    assert github.comments(sc.OWNER, sc.REPO, sc.ISSUE) == []
    assert github.count("GET", "/permission") == 0  # not even a permission lookup


async def test_help_is_answered_on_any_issue(make_bot, github):
    sc.seed(github)
    bot = await make_bot()
    await comment(bot, "/help")
    [reply] = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
    assert "route-me commands" in reply["body"]


async def test_unknown_commands_on_a_tracked_issue_get_one_short_reply(planned, github):
    before = len(github.comments(sc.OWNER, sc.REPO, sc.ISSUE))
    await comment(planned, "/lgtm\n/retest\n/shipit")
    replies = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[before:]
    assert len(replies) == 1 and "Unknown command `/lgtm`" in replies[0]["body"]


async def test_cancel_works_when_the_config_became_invalid(planned, github):
    commit_config(github, planned, "lable: route-me\n")
    await comment(planned, "/cancel")
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "cancelled"
    assert not any("is invalid" in c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE))


async def test_unlabel_cancels_with_an_invalid_config_and_other_labels_stay_quiet(planned, github):
    commit_config(github, planned, "lable: route-me\n")
    await label(planned, name="bug", action="unlabeled")
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "planned"
    await label(planned, action="unlabeled")
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "cancelled"
    assert not any("is invalid" in c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE))


async def test_commands_that_need_the_config_still_report_it(planned, github, anthropic):
    commit_config(github, planned, "lable: route-me\n")
    await comment(planned, "/revise keep it short")
    assert anthropic.calls == 1
    assert "lable" in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]


async def test_multi_line_revise_feedback_reaches_the_planner_whole(planned, anthropic):
    await comment(planned, "/revise keep the public API\nand document the ValueError in the README")
    assert anthropic.calls == 2
    user_text = str(anthropic.message_bodies[1]["messages"][0]["content"])
    assert "keep the public API" in user_text and "document the ValueError in the README" in user_text


async def test_edit_keeps_the_text_on_its_own_line(planned, github):
    await comment(planned, "/edit Guard divide() against zero\n\n1. Raise ValueError in calc/ops.py.")
    version = planned.services.store.plan_version(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE, 2)
    assert version["markdown"].startswith("Guard divide() against zero\n")


async def test_variant_keeps_the_plan_author_and_says_the_change_applies_to_the_next_revise(planned, github):
    await comment(planned, "/variant KK")
    body = sc.plan_comment(github)["body"]
    assert "plan v1 by `anthropic:claude-opus-5-5`" in body
    assert "the next `/revise` is planned by `openai:kimi-k2.6`" in body
    assert find_marker(body, "plan")["planner"] == "anthropic:claude-opus-5-5"


async def test_every_reply_carries_a_marker(planned, github):
    await comment(planned, "/revise")
    await comment(planned, "/variant XL")
    await comment(planned, "/retry")
    await comment(planned, "/cancel")
    await comment(planned, "/approve")
    replies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)][1:]
    assert len(replies) == 4
    assert all(find_marker(body, "reply") for body in replies), replies
    # the way to start over after a cancel is the same in the reply and in the plan comment
    restart = "remove the label and add it again"
    assert restart in replies[-1] and restart in sc.plan_comment(github)["body"]
