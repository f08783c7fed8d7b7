"""The scorecard review's Markdown: judge scores, measured facts and per-stage cost."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from bot.core.ci import PENDING
from bot.core.facts import Facts
from bot.core.money import costs_table
from bot.core.render import MAX_BODY_CHARS, _clip
from bot.core.render_ci import CIView, ci_verdict, rounds_lines
from bot.core.scorecard import DIMENSIONS, Scorecard, overall
from bot.core.usage import StageCost

RATIONALE_MAX = 140
# GitHub refuses a review body over 65,536 characters; the lists and model texts are capped
# so that seven folded rationales, a summary and every fact list fit with room to spare.
MAX_LISTED = 25
FOLDED_MAX = 3_000
SUMMARY_MAX = 4_000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")
_SYNTAX_ICON = {"ok": "✅", "error": "❌"}
_CI_ICON = {"success": "✅", "failure": "❌", "timed_out": "❌", "startup_failure": "❌",
            "cancelled": "⚠️", "action_required": "⚠️", "stale": "⚠️"}


def _text(text: str) -> str:
    """Model-written text made inert: no HTML (so no fake markers) and no @-mentions."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@\u200b", text)


def _cell(text: str) -> str:
    return _text(" ".join(text.split())).replace("|", "\\|")


def _code(path: str) -> str:
    return "`" + path.replace("`", "'") + "`"


def _listed(items: Sequence[str], separator: str = ", ") -> str:
    """Up to MAX_LISTED items and how many more: a 3,000-file change must still fit one review."""
    shown = separator.join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED:,} more" if len(items) > MAX_LISTED else "")


def _codes(paths: Sequence[str]) -> str:
    return _listed([_code(p) for p in paths])


def _folded(text: str) -> str:
    """Model text shown in full below the table, but never more than a review can hold."""
    text = _text(text.strip())
    return text if len(text) <= FOLDED_MAX else text[:FOLDED_MAX].rstrip() + " … _(cut)_"


def _short(rationale: str) -> tuple[str, bool]:
    """The table's one line, and whether the full text must be folded in below."""
    flat = " ".join(rationale.split())
    if len(flat) <= RATIONALE_MAX:
        return flat, False
    first = _SENTENCE_END.split(flat, maxsplit=1)[0]
    if len(first) > RATIONALE_MAX:
        first = first[: RATIONALE_MAX - 1].rstrip() + "…"
    return first, True


def _title(scorecard: Scorecard | None) -> str:
    score = overall(scorecard) if scorecard else None
    if scorecard is None or score is None:
        return "## route-me scorecard: not scored"
    scored, total = len(scorecard.scores), len(DIMENSIONS)
    partial = "" if scored == total else f" ({scored} of {total} dimensions scored)"
    return f"## route-me scorecard: {score:.1f}/5{partial}"


def _score_lines(scorecard: Scorecard | None, judge_error: str | None) -> Iterator[str]:
    if judge_error:
        yield (f"> ⚠️ The judge did not return a complete, valid scorecard: {_cell(judge_error)}. "
               "Dimensions without a valid score are shown as *not scored*; none were filled in.")
        yield ""
    yield "| Dimension | Score | Rationale |"
    yield "|---|:-:|---|"
    folded: list[tuple[str, str]] = []
    for dimension in DIMENSIONS:
        entry = scorecard.scores.get(dimension.id) if scorecard else None
        if entry is None:
            reason = ("the judge gave no valid score for this dimension" if scorecard
                      else "the judge did not produce a scorecard")
            yield f"| {dimension.title} | not scored | _{reason}_ |"
            continue
        line, long = _short(entry.rationale)
        if long:
            folded.append((dimension.title, entry.rationale))
            line += " _(full text below)_"
        yield f"| {dimension.title} | {entry.score}/5 | {_cell(line)} |"
    yield ""
    if scorecard and scorecard.scores:
        scored, unscored = len(scorecard.scores), len(scorecard.missing)
        basis = ("the mean of all seven dimension scores" if not unscored
                 else f"the mean of the {scored} scored dimensions; {unscored} not scored")
        yield f"**Overall: {overall(scorecard):.1f}/5**, {basis}."
        yield ""
    if scorecard and scorecard.summary:
        # One paragraph: the judge's text must not add headings or tables of its own.
        summary = _text(" ".join(scorecard.summary.split()))
        if len(summary) > SUMMARY_MAX:
            summary = summary[:SUMMARY_MAX].rstrip() + " … _(cut)_"
        yield f"**Judge's summary:** {summary}"
        yield ""
    for title, rationale in folded:
        yield f"<details><summary>{title}: full rationale</summary>"
        yield ""
        yield _folded(rationale)
        yield ""
        yield "</details>"
        yield ""


