"""Implement stage end to end through the real openai SDK: /approve → one commit, one branch, one pull request."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.markers import find_marker
from tests import scenario as sc
from tests.fakes import anthropic_server, openai_server
from tests.test_plan_stage import comment, label


@pytest.fixture
async def planned(start_planned):
    return await start_planned()


def pr_comment(bot, github, body: str, **kwargs):
    number = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    return comment(bot, body, number=number, on_pull_request=True, **kwargs)


async def test_approve_opens_one_pull_request_holding_exactly_the_models_edits(planned, github, openai):
    repo = github.repo(sc.OWNER, sc.REPO)
    base = repo.head_sha()
    await comment(planned, "/approve")
    pulls = github.pulls(sc.OWNER, sc.REPO)
    assert len(pulls) == 1
    pull = pulls[0]
    assert pull["head"]["ref"] == f"route-me/issue-{sc.ISSUE}"
    assert f"Closes #{sc.ISSUE}" in pull["body"]
    head = pull["head"]["sha"]
    assert repo.commit_parents(head) == [base]
    assert repo.read_file(head, "calc/ops.py").decode() == sc.NEW_OPS
    assert sc.TEST_ADDITION.strip() in repo.read_file(head, "tests/test_ops.py").decode()
    changed = repo.git("diff", "--name-only", base, head).split()
    assert changed == ["calc/ops.py", "tests/test_ops.py"]
    assert openai.calls == len(sc.IMPLEMENTER_TURNS)
    # the plan comment now points at the pull request
    marker = find_marker(sc.plan_comment(github)["body"], "plan")
    assert marker["state"] == "pr_open" and marker["pull_request"] == pull["number"]


async def test_rest_calls_from_approve_to_pull_request(planned, github):
    before = len(github.rest_calls())
    await comment(planned, "/approve")
    calls = [f"{r.method} {r.path}" for r in github.rest_calls()[before:]]
    until_pull = calls[: calls.index(next(c for c in calls if c.startswith("POST") and c.endswith("/pulls"))) + 1]
    # the acknowledging reaction, "implementing…" edit, base tree, tree, commit, ref, pull request;
    # the maintainer's permission is still cached from the label (an /approve after CACHE_SECONDS
    # asks again: 8)
    assert until_pull[0].endswith("/reactions") and len(until_pull) == 7, until_pull
    # the whole flow: label (6) + approve..PR (7) + plan comment update + review = 15 ≤ 15
    assert len(github.rest_calls()) <= 15, "\n".join(f"{r.method} {r.path}" for r in github.rest_calls())


async def test_double_approve_opens_one_pull_request(planned, github):
    await comment(planned, "/approve")
    await comment(planned, "/approve")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1


async def test_hostile_paths_are_refused_and_the_model_sees_why(make_bot, github, anthropic, openai):
    sc.seed(github, files={**sc.FILES, "docs/link": "placeholder"})
    anthropic.responder = sc.anthropic_roles()
    hostile = [
        ("write_file", {"path": "../x", "content": "x"}),
        ("write_file", {"path": "/etc/passwd", "content": "x"}),
        ("write_file", {"path": ".github/workflows/x.yml", "content": "on: push\n"}),
        ("delete_file", {"path": ".git/config"}),
        *sc.IMPLEMENTER_TURNS[1:],
    ]
    openai.responder = sc.implementer_replies(hostile)
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    results = sc.tool_results(openai.completion_bodies[-1])
    errors = [r for r in results if r.startswith("error:")]
    assert len(errors) == 4, results
    assert any("workflows" in e for e in errors)
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    repo = github.repo(sc.OWNER, sc.REPO)
    changed = repo.git("diff", "--name-only", repo.head_sha(), pull["head"]["sha"]).split()
    assert changed == ["calc/ops.py", "tests/test_ops.py"]


async def test_symlink_in_the_repository_cannot_be_written_through(make_bot, github, anthropic, openai):
    repo = github.create_repo(sc.OWNER, sc.REPO, sc.FILES, symlinks={"alias": "calc"})
    github.add_issue(sc.OWNER, sc.REPO, number=sc.ISSUE, title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
    github.set_permission(sc.OWNER, sc.REPO, sc.MAINTAINER, "write")
    anthropic.responder = sc.anthropic_roles()
    openai.responder = sc.implementer_replies([("write_file", {"path": "alias/ops.py", "content": "x"}),
                                               ("delete_file", {"path": "alias"}),
                                               *sc.IMPLEMENTER_TURNS[1:]])
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    results = sc.tool_results(openai.completion_bodies[-1])
    assert results[0].startswith("error:") and "symlink" in results[0].lower()
    assert results[1].startswith("error:") and "symlink" in results[1].lower()
    head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    assert repo.tree_paths(head)["alias"] == "120000"  # the link itself is untouched


async def test_a_syntax_error_is_sent_back_and_fixed(make_bot, github, anthropic, openai):
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    broken = ("replace_in_file", {"path": "calc/ops.py", "old": "    return a / b\n",
                                  "new": "    if b == 0\n        raise ValueError('b must not be zero')\n    return a / b\n"})
    repair = ("replace_in_file", {"path": "calc/ops.py", "old": "    if b == 0\n", "new": "    if b == 0:\n"})
    finish = sc.IMPLEMENTER_TURNS[-1]
    openai.responder = sc.implementer_replies([broken, sc.IMPLEMENTER_TURNS[2], finish, repair, finish])
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    results = sc.tool_results(openai.completion_bodies[-1])
    finish_errors = [r for r in results if r.startswith("error:") and "calc/ops.py" in r]
    assert finish_errors and "syntax" in finish_errors[0].lower()
    head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    assert github.repo(sc.OWNER, sc.REPO).read_file(head, "calc/ops.py").decode() == sc.NEW_OPS


async def test_502_on_first_pull_request_post_still_one_pull_and_no_orphan_branch(planned, github):
    github.fail_next("POST", r"/repos/[^/]+/[^/]+/pulls$", status=502)
    await comment(planned, "/approve")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1
    assert github.repo(sc.OWNER, sc.REPO).branches() == ["main", f"route-me/issue-{sc.ISSUE}"]


async def test_502_after_github_made_the_pull_request_is_not_a_second_pull(planned, github):
    github.fail_after_effect("POST", r"/repos/[^/]+/[^/]+/pulls$", status=502)
    await comment(planned, "/approve")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1


async def test_pull_request_failure_deletes_the_branch_and_retry_completes(planned, github):
    github.fail_next("POST", r"/repos/[^/]+/[^/]+/pulls$", status=502, times=2)
    await comment(planned, "/approve")
    repo = github.repo(sc.OWNER, sc.REPO)
    assert github.pulls(sc.OWNER, sc.REPO) == []
    assert repo.branches() == ["main"]  # no half-made pull request left behind
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert any("implement stage failed" in b and "/retry" in b for b in bodies)
    await comment(planned, "/retry")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1


async def test_outsider_approve_does_nothing(planned, github, openai):
    await comment(planned, "/approve", user=sc.OUTSIDER)
    assert openai.calls == 0 and github.pulls(sc.OWNER, sc.REPO) == []


async def test_fix_adds_exactly_one_commit_on_the_same_branch(planned, github, openai):
    await comment(planned, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    first_head = pull["head"]["sha"]
    docstring = ("replace_in_file", {"path": "calc/ops.py", "old": '    """a divided by b."""\n',
                                     "new": '    """a divided by b; b must not be zero."""\n'})
    openai.responder = sc.implementer_replies([docstring, ("finish", {"summary": "Documented it."})])
    await pr_comment(planned, github, "/fix mention the zero rule in the docstring", comment_id=9100)
    repo = github.repo(sc.OWNER, sc.REPO)
    pulls = github.pulls(sc.OWNER, sc.REPO)
    assert len(pulls) == 1
    new_head = pulls[0]["head"]["sha"]
    assert new_head != first_head
    assert repo.commit_parents(new_head) == [first_head]
    assert "b must not be zero.\"\"\"" in repo.read_file(new_head, "calc/ops.py").decode()
    assert "mention the zero rule" in str(openai.completion_bodies[-2]["messages"])


async def test_implementer_fallback_when_the_cheap_provider_is_overloaded(make_bot, github, anthropic, openai):
    sc.seed(github)
    roles = sc.anthropic_roles()

    def respond(body):
        if any(t["name"] == "finish" for t in body.get("tools", [])):
            index = min(sc.turn_number(body), len(sc.IMPLEMENTER_TURNS) - 1)
            name, args = sc.IMPLEMENTER_TURNS[index]
            return anthropic_server.tool_reply(name, args, usage=sc.IMPLEMENTER_USAGE)
        return roles(body)

    anthropic.responder = respond
    openai.responder = lambda body: openai_server.failure(503, "server_error", message="overloaded")
    bot = await make_bot(ROUTE_ME_FALLBACKS="anthropic:claude-sonnet-5-5")
    await label(bot)
    await comment(bot, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    assert "anthropic:claude-sonnet-5-5" in pull["body"]
    # the plan comment says why another model implemented it
    plan = sc.plan_comment(github)["body"]
    assert "Implementer fallback" in plan and "kimi-k2.6" in plan and "claude-sonnet-5-5" in plan


async def test_cancel_stops_a_running_implementer_before_its_next_call(planned, github, openai):
    from tests.fakes.deliveries import issue_comment

    gate = asyncio.Event()
    script = sc.implementer_replies()

    async def respond(body):
        if sc.turn_number(body) == 1:
            await gate.wait()  # hold the second model call until /cancel has landed
        return script(body)

    openai.responder = respond
    approve = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/approve",
                            user=sc.MAINTAINER, comment_id=501)
    await planned.send("issue_comment", approve)
    while openai.calls < 2:
        await asyncio.sleep(0.01)
    cancel = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/cancel",
                           user=sc.MAINTAINER, comment_id=502)
    assert (await planned.send("issue_comment", cancel)).status == 202
    store = planned.services.store
    while (store.issue_state(f"{sc.OWNER}/{sc.REPO}", sc.ISSUE) or {}).get("state") != "cancelled":
        await asyncio.sleep(0.01)
    gate.set()
    await planned.settle()
    assert openai.calls == 2  # no model call after the cancel
    assert github.pulls(sc.OWNER, sc.REPO) == []
    assert github.repo(sc.OWNER, sc.REPO).branches() == ["main"]
    assert find_marker(sc.plan_comment(github)["body"], "plan")["state"] == "cancelled"
    bodies = [c["body"] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert not any("stage failed" in b for b in bodies), bodies


async def test_an_edited_plan_is_what_the_implementer_receives(planned, github, openai):
    await comment(planned, "/edit\n## Plan by hand\n\n1. In calc/ops.py guard b == 0 with HAND_WRITTEN_MARK.\n")
    await comment(planned, "/approve")
    first_request = str(openai.completion_bodies[0]["messages"])
    assert "HAND_WRITTEN_MARK" in first_request
    assert "Make divide() raise ValueError" not in first_request  # the planner's v1 was replaced
    assert "Implements plan v2 by @alice" in github.pulls(sc.OWNER, sc.REPO)[0]["body"]
    # The file a hand-written plan names is preloaded as well, so no turn goes to reading it.
    first_user = openai.completion_bodies[0]["messages"][1]["content"]
    assert '<file path="calc/ops.py">' in first_user and '<file path="tests/test_ops.py">' not in first_user


async def test_implementer_routes_pick_the_model_by_path(make_bot, github, anthropic, openai):
    sc.seed(github, config="implementer_routes:\n  - paths: ['calc/**', 'tests/**']\n"
                           "    model: anthropic:claude-sonnet-5-5\n")
    roles = sc.anthropic_roles()
    script = sc.implementer_replies()

    def respond(body):
        if any(t["name"] == "finish" for t in body.get("tools", [])):
            name, args = script(body).tool_calls[0][:2]
            return anthropic_server.tool_reply(name, args, usage=sc.IMPLEMENTER_USAGE)
        return roles(body)

    anthropic.responder = respond
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    assert openai.calls == 0
    implementer_models = {b["model"] for b in anthropic.message_bodies
                          if any(t["name"] == "finish" for t in b["tools"])}
    assert implementer_models == {"claude-sonnet-5-5"}
    assert "anthropic:claude-sonnet-5-5" in github.pulls(sc.OWNER, sc.REPO)[0]["body"]


async def test_closing_the_pull_request_unmerged_lets_the_plan_be_approved_again(planned, github, openai):
    from tests.fakes.deliveries import load_payload, retarget

    await comment(planned, "/approve")
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    closed = retarget(load_payload("pull_request.opened.1"), owner=sc.OWNER, repo=sc.REPO)
    closed["action"] = "closed"
    closed["pull_request"].update(number=pull["number"], state="closed", merged=False)
    assert (await planned.send("pull_request", closed)).status == 202
    await planned.settle()
    marker = find_marker(sc.plan_comment(github)["body"], "plan")
    assert marker["state"] == "planned" and "closed without merging" in sc.plan_comment(github)["body"]
    # (The fake does not model closing; a different summary gives the new commit its own sha.)
    openai.responder = sc.implementer_replies([*sc.IMPLEMENTER_TURNS[:-1], ("finish", {"summary": "Again."})])
    await comment(planned, "/approve")
    bodies = [c["body"][:300] for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE)]
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 2, bodies  # a fresh pull request (on a new branch name)


async def test_an_approve_interrupted_by_a_restart_is_resumed(planned, github, openai):
    from bot.stages.state import IssueState
    from bot.store import SqliteStore
    from tests.fakes.deliveries import issue_comment
    from tests.fakes.harness import leave_interrupted_job

    # The process died mid-implementation: the issue says "implementing", the job "running".
    await planned.stop()
    store = SqliteStore(planned.env["ROUTE_ME_DB"])
    state = IssueState.load(store, f"{sc.OWNER}/{sc.REPO}", sc.ISSUE)
    state.state, state.approved_version = "implementing", state.version
    state.save(store)
    store.close()
    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/approve", user=sc.MAINTAINER)
    job_id = leave_interrupted_job(planned.env["ROUTE_ME_DB"], "issue_comment", payload,
                                   delivery_id="approve-before-crash")

    await planned.start()
    await planned.settle()
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1
    assert planned.services.store.job(job_id).status == "done"


async def test_an_edited_executable_keeps_its_mode(make_bot, github, anthropic, openai):
    from tests.fakes.github_git import Author

    repo = sc.seed(github)
    # A second commit makes scripts/check.sh executable (mode 100755), as a real repo would.
    files = {path: (mode, "blob", sha) for path, (mode, sha) in
             ((p, (m, repo.git("rev-parse", f"HEAD:{p}").strip())) for p, m in repo.tree_paths("HEAD").items())}
    (script_sha,) = repo.hash_blobs([b"#!/bin/sh\necho old\n"])
    files["scripts/check.sh"] = ("100755", "blob", script_sha)
    head = repo.commit_tree(repo.write_tree(files), parents=[repo.head_sha()], message="add script",
                            author=Author("o", "o@example.com", "2026-11-25T00:00:00Z"))
    repo.set_ref("refs/heads/main", head)
    anthropic.responder = sc.anthropic_roles()
    openai.responder = sc.implementer_replies([
        ("replace_in_file", {"path": "scripts/check.sh", "old": "echo old", "new": "echo new"}),
        ("write_file", {"path": "scripts/new.sh", "content": "#!/bin/sh\n"}),
        ("finish", {"summary": "edited the script"}),
    ])
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    pull_head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    modes = repo.tree_paths(pull_head)
    assert modes["scripts/check.sh"] == "100755"
    assert modes["scripts/new.sh"] == "100644"
    assert repo.read_file(pull_head, "scripts/check.sh") == b"#!/bin/sh\necho new\n"


async def test_edits_after_an_accepted_finish_in_the_same_reply_are_not_committed(make_bot, github, anthropic,
                                                                                  openai):
    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    (_, guard), (_, test_edit), finish = sc.IMPLEMENTER_TURNS[1], sc.IMPLEMENTER_TURNS[2], sc.IMPLEMENTER_TURNS[3]
    # One reply: two valid edits, finish (accepted), then an edit that would not even parse.
    openai.reply(openai_server.tool_reply(calls=[
        ("replace_in_file", guard), ("replace_in_file", test_edit), finish,
        ("write_file", {"path": "bad.py", "content": "def broken(:\n"}),
    ], usage=sc.IMPLEMENTER_USAGE))
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    assert openai.calls == 1
    repo = github.repo(sc.OWNER, sc.REPO)
    head = github.pulls(sc.OWNER, sc.REPO)[0]["head"]["sha"]
    changed = repo.git("diff", "--name-only", repo.head_sha(), head).split()
    assert changed == ["calc/ops.py", "tests/test_ops.py"]  # no bad.py
    assert repo.read_file(head, "calc/ops.py").decode() == sc.NEW_OPS


async def test_the_turn_cap_ends_in_a_comment_listing_what_was_tried_and_retry(start_planned, github, openai):
    bot = await start_planned(config="max_turns: 3\n",  # the implementer never finishes:
                              implementer_turns=[("read_file", {"path": "calc/ops.py"})])
    await comment(bot, "/approve")
    assert openai.calls == 3
    assert github.pulls(sc.OWNER, sc.REPO) == []
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert "implement stage failed" in failure
    assert "did not finish within 3 turns" in failure and "read_file ×3" in failure
    assert "files changed so far: none" in failure and "/retry" in failure


async def test_the_token_cap_stops_a_runaway_implementer(make_bot, github, anthropic, openai):
    from bot.core.usage import Usage
    from bot.stages.implement import MAX_TOKENS_PER_RUN

    sc.seed(github)
    anthropic.responder = sc.anthropic_roles()
    heavy = Usage(input_tokens=MAX_TOKENS_PER_RUN // 2, output_tokens=10)
    openai.responder = lambda body: openai_server.tool_reply("read_file", {"path": "calc/ops.py"}, usage=heavy)
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    assert openai.calls == 2  # the second call passes the cap; no third one
    failure = github.comments(sc.OWNER, sc.REPO, sc.ISSUE)[-1]["body"]
    assert f"more than {MAX_TOKENS_PER_RUN:,} tokens" in failure and "/retry" in failure
    assert github.pulls(sc.OWNER, sc.REPO) == []


async def test_the_scorecard_after_fix_is_the_same_review_rescored_on_the_new_head(planned, github, anthropic,
                                                                                  openai):
    await comment(planned, "/approve")
    number = github.pulls(sc.OWNER, sc.REPO)[0]["number"]
    (first,) = github.reviews(sc.OWNER, sc.REPO, number)
    judge_calls = sum(1 for b in anthropic.message_bodies if any(t["name"] == "submit_scorecard" for t in b["tools"]))
    extra = ("write_file", {"path": "calc/notes.py", "content": "NOTE = 'zero is refused'\n"})
    openai.responder = sc.implementer_replies([extra, ("finish", {"summary": "Added a note."})])
    await pr_comment(planned, github, "/fix add a note module", comment_id=9100)
    reviews = github.reviews(sc.OWNER, sc.REPO, number)
    assert [r["id"] for r in reviews] == [first["id"]]  # updated, not a second review
    judged = [b for b in anthropic.message_bodies if any(t["name"] == "submit_scorecard" for t in b["tools"])]
    assert len(judged) == judge_calls + 1
    assert "calc/notes.py" in str(judged[-1]["messages"])  # the judge saw the new head's change
    body = reviews[0]["body"]
    assert "3 touched" in body and "`calc/notes.py`" in body
    assert "| fix |" in body  # the fix stage's cost is shown


async def test_two_approves_delivered_at_once_open_one_pull_request(planned, github, openai):
    from tests.fakes.deliveries import issue_comment

    deliveries = [issue_comment(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE, body="/approve",
                                user=sc.MAINTAINER, comment_id=comment_id) for comment_id in (601, 602)]
    responses = await asyncio.gather(*(planned.send("issue_comment", d) for d in deliveries))
    assert [r.status for r in responses] == [202, 202]
    await planned.settle()
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1
    assert openai.calls == len(sc.IMPLEMENTER_TURNS)  # the implementer ran once
    assert github.repo(sc.OWNER, sc.REPO).branches() == ["main", f"route-me/issue-{sc.ISSUE}"]


async def test_the_first_message_carries_the_files_the_plan_names(planned, github, openai):
    await comment(planned, "/approve")
    first_user = openai.completion_bodies[0]["messages"][1]["content"]
    # Both planned files, as read_file shows them, so no turn is spent reading them.
    assert '<file path="calc/ops.py">\n    1| def divide(a: float, b: float) -> float:' in first_user
    assert '<file path="tests/test_ops.py">\n    1| from calc.ops import divide' in first_user
    assert "already read for you" in first_user
    assert "README.md" not in first_user  # only what the plan names


async def test_a_fix_preloads_the_files_as_the_branch_has_them(planned, github, openai):
    await comment(planned, "/approve")
    openai.responder = sc.implementer_replies([("finish", {"summary": "Nothing left."})])
    await pr_comment(planned, github, "/fix check it again", comment_id=9101)
    fix_first_user = next(m["content"] for m in openai.completion_bodies[-1]["messages"] if m["role"] == "user")
    # The committed edit, not the base: line 4 is the new guard (the plan and diff also quote it).
    assert "    4|         raise ValueError('b must not be zero')" in fix_first_user


async def test_old_reads_are_stubbed_in_what_the_implementer_resends(make_bot, github, anthropic, openai,
                                                                     monkeypatch):
    from bot.stages import implement
    from bot.stages.history import TrimPolicy

    # A small policy so the toy repository's reads are worth trimming.
    monkeypatch.setattr(implement, "HISTORY_TRIM", TrimPolicy(keep_recent_turns=3, trigger_tokens=1, min_savings_tokens=1))
    guide = "".join(f"Section {n}: how to use calc.\n" for n in range(40))
    sc.seed(github, files={**sc.FILES, "docs/guide.md": guide})
    anthropic.responder = sc.anthropic_roles()
    reads = [("read_file", {"path": "docs/guide.md"}), ("read_file", {"path": "pyproject.toml"}),
             ("list_files", {}), ("read_file", {"path": "docs/guide.md"})]
    openai.responder = sc.implementer_replies(reads + sc.IMPLEMENTER_TURNS[1:])
    bot = await make_bot()
    await label(bot)
    await comment(bot, "/approve")
    assert len(github.pulls(sc.OWNER, sc.REPO)) == 1  # the run still finishes and opens its pull request
    results = sc.tool_results(openai.completion_bodies[-1])
    assert results[0] == "[read_file docs/guide.md: 40 lines, elided; read it again if needed]"
    assert results[1] == "[read_file pyproject.toml: 4 lines, elided; read it again if needed]"
    assert results[3].startswith("    1| Section 0:")  # the recent re-read is kept whole
