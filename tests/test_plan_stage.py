"""Plan stage end to end: label → one plan comment; /revise, /edit, direct edits, /cancel, outsiders, config."""

from __future__ import annotations

import re

import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes.deliveries import issue_comment, issue_labeled


async def label(bot, *, name: str = "route-me", sender: str = sc.MAINTAINER):
    payload = issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, label=name,
                            title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY, sender=sender)
    response = await bot.send("issues", payload)
    await bot.settle()
    return response


async def comment(bot, body: str, *, user: str = sc.MAINTAINER, user_type: str = "User",
                  number: int = sc.ISSUE, **kwargs):
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=user,
                            user_type=user_type, **kwargs)
    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    response = await bot.send("issue_comment", payload)
    await bot.settle()
    return response


@pytest.fixture
async def planned(make_bot, github, anthropic):
    """A bot that has planned issue #7 once."""
    sc.seed(github)
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    assert (await label(bot)).status == 202
    return bot


async def test_label_posts_exactly_one_plan_comment_with_every_section(planned, github, anthropic):
    comments = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
    assert len(comments) == 1
    body = comments[0]["body"]
    for section in ("Summary", "Root cause", "Steps", "Files to change", "Tests to add",
                    "Acceptance criteria", "Risks", "Out of scope", "Tokens and cost", "Commands"):
        assert section.lower() in body.lower(), section
    assert "raise ValueError('b must not be zero')" in body
    marker = find_marker(body, "plan")
    assert marker["version"] == 1 and marker["state"] == "planned"
    assert marker["base_sha"] == github.repo(sc.OWNER, sc.REPO).head_sha()
    assert marker["planner"] == "anthropic:claude-opus-5-5"
    assert marker["implementer"] == "openai:kimi-k2.6"
    assert "/approve" in body
    # what finishing would cost, with the chosen (cheap) implementer and with the strong one
    estimates = dict(re.findall(r"with a (cheap|strong) implementer \([KO]\) \$([\d.]+)", body))
    assert "cheap implementer (K) $" in body and "(chosen)" in body and set(estimates) == {"cheap", "strong"}
    assert float(estimates["cheap"]) < float(estimates["strong"])
    # The "planning…" progress comment was the same comment, edited in place.
    assert github.count("POST", f"/issues/{sc.ISSUE}/comments") == 1
    assert github.count("PATCH", "/issues/comments/") == 1
    assert anthropic.calls == 1
    request = anthropic.message_bodies[0]
    assert {t["name"] for t in request["tools"]} == {"submit_plan", "list_files", "read_file", "search"}
    # The repository context is cached and carries the file named in the issue.
    cached = [b for b in request["system"] if b.get("cache_control")]
    assert cached and "calc/ops.py" in cached[-1]["text"]


async def test_plan_stage_rest_budget(planned, github):
    # token + config + the labeller's permission + tarball + post + patch
    assert len(github.rest_calls()) == 6, [f"{r.method} {r.path}" for r in github.rest_calls()]


async def test_revise_makes_a_new_version_and_sends_the_feedback(planned, github, anthropic):
    await comment(planned, "/revise please also document the ValueError in the README")
    assert anthropic.calls == 2
    user_text = str(anthropic.message_bodies[1]["messages"][0]["content"])
    assert "please also document the ValueError in the README" in user_text
    body = sc.plan_comment(github)["body"]
    assert find_marker(body, "plan")["version"] == 2


async def test_edit_command_makes_a_human_version(planned, github, anthropic):
    await comment(planned, "/edit\n## My plan\n\n1. Do it my way in calc/ops.py.\n")
    body = sc.plan_comment(github)["body"]
    marker = find_marker(body, "plan")
    assert marker["version"] == 2 and marker["author"] == "@alice"
    assert "Do it my way in calc/ops.py." in body
    assert anthropic.calls == 1  # no model call for a human plan
    state = planned.services.store.plan_version(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE, 2)
    assert state["markdown"].startswith("## My plan") and state["author"] == "@alice"


