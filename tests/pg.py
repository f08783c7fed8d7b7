"""A throw-away PostgreSQL cluster for the tests: initdb into a temp dir, a loopback port, gone at exit.

initdb and postgres refuse to run as root, so under root (CI, this machine) the server runs as
the ``postgres`` system user that Debian's package creates.  A developer without the binaries
skips the PostgreSQL tests; with ``CI=true`` they fail instead, so CI can never go green by
skipping them (``.ci/run`` installs the package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One postgres server; ``new_database()`` gives each test a clean database on it."""

    def __init__(self, *, durable: bool = False) -> None:
        bindir = _bin_dir()
        if bindir is None:
            message = "PostgreSQL binaries (initdb, pg_ctl) not found; apt-get install postgresql"
            if os.environ.get("CI") == "true":
                pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
            pytest.skip(message)
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="route-me-pg-"))
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.root.chmod(0o700)
        self.data = self.root / "data"
        self.port = _free_port()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                  "--no-instructions")
        # Durability is not what the tests check, so they run without fsync; the benchmark
        # (durable=True) keeps PostgreSQL's defaults, as a production server would.
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root}"
                   " -c max_connections=300 -c shared_buffers=64MB")
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "30",
                  "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run([str(self.bindir / program), *args], user=self.user, cwd=self.root,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stdout}\n{result.stderr}")

    def new_database(self) -> str:
        """A URL whose connections see only a fresh schema: as good as a new database for the
        store, and ~1 ms to make where CREATE DATABASE takes a second on a busy machine."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}/postgres?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    shutil.rmtree(self.root)
                    break
                except OSError:
                    time.sleep(0.1)
