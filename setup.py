"""Build step: ship the repository's migrations/ inside the lms_db package.

Everything else is in pyproject.toml.  The Alembic environments stay a top-level folder of the
repository; a wheel carries them as lms_db/migrations/ so no top-level ``migrations`` package
is installed (it would clash with other projects' ``migrations``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithMigrations(build_py):  # type: ignore[misc]  # setuptools is untyped
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's migrations/ in place
        target = Path(self.build_lib) / "lms_db" / "migrations"
        shutil.copytree(
            HERE / "migrations",
            target,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )


setup(cmdclass={"build_py": BuildPyWithMigrations})
