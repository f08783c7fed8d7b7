"""``route-me bench``: the four splits side by side on a team's own issues, with real models.

For each issue and split the real stages run (planner → implementer → judge) against the
repository's default-branch snapshot, but nothing is posted, pushed or opened: the change
stays in memory.  The ledger records every call (stage ``bench:<split>:<stage>``, no
issue), so the table shows what each split really cost and what the judge scored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.core.changes import FileChange
from bot.core.diff import line_stats
from bot.core.plan import REASONING_SUFFIX, PlanVersion
from bot.core.scorecard import Scorecard, overall
from bot.models.errors import ModelError
from bot.models.ledger import CallContext
from bot.services import Services
from bot.stages.context import IssueContext
from bot.stages.errors import StageFailed
from bot.stages.implement import make_workspace, run_implementer
from bot.stages.plan import call_planner
from bot.stages.score import judge_change
from bot.stages.state import IssueState

SPLITS = ("OO", "OK", "KO", "KK")
STAGES = ("plan", "implement", "judge")
TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


@dataclass
class BenchContext(IssueContext):
    """An issue context that never writes to GitHub or the issue's state."""

    split: str = "OK"

    def call_context(self, stage: str) -> CallContext:
        return CallContext(installation_id=self.installation_id, repo=self.repo, issue=None,
                           stage=f"bench:{self.split}:{stage}")

    def save_state(self) -> bool:
        """Bench runs keep their state in memory only (nothing can cancel them)."""
        return True

    async def show_on_plan_comment(self, body: str) -> int:
        return 0


@dataclass
class SplitResult:
    issue: int
    split: str
    models: dict[str, str] = field(default_factory=dict)
    usd: dict[str, float | None] = field(default_factory=dict)
    total_usd: float | None = None
    overall: float | None = None
    scores: dict[str, int] = field(default_factory=dict)
    files_changed: int = 0
    lines: tuple[int, int] = (0, 0)
    tests_changed: int = 0
    unknown_imports: int = 0
    seconds: float = 0.0
    error: str | None = None


async def find_installation(services: Services, owner: str, name: str) -> int:
    answer = await services.github().getitem(f"/repos/{owner}/{name}/installation",
                                             jwt=services.tokens.app_jwt())
    return int(answer["id"])


def stage_figures(services: Services, ctx: IssueContext) -> dict[str, dict[str, Any]]:
    """Per stage of one run, from the ledger rows its calls wrote (failed attempts included):
    calls, tokens, dollars (None when a price is unknown) and the models that served."""
    figures: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        where = ctx.call_context(stage)
        rows = [r for r in services.store.ledger_rows(repo=where.repo, issue=where.issue)
                if r["stage"] == where.stage]
        tokens = {key: sum(int(r["usage"].get(key, 0)) for r in rows) for key in TOKEN_KINDS}
        usd = None if any(r["cost_usd"] is None for r in rows) else sum(r["cost_usd"] for r in rows)
        seconds = round(sum(int(r.get("latency_ms") or 0) for r in rows) / 1000, 3)
        figures[stage] = {"calls": len(rows), **tokens, "usd": usd, "model_seconds": seconds,
                          "models": list(dict.fromkeys(r["model"] for r in rows if r["outcome"] == "ok"))}
    return figures


async def bench_issue(services: Services, *, owner: str, name: str, number: int, installation_id: int,
                      splits: Sequence[str] = SPLITS) -> list[SplitResult]:
    """Run every split on one issue; a split that fails is reported, the others still run."""
    gh = services.installation_client(installation_id)
    repository = await gh.getitem(f"/repos/{owner}/{name}")
    issue = await gh.getitem(f"/repos/{owner}/{name}/issues/{number}")
    results = []
    head: str | None = None  # the first split resolves the branch; the others reuse that commit
    for split in splits:
        ctx = BenchContext(services=services, gh=gh, owner=owner, name=name, number=number,
                           installation_id=installation_id, default_branch=repository["default_branch"],
                           issue_title=issue.get("title") or "", issue_body=issue.get("body") or "",
                           split=split)
        ctx.state = IssueState(repo=ctx.repo, number=number, variant=split)
        await ctx.load_config()
        run = await run_cell(ctx, split, head or ctx.default_branch)
        head = run.sha
        results.append(run.result)
    return results


@dataclass
class CellRun:
    """One split run on one issue or task: the table row, plus what the local bench needs."""

    result: SplitResult
    sha: str | None
    changes: list[FileChange] | None = None  # None when the implementer did not finish
    scorecard: Scorecard | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    error_kind: str | None = None  # "model" (provider failure: worth retrying) or "stage"


