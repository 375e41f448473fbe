"""Which project ``schema sql --write`` and ``schema docs --write`` write into.

Generated files (``sql/<dialect>/*.sql``, ``docs/schema.md``) belong to a checkout of the
schema, never to the installed package: the user names the project, or lmsdb finds the
checkout that contains the current directory.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from lms_db.errors import InputError

PROJECT_NAME = "lmsdb"


def is_checkout(path: Path) -> bool:
    """``path`` holds an lmsdb checkout: a pyproject.toml naming lmsdb, and lms_db/ beside it."""
    pyproject = path / "pyproject.toml"
    if not pyproject.is_file() or not (path / "lms_db").is_dir():
        return False
    try:
        name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return bool(name == PROJECT_NAME)


def find_project(explicit: Path | None, cwd: Path) -> Path:
    """The project directory to write generated files into.

    :param explicit: the directory the user named (``--project``); it must exist.
    :param cwd: where to start looking for a checkout when none is named.
    :raises InputError: the named directory does not exist, or no checkout contains ``cwd``.
    """
    if explicit is not None:
        if not explicit.is_dir():
            raise InputError(f"--project {explicit}: no such directory")
        return explicit.resolve()
    for candidate in (cwd.resolve(), *cwd.resolve().parents):
        if is_checkout(candidate):
            return candidate
    raise InputError(
        f"{cwd} is not inside an lmsdb checkout: run this from one, or pass --project DIR"
    )
