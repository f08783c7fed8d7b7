"""What a maintainer reads: the stage checklist, replies that link the updated review, failure
comments that say what would help, link the plan and are marked resolved after a good retry."""

from __future__ import annotations

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.test_ci_rounds import FIX_TURNS, fail_ci
from tests.test_implement_stage import pr_comment
from tests.test_plan_stage import comment


def replies(github, number: int, kind: str) -> list[str]:
    return [c["body"] for c in github.comments(sc.OWNER, sc.REPO, number)
            if (find_marker(c["body"], "reply") or {}).get("for") == kind]


async def test_the_plan_comment_checklist_follows_the_run(start_planned, github, openai):
    bot = await start_planned()
    assert "✅ planned → ⬜ approved → ⬜ implementing → ⬜ PR → ⬜ CI → ⬜ scored" in sc.plan_comment(github)["body"]
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    edits = [r.json["body"] for r in github.requests if r.method == "PATCH" and "/issues/comments/" in r.path]
    assert any("✅ approved → ⏳ implementing: starting, 30 turns at most → ⬜ PR" in b for b in edits)
    final = sc.plan_comment(github)["body"]
    assert f"✅ implemented → ✅ PR #{pull['number']} → ⬜ CI → ✅ scored 4.6/5" in final
    openai.responder = sc.implementer_replies(FIX_TURNS)
    await fail_ci(bot, github, pull, github.repo(sc.OWNER, sc.REPO).head_sha(pull["head"]["ref"]))
    assert "⏳ CI: waiting on fix round 1 → ✅ scored" in sc.plan_comment(github)["body"]


async def test_fix_and_rescore_end_with_a_reply_linking_the_updated_review(start_planned, github, openai):
    bot = await start_planned()
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    review = github.reviews(sc.OWNER, sc.REPO, pull["number"])[0]
    openai.responder = sc.implementer_replies(FIX_TURNS)
    await pr_comment(bot, github, "/fix document the zero rule")
    head = github.repo(sc.OWNER, sc.REPO).head_sha(pull["head"]["ref"])
    (fixed,) = replies(github, pull["number"], "fix")
    assert f"Pushed `{head[:7]}` and updated [the review]({review['html_url']})." in fixed
    await pr_comment(bot, github, "/rescore")
    (rescored,) = replies(github, pull["number"], "rescore")
    assert f"Updated [the review]({review['html_url']})." in rescored
    assert len(github.reviews(sc.OWNER, sc.REPO, pull["number"])) == 1


async def test_a_turn_limit_failure_says_what_would_help_links_the_plan_and_is_resolved_by_retry(
        start_planned, github, openai):
    bot = await start_planned(config="max_turns: 4\n", implementer_turns=[("read_file", {"path": "calc/ops.py"})])
    await comment(bot, "/approve")
    (failure,) = [c for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)
                  if (find_marker(c["body"], "reply") or {}).get("for") == "failure"]
    body = failure["body"]
    assert "raise `max_turns` in `.github/route-me.yml` (now 4)" in body
    assert "`/variant OO`" in body and "`/revise <feedback>`" in body
    assert f"[plan comment]({sc.plan_comment(github)['html_url']})" in body
    openai.responder = sc.implementer_replies()
    await comment(bot, "/retry")
    assert github.pulls(sc.OWNER, sc.REPO)
    resolved = next(c for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE) if c["id"] == failure["id"])
    assert resolved["body"].splitlines()[1] == "✅ **Resolved:** the implement stage succeeded when it ran again."
    assert "did not finish within 4 turns" in resolved["body"]  # folded, not lost
