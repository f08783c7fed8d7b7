"""Drive the real bot through one realistic issue against the fakes and dump everything it posts.

    PYTHONPATH=. .venv/bin/python scripts/show_flow.py [OUT_DIR] [--html]

For reading the conversation as a maintainer would: every comment body, every edit of the
plan comment (each PATCH, in order), the pull request body and every review body become
numbered Markdown files in OUT_DIR (default ./flow-out), named after the step that caused
them; ``final/`` holds what the issue and the pull request show at the end, top to bottom.
``--html`` also writes a GitHub-like HTML page per final thread (needs the ``markdown``
package on PYTHONPATH; it is not a project dependency).

The run: label → plan (the strong model overloaded, a fallback serves) → ``/variant KK`` and
back → ``/revise`` → ``/edit`` a human plan → ``/approve`` (the implementer hits max_turns)
→ ``/retry`` → progress edits → pull request → review → CI fails (a GitHub Actions check run
whose job log names the failing test) → a CI fix round, in which the implementer asks the
strong model once (``ask_advisor``) and pushes one commit → CI passes → ``/fix`` →
``/rescore`` → ``/status`` → ``/help`` (issue and pull request) → an outsider's command → an
unknown command → ``/cancel``.  Every maintainer comment exists on the fake GitHub, so the
bot's acknowledging reactions show in ``final/``.  Nothing here talks to the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.usage import Usage  # noqa: E402
from tests import scenario as sc  # noqa: E402
from tests.fakes import anthropic_server  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from tests.fakes.app_keys import generate_app_key  # noqa: E402
from tests.fakes.deliveries import issue_comment, issue_labeled  # noqa: E402
from tests.fakes.github_server import FakeGitHub  # noqa: E402
from tests.fakes.harness import BotHarness, bot_env  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.test_ci_rounds import check_run_completed  # noqa: E402
from tests.test_score_stage import check_suite_completed  # noqa: E402

CONFIG = "max_turns: 6\nbudget_usd: 5\n"
FALLBACK = "anthropic:claude-sonnet-5-5"
HUMAN_PLAN = """## Plan (edited by hand)

1. In `calc/ops.py`, make `divide()` raise `ValueError("b must not be zero")` when `b == 0`.
2. Add `test_divide_by_zero` to `tests/test_ops.py`.

