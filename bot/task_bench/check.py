"""Running a task's ``check``: the change applied to a temporary copy, ``hidden/`` laid over it,
the command run in a subprocess that cannot see the service's secrets or (where the machine
allows it) the network, and is killed whole when it overruns.

Isolation, in order of what the machine allows (probed once per process):

- ``unshare --net``: as root, a new network namespace with only a downed loopback, so the check
  has no network at all;
- ``unshare --map-root-user --net``: the same for an ordinary user where unprivileged user
  namespaces are enabled (most Linux distributions);
- otherwise (macOS, containers without namespaces) the check runs with the machine's network and
  the result says ``"network": "open"``; the environment is still reduced to an allow-list.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from bot.core.changes import FileChange
from bot.task_bench.tasks import Task

OUTPUT_TAIL_CHARS = 4_000
# Variables the check may see; everything else (API keys, tokens, ROUTE_ME_*, GITHUB_*) is dropped.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    exit_code: int | None  # None when killed for overrunning
    timed_out: bool
    seconds: float
    network: str  # "none" (own namespace) or "open"
    output: str  # the tail of stdout and stderr together

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@cache
def isolation_prefix() -> tuple[str, ...]:
    """The command prefix that gives the check its own empty network namespace, or () if none works."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    candidates = [(unshare, "--net")] if os.geteuid() == 0 else []
    candidates.append((unshare, "--map-root-user", "--net"))
    for prefix in candidates:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return ()


def check_environment(home: Path) -> dict[str, str]:
    """An allow-listed environment: no keys, no tokens, a private HOME and TMPDIR."""
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(HOME=str(home), TMPDIR=str(home), PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1",
               PYTHONHASHSEED="0")
    return env


def apply_changes(root: Path, changes: Sequence[FileChange]) -> None:
    """Write the implementer's change into the copy at ``root`` (paths were checked by the workspace)."""
    for change in changes:
        target = _inside(root, change.path)
        if change.new is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change.new, encoding="utf-8")


def lay_over(root: Path, files: dict[str, bytes], deleted: Sequence[str] = ()) -> None:
    """Write ``files`` over the tree at ``root`` and remove ``deleted``."""
    for path in deleted:
        _inside(root, path).unlink(missing_ok=True)
    for path, data in files.items():
        target = _inside(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _inside(root: Path, path: str) -> Path:
    target = (root / path).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"{path!r} is outside the repository")
    return target


async def run_check(task: Task, *, changes: Sequence[FileChange] = (), use_fix: bool = False,
                    isolate: bool = True) -> CheckResult:
    """Copy ``repo/``, apply ``changes`` (or the reference fix), lay ``hidden/`` over it and run
    ``check`` with the task's timeout; the copy is removed afterwards."""
    from bot.task_bench.tasks import tree_files

    with tempfile.TemporaryDirectory(prefix=f"route-me-check-{task.name}-") as scratch:
        work = Path(scratch) / "repo"
        home = Path(scratch) / "home"
        home.mkdir()
        await asyncio.to_thread(shutil.copytree, task.repo, work, symlinks=True)
        if use_fix:
            files, deleted = task.fix_files()
            lay_over(work, files, deleted)
        apply_changes(work, changes)
        lay_over(work, tree_files(task.hidden))
        return await run_command(task.check, cwd=work, env=check_environment(home), timeout=task.timeout,
                                 isolate=isolate)


async def run_command(command: str, *, cwd: Path, env: dict[str, str], timeout: float,
                      isolate: bool = True) -> CheckResult:
    """Run ``command`` with ``sh -c`` in its own process group; on timeout the whole group is killed."""
    prefix = isolation_prefix() if isolate else ()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *prefix, "/bin/sh", "-c", command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    timed_out = False
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        timed_out = True
        _kill_group(process.pid)
        try:
            output, _ = await asyncio.wait_for(process.communicate(), 5)
        except TimeoutError:  # a descendant that left the group still holds the pipe
            output = b""
    finally:
        # Children the check left behind (a server, a sleeping grandchild) die with it.
        _kill_group(process.pid)
    text = output.decode("utf-8", errors="replace")
    code = None if timed_out else process.returncode
    return CheckResult(passed=code == 0, exit_code=code, timed_out=timed_out,
                       seconds=round(time.monotonic() - started, 3), network="none" if prefix else "open",
                       output=text[-OUTPUT_TAIL_CHARS:])


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
