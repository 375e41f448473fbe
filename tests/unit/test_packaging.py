"""The wheel: two packages (lms_db, lmsdb_cli), the migrations inside lms_db, no top-level
``cli`` or ``migrations`` module; installed, it finds its migrations and never writes
generated files into site-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "cli.py", "lms_db", "lmsdb_cli", "migrations")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the checkout (the worktree gets no build/ directory)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("lmsdb-*.whl")
    return built


def test_wheel_ships_two_packages_and_the_migrations_inside_lms_db(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"lms_db", "lmsdb_cli"}, top  # no cli.py, no migrations/
    assert "lms_db/migrations/oltp/env.py" in names
    assert "lms_db/migrations/oltp/script.py.mako" in names
    assert "lms_db/migrations/oltp/versions/20250601_0001_initial_schema.py" in names
    assert "lms_db/migrations/analytics/versions/a001_user_events/postgresql.sql" in names
    assert "lmsdb_cli/app.py" in names and "lms_db/py.typed" in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "lmsdb = lmsdb_cli.app:main" in text


def test_installed_wheel_finds_its_migrations_and_refuses_to_write_into_itself(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lms_db.migrate.scripts import migrations_root as m; "
            "import lms_db; print(m()); print(lms_db.__file__)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found[0] == str(target / "lms_db" / "migrations")
    assert found[1] == str(target / "lms_db" / "__init__.py")  # the wheel, not the checkout
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lmsdb_cli.app import main; main()",
            "schema",
            "sql",
            "--write",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "not inside an lmsdb checkout" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (target / "sql").exists() and not (target / "lms_db" / "sql").exists()
    project = tmp_path / "project"
    project.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lmsdb_cli.app import main; main()",
            "schema",
            "docs",
            "--write",
            "--project",
            str(project),
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (project / "docs" / "schema.md").read_text() == (ROOT / "docs" / "schema.md").read_text()
