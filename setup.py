"""Ships ``prompts/`` inside the wheel as ``bot/_prompts`` (pyproject.toml holds everything else).

The prompts stay at the repository root, where maintainers edit them; package data cannot
reach outside the package directory, so the build copies them in.  ``bot.prompts`` looks
there when no ``prompts/`` sits beside the package (a regular, non-editable install).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithPrompts(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "bot" / "_prompts"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((ROOT / "prompts").glob("*.md")):
            self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithPrompts})
