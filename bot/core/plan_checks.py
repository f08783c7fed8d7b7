"""A submitted plan checked against the repository it plans for and the repo's limits.

The schema (bot/core/plan.py) says a plan is well-formed; these checks say it can be
carried out: a file to modify or delete exists at the base commit, a file to create does
not, no path is denied by `.github/route-me.yml`, and the plan stays within `max_files`.
A plan that fails them goes back to the planner like a schema error (SPEC section 5).
"""

from __future__ import annotations

from bot.core.plan import Plan
from bot.core.repo_config import RepoConfig, is_path_denied
from bot.core.snapshot import Snapshot


def plan_problems(plan: Plan, *, snapshot: Snapshot, config: RepoConfig) -> list[str]:
    """One ``- where: problem`` line per thing that makes ``plan`` impossible to carry out."""
    problems: list[str] = []
    for index, entry in enumerate(plan.files):
        where = f"files[{index}] {entry.path}"
        exists = snapshot.has_file(entry.path)
        if entry.action in ("modify", "delete") and not exists:
            problems.append(f"- {where}: no such file at the base commit, so `{entry.action}` is"
                            " impossible (check the path with list_files, or use `create`)")
        elif entry.action == "create" and exists:
            problems.append(f"- {where}: the file already exists; use `modify`")
    for path in plan.planned_paths():
        denied = is_path_denied(config, path)
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
