"""A real, tiny filesystem for store-fault tests: a tmpfs of a few MiB that fills up (ENOSPC from the
kernel, not a mocked error) and gets its space back.

Mounting needs root (CAP_SYS_ADMIN).  Without it the tests skip locally and fail under CI=true,
as the house rules ask of tests that need something from the machine.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@contextlib.contextmanager
def small_disk(path: Path, *, size_kib: int = 4096) -> Iterator[SmallDisk]:
    """Mount a ``size_kib`` tmpfs at ``path`` for the duration; skips (fails under CI) without root."""
    path.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size_kib}k,mode=0777", "tmpfs", str(path)) \
        if os.geteuid() == 0 else None
    if done is None or done.returncode != 0:
        why = done.stderr.strip() if done is not None else "not root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs for the disk-fault tests: {why}")
        pytest.skip(f"cannot mount a tmpfs ({why})")
    disk = SmallDisk(path)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> int:
        """Write until the kernel answers ENOSPC (unbuffered, so nothing is left to flush);
        returns the bytes written."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        written += os.write(fd, b"\0" * size)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
