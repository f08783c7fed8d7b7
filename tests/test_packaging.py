"""A regular (non-editable) install must be a working app: the wheel carries every prompt.

The wheel is built offline from a copy of the sources (no build isolation, no index), installed
with ``--no-deps`` into a directory of its own, and imported from there by a fresh interpreter
whose working directory holds no ``prompts/``; the dependencies come from this test's own
environment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bot.prompts import EXPECTED

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "bot", "prompts")


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--wheel-dir", str(out)], check=True, capture_output=True)
    (wheel,) = out.glob("route_me-*.whl")
    return wheel


def test_the_installed_wheel_loads_every_prompt(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    shipped = {Path(n).stem for n in zipfile.ZipFile(wheel).namelist() if n.startswith("bot/_prompts/")}
    assert shipped == set(EXPECTED)

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    probe = (
        "import bot, bot.prompts as p, bot.stages.runtime; "
        "prompts = p.load_prompts(); "
        "print(bot.__file__); print(p.default_prompt_dir()); print(len(prompts.templates))"
    )
    # The dependencies from this environment, after the installed copy (a PYTHONPATH entry's
    # .pth files are not read, so this checkout's editable hook stays out).
    deps = [p for p in sys.path if p.endswith("site-packages")]
    env = {"PYTHONPATH": ":".join([str(target), *deps]), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    module, directory, count = done.stdout.split()
    # The installed copy answered, not this checkout (whose prompts/ would hide the bug).
    assert Path(module).is_relative_to(target), module
    assert Path(directory) == target / "bot" / "_prompts"
    assert int(count) == len(EXPECTED)