async def run_cell(ctx: BenchContext, split: str, ref: str) -> CellRun:
    """Plan → implement → judge for one split, posting nothing: the one code path of both bench
    modes (GitHub issues, and local tasks whose context serves the snapshot from disk)."""
    result = SplitResult(issue=ctx.number, split=split)
    run = CellRun(result=result, sha=None)
    started = time.monotonic()
    try:
        snapshot = await ctx.snapshot(ref)
        run.sha = snapshot.sha
        models = ctx.models()
        plan, planner, _ = await call_planner(ctx, models, snapshot, feedback=None, previous=None)
        result.models["plan"] = planner.partition(REASONING_SUFFIX)[0]  # the spec; its reasoning is in the ledger
        version = PlanVersion(number=1, plan=plan, markdown=None, author=f"planner:{planner}",
                              base_sha=snapshot.sha, created_at=time.time())
        models = ctx.models(planned_paths=plan.planned_paths())
        implementation = await run_implementer(ctx, version=version, models=models,
                                               workspace=make_workspace(ctx, snapshot), stage="implement",
                                               extra="")
        result.models["implement"] = implementation.served.partition(REASONING_SUFFIX)[0]
        run.changes = implementation.changes
        result.files_changed = len(implementation.changes)
        result.lines = line_stats(implementation.changes)
        judged = await judge_change(ctx, version=version, changes=implementation.changes, pr_number=None)
        result.models["judge"] = judged.served.partition(REASONING_SUFFIX)[0]
        if judged.scorecard is not None:
            run.scorecard = judged.scorecard
            result.overall = overall(judged.scorecard)
            result.scores = {d: s.score for d, s in judged.scorecard.scores.items()}
        result.tests_changed = len(judged.facts.tests_changed)
        result.unknown_imports = len(judged.facts.unknown_imports)
    except ModelError as exc:
        result.error, run.error_kind = f"{type(exc).__name__}: {exc}", "model"
    except StageFailed as exc:
        result.error, run.error_kind = f"{type(exc).__name__}: {exc}", "stage"
    result.seconds = round(time.monotonic() - started, 1)
    run.stages = stage_figures(ctx.services, ctx)
    result.usd = {stage: figures["usd"] for stage, figures in run.stages.items()}
    known = list(result.usd.values())
    result.total_usd = None if any(v is None for v in known) else sum(v or 0.0 for v in known)
    return run


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def render_table(results: Sequence[SplitResult]) -> str:
    """A plain-text table per issue; "vs OO" compares each split's total with the OO run."""
    lines = []
    for number in dict.fromkeys(r.issue for r in results):
        rows = [r for r in results if r.issue == number]
        oo = next((r.total_usd for r in rows if r.split == "OO"), None)
        lines.append(f"Issue #{number}")
        lines.append(f"  {'split':<6}{'plan':>10}{'implement':>11}{'judge':>10}{'total':>10}{'vs OO':>7}"
                     f"{'score':>7}{'files':>6}{'+/-':>10}{'tests':>6}  note")
        for r in rows:
            ratio = f"{r.total_usd / oo:.2f}" if oo and r.total_usd is not None else "-"
            score = f"{r.overall:.1f}" if r.overall is not None else "-"
            note = r.error or " / ".join(r.models.get(s, "?") for s in STAGES)
            lines.append(
                f"  {r.split:<6}{_usd(r.usd.get('plan')):>10}{_usd(r.usd.get('implement')):>11}"
                f"{_usd(r.usd.get('judge')):>10}{_usd(r.total_usd):>10}{ratio:>7}{score:>7}"
                f"{r.files_changed:>6}{f'+{r.lines[0]}/-{r.lines[1]}':>10}{r.tests_changed:>6}  {note}"
            )
        lines.append("")
    return "\n".join(lines)


def to_json(results: Sequence[SplitResult]) -> str:
    return json.dumps({"runs": [asdict(r) for r in results], "by_split": summary_dict(results)}, indent=2)


def parse_splits(text: str) -> list[str]:
    splits = [s.strip().upper() for s in text.split(",") if s.strip()]
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise ValueError(f"splits must be from {', '.join(SPLITS)}; got {text!r}")
    return splits


def summary_dict(results: Sequence[SplitResult]) -> dict[str, Any]:
    """Mean total dollars and score per split over all issues (for the JSON report)."""
    out: dict[str, Any] = {}
    for split in dict.fromkeys(r.split for r in results):
        rows = [r for r in results if r.split == split and r.error is None]
        costs = [r.total_usd for r in rows if r.total_usd is not None]
        scores = [r.overall for r in rows if r.overall is not None]
        out[split] = {"runs": len(rows), "mean_usd": sum(costs) / len(costs) if costs else None,
                      "mean_score": sum(scores) / len(scores) if scores else None}
    return out