def _fact_lines(facts: Facts) -> Iterator[str]:
    yield "### Measured facts"
    yield ""
    if facts.files_planned:
        yield f"- **Files:** {len(facts.files_planned)} planned, {len(facts.files_touched)} touched"
    else:
        yield (f"- **Files:** {len(facts.files_touched)} touched; the plan lists no files, "
               "so none can be called outside it")
    if facts.outside_plan:
        yield f"- ⚠️ **Touched outside the plan:** {_codes(facts.outside_plan)}"
    if facts.planned_not_touched:
        yield f"- ⚠️ **Planned but not touched:** {_codes(facts.planned_not_touched)}"
    yield f"- **Lines:** +{facts.lines_added} / −{facts.lines_removed}"
    if facts.syntax:
        # Files that failed first: they are the ones a reader needs when the list is cut.
        ordered = sorted(facts.syntax.items(), key=lambda item: (item[1] == "ok", item[0]))
        checks = [f"{_code(path)} {_SYNTAX_ICON.get(status, '➖')} {_cell(status)}" for path, status in ordered]
        yield f"- **Syntax:** {_listed(checks, ' · ')}"
    if facts.tests_changed:
        yield f"- **Tests added or changed:** {_codes(facts.tests_changed)}"
    else:
        yield "- ⚠️ **No test changes**"
    if facts.unknown_imports:
        found = _listed([f"{_code(module)} in {_code(path)}" for path, module in facts.unknown_imports])
        yield f"- ⚠️ **Possibly invented dependencies** (not stdlib, not in the repo, not declared): {found}"
    else:
        yield "- **Dependencies:** every new import is stdlib, local or declared"
    if facts.secrets:
        found = _listed([
            f"{_cell(hit.kind)} at {_code(f'{hit.path}:{hit.line}')} ({_code(hit.preview)})" for hit in facts.secrets
        ])
        yield f"- ⚠️ **Secret-looking strings in added lines:** {found}"
    else:
        yield "- **Secrets:** none found in added lines"
    yield f"- **CI:** {_ci_line(facts)}"
    yield ""


def _ci_icon(outcome: str) -> str:
    return "⏳" if outcome in PENDING else _CI_ICON.get(outcome, "ℹ️")


def _ci_line(facts: Facts) -> str:
    # Nothing reported is not "running": a repository may have no CI at all.
    if facts.ci is None:
        return "no checks reported yet"
    overall = "in progress" if facts.ci in PENDING else facts.ci
    line = f"{_ci_icon(facts.ci)} {_cell(overall)}"
    if len(facts.ci_suites) > 1 or (facts.ci_suites and facts.ci_suites[0][1] != facts.ci):
        line += " (" + " · ".join(f"{_cell(app)}: {_ci_icon(outcome)} {_cell(outcome)}"
                                  for app, outcome in facts.ci_suites) + ")"
    elif facts.ci_suites:
        line += f" ({_cell(facts.ci_suites[0][0])})"
    return line


def _cost_lines(costs: Sequence[StageCost], models: Mapping[str, str]) -> Iterator[str]:
    yield "### Cost"
    yield ""
    yield costs_table(costs, configured=models, always_compare=True)


def render_review(
    *,
    scorecard: Scorecard | None,
    facts: Facts,
    costs: Sequence[StageCost],
    models: Mapping[str, str],
    marker: str,
    judge_error: str | None = None,
    fallback_note: str | None = None,
    ci_view: CIView | None = None,
) -> str:
    """The body of the COMMENT review; re-rendered with ``facts.ci`` set when CI completes.

    With ``ci_view``, the first line is the verdict (CI first, then the score) and the fix
    rounds follow the facts.
    """
    lines = [marker]
    if ci_view is not None:
        lines += [ci_verdict(ci_view, score=overall(scorecard) if scorecard else None), ""]
    lines += [_title(scorecard), ""]
    if fallback_note:
        lines += [f"> ℹ️ {_cell(fallback_note)}", ""]
    lines += _score_lines(scorecard, judge_error)
    lines += _fact_lines(facts)
    if ci_view is not None:
        lines += rounds_lines(ci_view)
    tail = "\n".join([*_cost_lines(costs, models), "",
                      "<sub>Scores are the judge model's opinion; facts and costs are measured by route-me.</sub>"])
    front = "\n".join(lines)
    room = MAX_BODY_CHARS - len(tail) - 2
    if len(front) > room:
        # Only pathological input gets here (thousands of long paths); the costs stay whole.
        front = _clip(front, room)
    return f"{front}\n{tail}\n"
