"""The CLI through typer's CliRunner: help texts, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli import app
from lms_db.ddl import render_schema

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            out.extend(_commands(command, path))
        else:
            out.append(path)
    return out


ALL_COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


def test_root_help_lists_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("schema", "views"):
        assert group in result.output


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help_with_example(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


def test_schema_sql_prints_committed_ddl() -> None:
    result = runner.invoke(app, ["schema", "sql", "--dialect", "sqlite"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == render_schema("sqlite")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["schema", "sql", "--dialect", "oracle"], "unknown dialect 'oracle'"),
        (["schema", "sql", "--target", "olap"], "unknown target 'olap'"),
        (["schema", "sql", "--dialect", "postgresql", "--partition", "users"], "--partition"),
        (["views", "refresh", "--url", "nonsense"], "--url: bad database URL"),
        (["views", "refresh", "--url", "mysql+pymysql://root:sekrit@127.0.0.1:1/x"],
         "cannot connect to mysql+pymysql://root:***@127.0.0.1:1/x"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output and "sekrit" not in result.output + result.stderr


def test_views_refresh_on_sqlite(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from lms_db.ddl import create_schema

    url = f"sqlite:///{tmp_path / 'shard.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
    result = runner.invoke(app, ["views", "refresh", "--url", url, "--json"],
                           catch_exceptions=False)
    assert result.exit_code == 0
    assert '"rows": 0' in result.stdout
