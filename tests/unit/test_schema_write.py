"""``schema sql --write`` / ``schema docs --write`` write into the project the user names, or
the checkout containing the current directory; elsewhere: one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_outside_a_checkout_is_exit_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["schema", "sql", "--write"], ["schema", "docs", "--write"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "not inside an lmsdb checkout" in result.output
        assert "pass --project DIR" in result.output
    missing = runner.invoke(app, ["schema", "sql", "--write", "--project", "nope"])
    assert missing.exit_code == 2 and "no such directory" in missing.output
    assert list(tmp_path.iterdir()) == []


def test_named_project_gets_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["schema", "sql", "--write", "--project", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for committed in sorted((ROOT / "sql").rglob("*.sql")):
        written = tmp_path / committed.relative_to(ROOT)
        assert written.read_text() == committed.read_text()


def test_a_subdirectory_of_the_checkout_finds_the_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lms_db.schema.project import find_project

    monkeypatch.chdir(ROOT / "docs")
    assert find_project(None, Path.cwd()) == ROOT
