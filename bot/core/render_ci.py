"""What the CI loop says on GitHub: the review's first line (CI first, then the score), the fix
rounds section of the review, and the comment when the rounds are spent (pure Markdown)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.ci import PENDING
from bot.core.markers import make_marker

FAILED = frozenset({"failure", "timed_out", "startup_failure", "error"})
MAX_NAMED = 3
_SAFE_URL = re.compile(r"https?://[^\s()<>\[\]]+\Z")


def _plain(text: str) -> str:
    """Check and test names come from CI output: no HTML, no links, no mentions, no table breaks."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("[", "\\[").replace("]", "\\]").replace("|", "\\|")
    return re.sub(r"@(?=\w)", "@\u200b", text)[:120]


@dataclass(frozen=True)
class CIView:
    """The CI loop's state as the review shows it."""

    ci: str | None
    failing: tuple[tuple[str, str | None], ...] = ()
    tests: tuple[str, ...] = ()
    phase: str | None = None
    round: int = 0
    rounds: int = 0
    round_log: tuple[Mapping[str, Any], ...] = field(default=())

    @classmethod
    def of(cls, state: Any, *, rounds: int) -> CIView:
        """From an ``IssueState`` (duck-typed: core does not import stages)."""
        # CI recorded for an older head (a /fix pushed since) says nothing about the current one.
        current = state.ci_head is not None and state.ci_head == state.head_sha
        return cls(ci=state.ci if current else None,
                   failing=tuple((str(n), u) for n, u in state.ci_failing) if current else (),
                   tests=tuple(state.ci_tests) if current else (), phase=state.ci_phase, round=state.ci_rounds,
                   rounds=rounds, round_log=tuple(state.ci_round_log))


def failing_checks_text(view: CIView) -> str:
    """The failing checks, each linked to its run, and the failing tests found in them."""
    named = []
    for name, url in view.failing[:MAX_NAMED]:
        label = f"`{_plain(name).replace('`', 'ˋ')}`"
        named.append(f"[{label}]({url})" if url and _SAFE_URL.match(url) else label)
    if len(view.failing) > MAX_NAMED:
        named.append(f"{len(view.failing) - MAX_NAMED} more")
    text = ", ".join(named) or "a check"
    if view.tests:
        shown = ", ".join(f"`{_plain(t).replace('`', 'ˋ')}`" for t in view.tests[:MAX_NAMED])
        more = f" and {len(view.tests) - MAX_NAMED} more" if len(view.tests) > MAX_NAMED else ""
        text += f" ({shown}{more})"
    return text


def _rounds_done(n: int) -> str:
    return f"{n} fix round" + ("" if n == 1 else "s")


def ci_verdict(view: CIView, *, score: float | None) -> str:
    """The review's first line: CI first (linking the failing check), the judge's score after."""
    if view.ci in FAILED or (view.failing and view.ci not in PENDING and view.ci != "success"):
        checks = failing_checks_text(view)
        if view.phase == "running":
            ci = f"⚠️ **CI failing:** {checks} — fix round {view.round} of {view.rounds} running"
        elif view.phase == "exhausted":
            ci = (f"❌ **CI failing:** {checks} — still failing after {_rounds_done(view.round)}; "
                  "see the next steps in the comment below")
        elif view.phase == "off":
            ci = f"❌ **CI failing:** {checks} — automatic fix rounds are off (`ci_fix_rounds: 0`)"
        else:
            ci = f"❌ **CI failing:** {checks}"
    elif view.ci == "success":
        ci = "✅ **CI passing**" + (f" after {_rounds_done(view.round)}" if view.round else "")
    elif view.ci is None or view.ci in PENDING:
        pushed = view.round_log[-1] if view.phase == "pushed" and view.round_log else None
        where = f" on fix round {pushed['round']}'s commit `{str(pushed['commit'])[:7]}`" if pushed else ""
        # Nothing reported is not "running": a repository may have no CI at all.
        if view.ci in PENDING:
            ci = f"⏳ **CI running**{where}"
        elif pushed:
            ci = f"⏳ **CI:** waiting for checks{where}"
        else:
            ci = "**CI:** no checks reported yet"
    else:
        ci = f"⚠️ **CI:** {_plain(view.ci)}"
    judged = f"judge's score {score:.1f}/5" if score is not None else "not scored"
    return f"{ci} · {judged}"


def rounds_lines(view: CIView, *, planned: Sequence[str] | None = None) -> Iterator[str]:
    """The review's "CI fix rounds" section: one line per pushed round, outside-the-plan files flagged."""
    if not view.round_log:
        return
    yield "### CI fix rounds"
    yield ""
    for entry in view.round_log:
        files = ", ".join(f"`{p}`" for p in entry.get("files", [])[:20]) or "no files"
        line = f"- Round {entry['round']} of {view.rounds}: commit `{str(entry['commit'])[:7]}` changed {files}"
        outside = entry.get("outside_plan") or []
        if outside:
            line += " — ⚠️ **outside the plan:** " + ", ".join(f"`{p}`" for p in outside[:20])
        yield line
    yield ""
    yield ("_The scores above are the judge's reading of the change it was shown; comment `/rescore` "
           "to score the latest commit._")
    yield ""


def render_rounds_spent(view: CIView, *, issue_number: int, head_sha: str) -> str:
    """The pull request comment when CI still fails after the last fix round: what failed and what helps."""
    done = (f"after {_rounds_done(view.round)} (the repository allows {view.rounds})" if view.rounds
            else "and automatic fix rounds are off")
    return (
        f"{make_marker('ci', {'issue': issue_number, 'head': head_sha, 'rounds': view.round})}\n"
        f"**CI still fails {done}** on `{head_sha[:7]}`: {failing_checks_text(view)}.\n\n"
        "route-me will not push more commits on its own. What can help:\n"
        "- `/fix <hint>` here: one more round with what you know (the cause, the file or test to look at).\n"
        f"- Close this pull request, then `/revise <feedback>` on #{issue_number} for a new plan that "
        "accounts for the failure.\n"
        f"- Close this pull request, then `/variant OO` and `/approve` on #{issue_number} to let the strong "
        "model implement the plan.\n"
    )


def ci_box(view: CIView) -> str | None:
    """The CI box of the plan comment's checklist (None before any CI report)."""
    if view.ci in FAILED or (view.failing and view.ci not in PENDING and view.ci != "success"):
        if view.phase == "running":
            return f"⏳ CI failing: fix round {view.round} of {view.rounds}"
        suffix = f" after {_rounds_done(view.round)}" if view.round else ""
        return f"❌ CI failing{suffix}"
    if view.ci == "success":
        return "✅ CI passing" + (f" after {_rounds_done(view.round)}" if view.round else "")
    if view.ci in PENDING or view.phase == "pushed":
        return "⏳ CI running" if view.ci in PENDING else f"⏳ CI: waiting on fix round {view.round}"
    return None