Keep the signature; do not touch other operations.
"""
CI_LOG = "".join(f"2026-11-25T10:00:{i:02d}.0000000Z {line}\n" for i, line in enumerate([
    "##[group]Run python -m pytest -q", "##[endgroup]", "..F", "=================== FAILURES ===================",
    "_____________ test_divide_by_zero _____________", "    def test_divide_by_zero():",
    ">       with pytest.raises(ValueError):", "E       NameError: name 'pytest' is not defined",
    "tests/test_ops.py:9: NameError", "FAILED tests/test_ops.py::test_divide_by_zero - NameError: name 'pytest' is "
    "not defined", "1 failed, 1 passed in 0.02s", "##[error]Process completed with exit code 1."]))
QUESTION = ("CI fails with NameError: name 'pytest' is not defined in tests/test_ops.py::test_divide_by_zero, "
            "which imports pytest inside the function. Import it at module level instead?")
ADVICE = ("Yes: add `import pytest` at the top of tests/test_ops.py, above `from calc.ops import divide`, and "
          "drop the import inside the test. Do not change calc/ops.py.")
CI_FIX_TURNS = [("ask_advisor", {"question": QUESTION}),
                ("replace_in_file", {"path": "tests/test_ops.py", "old": "from calc.ops import divide\n",
                                     "new": "import pytest\n\nfrom calc.ops import divide\n"}),
                ("finish", {"summary": "Imported pytest at module level in tests/test_ops.py."})]
FIX_TURNS = [("replace_in_file", {"path": "calc/ops.py", "old": '    """a divided by b."""\n',
                                  "new": '    """a divided by b; b must not be zero."""\n'}),
             ("finish", {"summary": "Documented the zero rule in the docstring."})]


def overloaded_once(roles: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """The strong model answers 529 until the fallback has served once; then all is well."""
    served_by_fallback: list[bool] = []

    def respond(body: dict[str, Any]) -> Any:
        if body["model"] == "claude-opus-5-5" and not served_by_fallback:
            return anthropic_server.failure(529, "overloaded_error", message="Overloaded")
        if body["model"] != "claude-opus-5-5":
            served_by_fallback.append(True)
        return roles(body)
    return respond


def with_advisor(roles: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """The strong model also answers ``ask_advisor`` (a request offering no tools)."""
    def respond(body: dict[str, Any]) -> Any:
        if not body.get("tools"):
            return anthropic_server.text_reply(ADVICE, usage=Usage(input_tokens=1_800, output_tokens=150))
        return roles(body)
    return respond


def kind_of(method: str, path: str) -> str | None:
    """What a request carrying a ``body`` wrote, as a file-name fragment (None: not a post)."""
    patterns = [
        ("POST", r"/issues/(\d+)/comments$", "comment-on-{}"),
        ("PATCH", r"/issues/comments/(\d+)$", "edit-of-comment-{}"),
        ("POST", r"/pulls$", "pr-body"),
        ("PATCH", r"/pulls/(\d+)$", "pr-body-edit-{}"),
        ("POST", r"/pulls/(\d+)/reviews$", "review-on-{}"),
        ("PUT", r"/pulls/\d+/reviews/(\d+)$", "review-edit-{}"),
        ("POST", r"/issues/comments/(\d+)/reactions$", "reaction-on-{}"),
    ]
    for wanted, pattern, name in patterns:
        match = re.search(pattern, path)
        if method == wanted and match:
            return name.format(*match.groups())
    return None


class Recorder:
    """Writes each new body the bot sent since the last step into OUT_DIR."""

    def __init__(self, github: FakeGitHub, out: Path) -> None:
        self.github, self.out, self.seen, self.count = github, out, 0, 0
        self.index: list[str] = []

    def step(self, title: str) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
        self.index.append(f"\n## {title}\n")
        for request in self.github.requests[self.seen:]:
            body = request.json.get("body") if isinstance(request.json, dict) else None
            if isinstance(request.json, dict) and "content" in request.json:
                body = f"(reaction) :{request.json['content']}:"
            kind = kind_of(request.method, request.path)
            if kind is None or not isinstance(body, str):
                continue
            self.count += 1
            name = f"{self.count:02d}-{slug}-{kind}.md"
            (self.out / name).write_text(body)
            self.index.append(f"- [{name}]({name}) ({len(body):,} characters)")
        self.seen = len(self.github.requests)


def _with_reactions(github: FakeGitHub, comment: dict[str, Any]) -> str:
    """A comment as the thread shows it: who wrote it, its text, and the reactions under it."""
    reactions = " ".join(f":{r['content']}: by {r['user']['login']}" for r in github.reactions(comment["id"]))
    under = f"\n\n_Reactions: {reactions}_" if reactions else ""
    return f"**@{comment['user']['login']}:**\n\n{comment['body']}{under}"


def final_threads(github: FakeGitHub) -> dict[str, str]:
    """The issue and each pull request as a reader sees them at the end: bodies in order."""
    threads = {}
    issue = "\n\n---\n\n".join(_with_reactions(github, c) for c in github.comments(sc.OWNER, sc.REPO, sc.ISSUE))
    threads[f"issue-{sc.ISSUE}"] = issue
    for pull in github.pulls(sc.OWNER, sc.REPO):
        number = pull["number"]
        parts = [f"<!-- PR body -->\n{pull['body']}"]
        parts += [f"<!-- review -->\n{r['body']}" for r in github.reviews(sc.OWNER, sc.REPO, number)]
        parts += [_with_reactions(github, c) for c in github.comments(sc.OWNER, sc.REPO, number)]
        threads[f"pull-{number}"] = "\n\n---\n\n".join(parts)
    return threads


async def run(out: Path) -> None:
    private, public = generate_app_key()
    with tempfile.TemporaryDirectory(prefix="show-flow-") as tmp:
        async with (FakeGitHub(Path(tmp) / "github", app_id=1234, public_key_pem=public) as github,
                    FakeAnthropic(api_key="sk-ant-test-key") as anthropic,
                    FakeOpenAI(api_key="sk-openai-test-key") as openai):
            sc.seed(github, config=CONFIG)
            env = bot_env(Path(tmp), github_url=github.url, private_key=private,
                          anthropic_url=anthropic.base_url, openai_url=openai.base_url,
                          ROUTE_ME_FALLBACKS=FALLBACK)
            record = Recorder(github, out)
            async with BotHarness(env) as bot:
                async def send(event: str, payload: dict[str, Any], title: str) -> None:
                    await bot.send(event, payload)
                    await bot.settle()
                    record.step(title)

                def said(body: str, *, user: str = sc.MAINTAINER, number: int = sc.ISSUE,
                         on_pull_request: bool = False) -> dict[str, Any]:
                    made = github.add_comment(sc.OWNER, sc.REPO, number, body=body, user=user)
                    payload = issue_comment(owner=sc.OWNER, repo=sc.REPO, number=number, body=body, user=user,
                                            comment_id=made["id"], on_pull_request=on_pull_request)
                    payload["issue"].update(title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY)
                    return payload

                anthropic.responder = with_advisor(overloaded_once(sc.anthropic_roles()))
                await send("issues", issue_labeled(owner=sc.OWNER, repo=sc.REPO, number=sc.ISSUE,
                                                   title=sc.ISSUE_TITLE, body=sc.ISSUE_BODY,
                                                   sender=sc.MAINTAINER), "label, strong model overloaded")
                await send("issue_comment", said("/variant KK"), "variant KK")
                await send("issue_comment", said("/variant OK"), "variant back to OK")
                await send("issue_comment", said("/revise keep the error message short"), "revise")
                await send("issue_comment", said("/edit\n" + HUMAN_PLAN), "edit a human plan")
                openai.responder = sc.implementer_replies([("read_file", {"path": "calc/ops.py"})])
                await send("issue_comment", said("/approve"), "approve, implementer hits max_turns")
                openai.responder = sc.implementer_replies()
                await send("issue_comment", said("/retry"), "retry, pull request and review")
                pull = github.pulls(sc.OWNER, sc.REPO)[0]
                number = pull["number"]
                repo = github.repo(sc.OWNER, sc.REPO)
                head = repo.head_sha(pull["head"]["ref"])
                run = github.add_ci_run(sc.OWNER, sc.REPO, head, check_name="test (3.12)", title="1 failed, 1 passed",
                                        summary="pytest found a failing test.", log=CI_LOG)
                openai.responder = sc.implementer_replies(CI_FIX_TURNS)
                await send("check_run", check_run_completed(run, pull),
                           "CI fails, a fix round asks the advisor and pushes a commit")
                fixed = {**pull, "head": {**pull["head"], "sha": repo.head_sha(pull["head"]["ref"])}}
                github.add_ci_run(sc.OWNER, sc.REPO, fixed["head"]["sha"], check_name="test (3.12)",
                                  conclusion="success")
                await send("check_suite", check_suite_completed(fixed, conclusion="success"), "CI passes")
                openai.responder = sc.implementer_replies(FIX_TURNS)
                await send("issue_comment", said("/fix mention the zero rule in the docstring", number=number,
                                                 on_pull_request=True), "fix on the pull request")
                await send("issue_comment", said("/rescore", number=number, on_pull_request=True), "rescore")
                await send("issue_comment", said("/status"), "status")
                await send("issue_comment", said("/help"), "help on the issue")
                await send("issue_comment", said("/help", number=number, on_pull_request=True),
                           "help on the pull request")
                await send("issue_comment", said("/approve", user=sc.OUTSIDER), "outsider approves")
                await send("issue_comment", said("/aprove"), "unknown command")
                await send("issue_comment", said("/cancel"), "cancel")
            (out / "index.md").write_text("# What the bot posted, step by step\n" + "\n".join(record.index) + "\n")
            final = out / "final"
            final.mkdir(exist_ok=True)
            for name, text in final_threads(github).items():
                (final / f"{name}.md").write_text(text)


def write_html(out: Path) -> None:
    """A GitHub-like page per final thread, to look at in a browser or a screenshot."""
    import markdown  # not a project dependency: install it outside the project to use --html

    style = ("body{font:14px/1.5 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:860px;"
             "margin:24px auto;color:#1f2328}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;"
             "padding:4px 10px}code{background:#eff1f3;padding:1px 4px;border-radius:4px}"
             "blockquote{color:#59636e;border-left:4px solid #d0d7de;margin:0;padding:0 12px}"
             "hr{border:0;border-top:6px solid #d0d7de;margin:28px 0}")
    for path in sorted((out / "final").glob("*.md")):
        html = markdown.markdown(path.read_text(), extensions=["tables", "fenced_code", "md_in_html"])
        page = f"<html><head><meta charset='utf-8'><style>{style}</style></head><body>{html}</body></html>"
        path.with_suffix(".html").write_text(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="flow-out", type=Path)
    parser.add_argument("--html", action="store_true", help="also write final/*.html (needs `markdown`)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.md"):
        old.unlink()
    asyncio.run(run(args.out))
    if args.html:
        write_html(args.out)
    print(f"wrote {args.out}/index.md and {args.out}/final/")


if __name__ == "__main__":
    main()
