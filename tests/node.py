"""Node.js for the bench's JavaScript tasks: skipped where it is missing, except in CI (.ci/run installs it)."""

from __future__ import annotations

import os
import shutil

import pytest


def needs_node() -> None:
    if shutil.which("node") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("node is missing: .ci/run installs it (apt-get install nodejs)")
    pytest.skip("node is not installed; the JavaScript tasks need it")
