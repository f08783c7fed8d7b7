"""Markdown for what the bot posts on issues and pull requests (the plan comment: render_plan.py).

Each text carries a hidden marker.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from bot.core.commands import COMMAND_SCOPE, COMMAND_USAGE, KNOWN_COMMANDS
from bot.core.markers import make_marker
from bot.core.money import (  # noqa: F401 - re-exported
    cost_line,
    costs_table,
    format_tokens,
    format_usd,
    total_usd,
    usd_digits,
)
from bot.core.plan import PlanVersion, code_span, model_span, plan_text, table_cell
from bot.core.secrets_scan import redact_secrets
from bot.core.usage import StageCost

# GitHub refuses comment and pull request bodies over 65,536 characters.
MAX_BODY_CHARS = 65_000
# A config file with thousands of typos gets the first ones named, not a wall of text.
MAX_CONFIG_ERRORS = 20

STATE_LABELS: dict[str, str] = {
    "planning": "planning…",
    "planned": "plan ready, waiting for approval",
    "approved": "approved, implementation queued",
    "implementing": "implementing…",
    "pr_open": "pull request open",
    "scoring": "scoring the pull request…",
    "done": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _defuse(text: str) -> str:
    """Untrusted text must not smuggle in a marker the bot would later trust."""
    return re.sub(r"<!--(?=\s*route-me:)", "&lt;!--", text, flags=re.I)


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_DETAILS_OPEN = re.compile(r"<details\b", re.I)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.I)


def _contain(markdown: str) -> str:
    """``markdown`` closed off so it cannot swallow what the bot writes after it.

    An unclosed code fence, ``<details>`` or HTML comment in a plan (a model's, a human's,
    or one cut short to fit) would otherwise turn the costs and commands below it into
    code, fold them away or hide them.
    """
    fence: str | None = None
    open_details = 0
    for line in markdown.split("\n"):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not line[match.end():].strip():
                fence = None
        else:
            open_details += len(_DETAILS_OPEN.findall(line)) - len(_DETAILS_CLOSE.findall(line))
            open_details = max(open_details, 0)
    if fence is None and markdown.rfind("<!--") > markdown.rfind("-->"):
        cut = markdown.rfind("<!--")
        markdown = markdown[:cut] + "&lt;!--" + markdown[cut + 4:]
    if fence is not None:
        markdown += "\n" + fence
    return markdown + "\n</details>" * open_details


def _clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, with whatever it opened closed again."""
    closers = 200  # room for the fence and </details> tags _contain may add
    if len(text) + closers <= limit:
        return _contain(text)
    kept = text[: max(limit - 80 - closers, 0)].rstrip()
    return _contain(kept) + "\n\n_… truncated to fit in one GitHub comment._"