async def test_direct_edit_of_the_plan_comment_makes_a_human_version(planned, github):
    plan = sc.plan_comment(github)
    edited = plan["body"].replace("Make divide() raise ValueError", "Make divide() raise a clear ValueError")
    await comment(planned, edited, user=sc.MAINTAINER, action="edited", comment_id=plan["id"],
                  old_body=plan["body"])
    store = planned.services.store
    version = store.plan_version(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE, 2)
    assert version is not None and version["author"] == "@alice"
    assert "raise a clear ValueError" in version["markdown"]
    assert find_marker(sc.plan_comment(github)["body"], "plan")["author"] == "@alice"


async def test_unrelated_label_does_nothing(make_bot, github, anthropic):
    sc.seed(github)
    bot = await make_bot()
    await label(bot, name="bug")
    assert anthropic.calls == 0
    assert github.comments(sc.OWNER, sc.REPO, sc.ISSUE) == []


async def test_label_is_case_insensitive_and_configurable(make_bot, github, anthropic):
    sc.seed(github, config="label: AI-Please\n")
    anthropic.responder = sc.planner_replies()
    bot = await make_bot()
    await label(bot, name="route-me")
    assert anthropic.calls == 0
    await label(bot, name="ai-please")
    assert anthropic.calls == 1


async def test_outsider_and_bot_revise_do_nothing(planned, github, anthropic):
    await comment(planned, "/revise do something else", user=sc.OUTSIDER)
    await comment(planned, "/revise and again", user=sc.OUTSIDER)
    await comment(planned, "/revise from a bot", user="other-app[bot]", user_type="Bot")
    assert anthropic.calls == 1
    replies = [c for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE) if "only maintainers" in c["body"]]
    assert len(replies) == 1  # at most one polite reply per user and issue
    assert find_marker(sc.plan_comment(github)["body"], "plan")["version"] == 1


async def test_cancel_then_approve_does_nothing(planned, github, openai):
    await comment(planned, "/cancel")
    body = sc.plan_comment(github)["body"]
    assert find_marker(body, "plan")["state"] == "cancelled"
    await comment(planned, "/approve")
    assert openai.calls == 0 and github.pulls(sc.OWNER, sc.REPO) == []
    assert "was cancelled" in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]


async def test_unlabel_cancels(planned, github):
    payload = issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, action="unlabeled")
    await planned.send("issues", payload)
    await planned.settle()
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "cancelled"


async def test_invalid_config_is_reported_and_nothing_else_happens(make_bot, github, anthropic):
    sc.seed(github, config="lable: route-me\nmax_files: lots\n")
    bot = await make_bot()
    await label(bot)
    comments = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
    assert len(comments) == 1
    assert "lable" in comments[0]["body"] and "max_files" in comments[0]["body"]
    assert anthropic.calls == 0


async def test_invalid_plan_goes_back_once_then_fails_honestly(make_bot, github, anthropic):
    sc.seed(github)
    bad = {k: v for k, v in sc.PLAN.items() if k != "steps"}
    anthropic.responder = sc.planner_replies(bad)
    bot = await make_bot()
    await label(bot)
    assert anthropic.calls == 2
    error = sc.anthropic_tool_results(anthropic.message_bodies[1])[-1]
    assert error["is_error"] is True and "steps" in str(error["content"])
    failure = [c for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE) if "stage failed" in c["body"]]
    assert failure and "/retry" in failure[-1]["body"]
    # the progress comment no longer claims to be planning
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "failed"


async def test_help_and_unknown_command(planned, github):
    await comment(planned, "/aprove")
    await comment(planned, "/help")
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert any("/approve" in b and "Did you mean" in b for b in bodies)
    assert any("route-me commands" in b for b in bodies)


async def test_revise_sends_the_same_cached_context(planned, anthropic):
    await comment(planned, "/revise mention the README too")
    first, second = anthropic.message_bodies[0], anthropic.message_bodies[1]
    cached = [[b for b in body["system"] if b.get("cache_control")] for body in (first, second)]
    assert cached[0] and cached[0] == cached[1]  # identical prefix: the provider's cache applies
