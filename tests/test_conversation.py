"""The conversation as a maintainer reads it: what the plan comment says at each step of a run."""

from __future__ import annotations

from bot.core.markers import extract_plan_body, find_marker
from tests import scenario as sc
from tests.test_plan_stage import comment


def plan_comment_edits(github) -> list[str]:
    """Every body the plan comment was given, in order (each PATCH)."""
    return [r.json["body"] for r in github.requests
            if r.method == "PATCH" and "/issues/comments/" in r.path and find_marker(r.json["body"], "plan")]


async def test_the_plan_stays_readable_while_implementing_and_says_failed_after(start_planned, github, openai):
    bot = await start_planned(config="max_turns: 3\n",  # the implementer never finishes:
                              implementer_turns=[("read_file", {"path": "calc/ops.py"})])
    await comment(bot, "/approve")

    edits = plan_comment_edits(github)
    implementing = [b for b in edits if find_marker(b, "plan")["state"] == "implementing"]
    assert implementing, edits
    for body in implementing:  # which plan is being built stays on screen
        assert "Guard the divisor" in extract_plan_body(body)
        assert "implementing…" in body
    final = sc.plan_comment(github)["body"]
    assert find_marker(final, "plan")["state"] == "failed"
    assert "implementing…" not in final  # not stale after the failure
    assert "The implement stage failed: see the comment below." in final
    assert "Guard the divisor" in extract_plan_body(final) and "`/retry`" in final


def cost_table(body: str) -> str:
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Stage |"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("| **Total**"))
    return "\n".join(lines[start:end + 1])


async def test_the_cost_table_is_in_the_review_once_and_one_line_elsewhere(start_planned, github):
    bot = await start_planned()
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    await comment(bot, "/status")
    review = github.reviews(sc.OWNER, sc.REPO, pull["number"])[0]["body"]
    status = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    table = cost_table(review)
    total = table.splitlines()[-1].split("**")[-2]  # the review's total, e.g. "$0.19"
    assert review.count("| Stage |") == 1
    for elsewhere in (pull["body"], sc.plan_comment(github)["body"], status):
        assert "| Stage |" not in elsewhere
        line = next(line for line in elsewhere.splitlines() if "plan $" in line and "implement $" in line)
        assert line.count("\n") == 0
    assert f"{total} — plan " in sc.plan_comment(github)["body"] and f"{total} — plan " in status
