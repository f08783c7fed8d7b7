"""Who counts as a maintainer: a refused or failed permission check is never an "outsider" verdict."""

from __future__ import annotations

from tests import scenario as sc
from tests.test_plan_stage import comment, planned  # noqa: F401 - fixture

PERMISSION = r"/collaborators/[^/]+/permission$"
# Another maintainer than the one who labelled the issue, so no cached answer hides the check.
REVIEWER = "bob"


def outsider_replies(github) -> list[str]:
    return [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE) if "only maintainers" in c["body"]]


async def test_a_rate_limited_permission_check_does_not_turn_a_maintainer_away(planned, github, anthropic):  # noqa: F811
    github.set_permission(sc.OWNER, sc.REPO, REVIEWER, "maintain")
    github.primary_rate_limit("GET", PERMISSION, reset_in=3600)  # too long to wait for
    await comment(planned, "/revise please keep it shorter", user=REVIEWER)
    assert outsider_replies(github) == []
    state = planned.services.store.issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE)
    assert state is not None and REVIEWER not in state.get("replied_outsiders", [])
    assert planned.worker.failed == 1  # the job failed; it did not decide "outsider"
    assert anthropic.calls == 1

    # Nothing was cached: once the limit is gone the same maintainer is recognised.
    await comment(planned, "/revise please keep it shorter", user=REVIEWER)
    assert anthropic.calls == 2
    assert outsider_replies(github) == []


async def test_a_forbidden_permission_check_is_not_cached_as_outsider(planned, github, anthropic):  # noqa: F811
    github.set_permission(sc.OWNER, sc.REPO, REVIEWER, "write")
    github.fail_next("GET", PERMISSION, status=403)
    await comment(planned, "/revise once more", user=REVIEWER)
    await comment(planned, "/revise once more", user=REVIEWER)
    assert outsider_replies(github) == []
    assert anthropic.calls == 2  # the plan, then the second /revise


async def test_someone_who_is_not_a_collaborator_gets_one_reply(planned, github, anthropic):  # noqa: F811
    github.fail_next("GET", PERMISSION, status=404, times=5)
    await comment(planned, "/revise", user="stranger")
    await comment(planned, "/revise", user="stranger")
    assert len(outsider_replies(github)) == 1
    assert anthropic.calls == 1
