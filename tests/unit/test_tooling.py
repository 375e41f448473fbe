"""The project's own code rules: ruff (with the layer bans) and mypy --strict stay clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(
    shutil.which("ruff") is None and bool(_run("ruff", "--version").returncode),
    reason="ruff not installed",
)
def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy", "lms_db", "lmsdb_cli", "cli.py")
    assert result.returncode == 0, result.stdout + result.stderr
