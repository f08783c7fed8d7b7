"""The one place where per-concern routers are combined, plus the hooks the app calls around them."""

from __future__ import annotations

import gidgethub.routing

from bot.handlers import checks, comments, issues, pulls
from bot.handlers.common import (
    lock_key_for,
    report_abandoned,
    report_failed_job,
    runs_unlocked,
    setup,
    teardown,
)

router = gidgethub.routing.Router(issues.router, comments.router, checks.router, pulls.router)

__all__ = ["router", "setup", "teardown", "report_abandoned", "report_failed_job", "runs_unlocked", "lock_key_for"]
