"""A submitted plan checked against the repository it plans for and the repo's limits.

The schema (bot/core/plan.py) says a plan is well-formed; these checks say it can be
carried out: a file to modify or delete exists at the base commit, a file to create does
not, no path is denied by `.github/route-me.yml` or run by CI (`bot/core/ci_paths.py`), and
the plan stays within `max_files`.
A plan that fails them goes back to the planner like a schema error (SPEC section 5).
"""

from __future__ import annotations

from bot.core.ci_paths import ci_executed_in
from bot.core.plan import Plan
from bot.core.repo_config import RepoConfig, is_path_denied
from bot.core.snapshot import Snapshot


def plan_problems(plan: Plan, *, snapshot: Snapshot, config: RepoConfig) -> list[str]:
    """One ``- where: problem`` line per thing that makes ``plan`` impossible to carry out."""
    problems: list[str] = []
    for index, entry in enumerate(plan.files):
        where = f"files[{index}] {entry.path}"
        exists = snapshot.has_file(entry.path)
        skipped = None if exists else snapshot.skipped_reason(entry.path)
        if skipped is not None:
            problems.append(f"- {where}: the file is in the repository but not in the snapshot "
                            f"({skipped}), so the implementer cannot read or change it")
        elif entry.action in ("modify", "delete") and not exists:
            problems.append(f"- {where}: no such file at the base commit, so `{entry.action}` is"
                            " impossible (check the path with list_files, or use `create`)")
        elif entry.action == "create" and exists:
            problems.append(f"- {where}: the file already exists; use `modify`")
    executed = ci_executed_in(snapshot)
    for path in plan.planned_paths():
        denied = is_path_denied(config, path) or executed.denial(path, allowed_paths=config.allowed_paths)
        if denied:
            problems.append(f"- {path}: {denied}; the implementer may not change it")
    if len(plan.files) > config.max_files:
        problems.append(f"- files: {len(plan.files)} files, more than this repository's max_files"
                        f" ({config.max_files}); plan a smaller change")
    return problems


def limits_lines(config: RepoConfig) -> dict[str, str]:
    """The repository's limits as the planner prompt shows them."""
    return {
        "max_files": str(config.max_files),
        "max_changed_lines": str(config.max_changed_lines),
        "allowed_paths": ", ".join(f"`{p}`" for p in config.allowed_paths) or "any path",
        "denied_paths": ", ".join(f"`{p}`" for p in config.denied_paths) or "none",
    }
