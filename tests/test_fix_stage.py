"""`/fix` end to end: one more commit on the pull request, within the repository's limits, never over someone's push."""

from __future__ import annotations

import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes.github_git import Author
from tests.test_implement_stage import pr_comment
from tests.test_plan_stage import comment

DOCSTRING = ("replace_in_file", {"path": "calc/ops.py", "old": '    """a divided by b."""\n',
                                 "new": '    """a divided by b; b must not be zero."""\n'})
BRANCH = f"route-me/issue-{sc.ISSUE}"


@pytest.fixture
async def planned(start_planned):
    return await start_planned()


def push_to_branch(repo, *, path: str, content: bytes) -> str:
    """Someone else's commit on the pull request's branch, as a push from a laptop would make."""
    parent = repo.head_sha(BRANCH)
    files = repo.flat_files(parent)
    (blob,) = repo.hash_blobs([content])
    files[path] = ("100644", "blob", blob)
    sha = repo.commit_tree(repo.write_tree(files), parents=[parent], message="a colleague's commit",
                           author=Author("bob", "bob@example.com", "2026-11-25T00:00:00Z"))
    repo.set_ref(f"refs/heads/{BRANCH}", sha)
    return sha


def pushing_during_the_fix(repo):
    """An implementer script for `/fix` during whose first turn someone pushes to the branch."""
    script = sc.implementer_replies([DOCSTRING, ("finish", {"summary": "Documented it."})])
    pushed: list[str] = []

    def respond(body):
        if not pushed:
            pushed.append(push_to_branch(repo, path="NOTES.md", content=b"bob was here\n"))
        return script(body)

    return respond, pushed


def assert_told_to_fix_again_on_the_pull_request(github, pull_number: int) -> None:
    on_pull = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, pull_number)]
    failures = [b for b in on_pull if find_marker(b, "reply") and "fix stage failed" in b]
    assert len(failures) == 1, on_pull
    assert f"`{BRANCH}` moved since `/fix` started" in failures[0]
    assert "Comment `/fix <feedback>` again" in failures[0]
    assert "GitHub answered 422" not in failures[0]
    on_issue = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert not any("fix stage failed" in b for b in on_issue)


async def test_fix_when_someone_pushed_meanwhile_commits_nothing_and_says_so_on_the_pull(planned, github, openai):
    await comment(planned, "/approve")
    repo = github.repo(sc.OWNER, sc.REPO)
    pull_number = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    openai.responder, pushed = pushing_during_the_fix(repo)
    commits_before = github.count("POST", "/git/commits")
    await pr_comment(planned, github, "/fix mention the zero rule in the docstring", comment_id=9100)
    assert repo.head_sha(BRANCH) == pushed[0]  # the colleague's commit is still the head
    assert github.count("POST", "/git/commits") == commits_before  # checked before committing
    assert_told_to_fix_again_on_the_pull_request(github, pull_number)


async def test_fix_losing_the_race_to_a_push_gets_a_plain_answer_not_a_raw_422(planned, github, openai):
    await comment(planned, "/approve")
    repo = github.repo(sc.OWNER, sc.REPO)
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    openai.responder, pushed = pushing_during_the_fix(repo)
    # The push lands between route-me's look at the branch and its update: the look still
    # sees the old head (a GitHub ref answer shape), the update is refused by GitHub with 422.
    github.fail_next("GET", r"/git/ref/heads/", status=200, body={
        "ref": f"refs/heads/{BRANCH}", "node_id": "REF_x", "url": "https://api.github.com/x",
        "object": {"sha": pull["head"]["sha"], "type": "commit", "url": "https://api.github.com/y"}})
    await pr_comment(planned, github, "/fix mention the zero rule in the docstring", comment_id=9100)
    assert repo.head_sha(BRANCH) == pushed[0]
    assert any(r.method == "PATCH" and r.status == 422 for r in github.rest_calls())
    assert_told_to_fix_again_on_the_pull_request(github, pull["number"])


async def test_fix_cannot_grow_the_pull_request_past_max_files(start_planned, github, openai):
    bot = await start_planned(config="max_files: 2\n")
    await comment(bot, "/approve")
    repo = github.repo(sc.OWNER, sc.REPO)
    first_head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]  # already 2 files: at the limit
    openai.responder = sc.implementer_replies([
        ("write_file", {"path": "calc/extra.py", "content": "X = 1\n"}),
        DOCSTRING, ("finish", {"summary": "Documented it."}),
    ])
    await pr_comment(bot, github, "/fix also add calc/extra.py", comment_id=9100)
    results = sc.tool_results(openai.completion_bodies[-1])
    assert results[0].startswith("error:") and "3 files; the limit is 2" in results[0], results
    new_head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    assert repo.commit_parents(new_head) == [first_head]
    changed = repo.git("diff", "--name-only", repo.head_sha(), new_head).split()
    assert changed == ["calc/ops.py", "tests/test_ops.py"]
    assert "b must not be zero.\"\"\"" in repo.read_file(new_head, "calc/ops.py").decode()


async def test_fix_within_limits_commits_only_its_own_edit_on_top_of_the_head(start_planned, github, openai):
    bot = await start_planned(config="max_changed_lines: 12\n")
    await comment(bot, "/approve")
    repo = github.repo(sc.OWNER, sc.REPO)
    first_head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    # The pull request already changes 8 lines; this edit alone is 5, the whole would be 13.
    big = ("replace_in_file", {"path": "calc/ops.py", "old": "    return a / b\n",
                               "new": "    # one\n    # two\n    # three\n    # four\n    # five\n    return a / b\n"})
    openai.responder = sc.implementer_replies([big, DOCSTRING, ("finish", {"summary": "Documented it."})])
    await pr_comment(bot, github, "/fix document it", comment_id=9100)
    results = sc.tool_results(openai.completion_bodies[-1])
    assert results[0].startswith("error:") and "the limit is 12" in results[0], results
    new_head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    assert repo.commit_parents(new_head) == [first_head]
    assert repo.git("diff", "--name-only", first_head, new_head).split() == ["calc/ops.py"]