def _login(login: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", login)[:39] or "there"


def _short(sha: str | None) -> str:
    return code_span(sha[:7]) if sha else "default branch head"


def _models_line(*, variant: str, planner: str, implementer: str, judge: str | None = None) -> str:
    line = (
        f"Split {code_span(variant)}: planner {model_span(planner)}"
        f" → implementer {model_span(implementer)}"
    )
    return line + (f", judge {model_span(judge)}" if judge else "")


def _commands_list(where: Literal["issue", "pr"], names: Sequence[str] = KNOWN_COMMANDS) -> str:
    return "\n".join(
        f"- {code_span(COMMAND_USAGE[name][0])}: {COMMAND_USAGE[name][1]}"
        for name in names
        if where in COMMAND_SCOPE[name]
    )


def _author_text(author: str) -> str:
    author = author.removeprefix("planner:")
    return author if author.startswith("@") else model_span(author)


def _author(version: PlanVersion) -> str:
    return _author_text(version.author)


def render_reply(kind: str, text: str) -> str:
    """A short reply to a command, with its hidden marker (STYLE rule 9)."""
    return f"{make_marker('reply', {'for': kind})}\n{text}\n"


def render_status(*, state: str, issue_number: int, version: int | None, variant: str,
                  planner: str, implementer: str, judge: str, costs: Sequence[StageCost],
                  pull_request: int | None = None, budget_usd: float | None = None,
                  plan_author: str | None = None) -> str:
    """The reply to `/status`; ``plan_author`` is the current version's (``planner:<spec>`` or ``@login``)."""
    lines = [
        make_marker("reply", {"for": "status", "issue": issue_number}),
        f"**route-me status for #{issue_number}:** {STATE_LABELS.get(state, state)}",
        "",
        f"- Plan version: {f'v{version}' if version is not None else 'none yet'}"
        + (f" by {_author_text(plan_author)}" if version is not None and plan_author else ""),
        "- " + _models_line(variant=variant, planner=planner, implementer=implementer, judge=judge),
        f"- Cost so far: {total_usd(costs)}"
        + (f" of the {format_usd(budget_usd)} budget" if budget_usd is not None else ""),
    ]
    lines.append(f"- By stage: {cost_line(costs)}")
    if pull_request is not None:
        lines.append(f"- Pull request: #{pull_request} (its review has the full cost table)")
    return "\n".join(lines) + "\n"


def render_help(*, where: Literal["issue", "pr"]) -> str:
    """The reply to `/help`: the commands that work here."""
    place = "an issue" if where == "issue" else "a pull request"
    return (
        f"{make_marker('reply', {'for': 'help', 'where': where})}\n"
        f"**route-me commands** on {place} (one per line, maintainers only):\n\n"
        f"{_commands_list(where)}\n"
    )


def render_failure(*, stage: str, what: str, hint: str = "Comment `/retry` to try again.",
                   plan_url: str | None = None) -> str:
    """A failed stage, said plainly, with what to do next and a link to the plan it worked on.

    ``what`` often quotes an exception from a provider or GitHub: credentials in it are
    masked before anyone can read them.
    """
    what, hint = redact_secrets(what), redact_secrets(hint)
    plan = f"\n\nThe plan and its progress: [plan comment]({plan_url})." if plan_url else ""
    return (
        f"{make_marker('reply', {'for': 'failure', 'stage': stage})}\n"
        f"**route-me: the {_defuse(stage)} stage failed.**\n\n"
        f"{_clip(_defuse(what), 4000)}\n\n{hint}{plan}\n"
    )


def render_resolved_failure(*, stage: str, what: str) -> str:
    """A failure comment once the stage succeeded on a later run: resolved, the old text folded away."""
    return (
        f"{make_marker('reply', {'for': 'failure', 'stage': stage, 'resolved': True})}\n"
        f"✅ **Resolved:** the {_defuse(stage)} stage succeeded when it ran again.\n\n"
        f"<details><summary>What had failed</summary>\n\n{_clip(_defuse(redact_secrets(what)), 4000)}\n\n"
        "</details>\n"
    )


def render_job_failure(*, what: str, hint: str) -> str:
    """A job that failed outside any stage (reading the config, checking permissions), or
    that a restart interrupted too often: what went wrong and how to try again."""
    what, hint = redact_secrets(what), redact_secrets(hint)
    return (
        f"{make_marker('reply', {'for': 'failure'})}\n"
        "**route-me could not finish handling this.**\n\n"
        f"{_clip(_defuse(what), 4000)}\n\n{hint}\n"
    )


def render_config_error(errors: Sequence[tuple[str, str]]) -> str:
    """Why `.github/route-me.yml` was refused; nothing else was done."""
    shown = MAX_CONFIG_ERRORS
    items = "\n".join(
        f"- {code_span(key[:100])}: {_clip(_defuse(problem), 300)}" for key, problem in errors[:shown]
    ) or "- (no details)"
    if len(errors) > shown:
        items += f"\n- … and {len(errors) - shown:,} more"
    return (
        f"{make_marker('reply', {'for': 'config-error'})}\n"
        "**route-me did nothing:** `.github/route-me.yml` on the default branch is invalid.\n\n"
        f"{items}\n\nFix the file on the default branch, then remove and re-add the label.\n"
    )


def render_not_allowed(login: str, *, action: str = "run route-me commands") -> str:
    """The one polite reply to someone who may not ``action`` (run commands, start a plan by label)."""
    login = _login(login)
    return (
        f"{make_marker('reply', {'for': 'not-allowed', 'login': login})}\n"
        f"Sorry @{login}, only maintainers (write, maintain or admin permission) can {action}.\n"
    )


def render_unknown_command(word: str, suggestion: str | None) -> str:
    """The reply to a `/word` that is not a command."""
    word = re.sub(r"[^A-Za-z0-9_-]", "", word.lstrip("/"))[:40]
    hint = f" Did you mean {code_span('/' + suggestion)}?" if suggestion else ""
    return (
        f"{make_marker('reply', {'for': 'unknown-command', 'word': word})}\n"
        f"Unknown command {code_span('/' + word)}.{hint} Comment `/help` for the list.\n"
    )


def _first_paragraph(markdown: str) -> str:
    for block in re.split(r"\n\s*\n", markdown):
        text = "\n".join(line for line in block.strip().splitlines() if not line.startswith("#"))
        if text.strip():
            return _clip(text.strip(), 1500)
    return ""


def render_pr_body(*, issue_number: int, version: PlanVersion, variant: str,
                   costs: Sequence[StageCost], models: Mapping[str, str],
                   implementer_summary: str | None = None) -> str:
    """The pull request description: summary, `Closes #N`, what the implementer did, split, models, cost."""
    marker = make_marker("pr", {"issue": issue_number, "version": version.number,
                                "variant": variant, "base_sha": version.base_sha})
    # A hand-written plan has no summary apart from its text, which follows folded: said once.
    summary = version.plan.summary if version.plan is not None else ""
    # The plan's author (a model or a maintainer) is named once; the other roles follow it.
    roles = ", ".join(f"{table_cell(role)} {model_span(spec)}" for role, spec in models.items() if role != "planner")
    head = (
        f"{marker}\nCloses #{issue_number}\n\n" + (f"{_clip(_defuse(summary), 3000)}\n\n" if summary else "")
        + (f"**What the implementer did:** {_clip(_defuse(implementer_summary.strip()), 4000)}\n\n"
           if implementer_summary and implementer_summary.strip() else "")
        + f"Implements plan v{version.number} by {_author(version)} (split {code_span(variant)}"
        + (f": {roles}" if roles else "") + f"), based on {_short(version.base_sha)}."
    )
    # The body is written once; `/fix` and the judge cost more later, and the scorecard
    # review keeps the running total, so this table must not pass for the final figure.
    tail = (f"Tokens and cost when this pull request was opened: {cost_line(costs)}. "
            "The review keeps the running total, with the full table.")
    room = MAX_BODY_CHARS - len(head) - len(tail) - 80
    plan = _clip(_defuse(plan_text(version)), room)
    return (
        f"{head}\n\n<details><summary>Plan v{version.number}</summary>\n\n{plan}\n\n</details>\n\n"
        f"{tail}\n"
    )
