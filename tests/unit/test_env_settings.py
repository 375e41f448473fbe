"""The environment variables --help advertises are read, by lms_db.config alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from lms_db.config import DEFAULT_CONNECT_TIMEOUT, resolve_settings, url_from_env
from lms_db.errors import ConfigError
from lms_db.schema.ddl import create_schema

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_connect_timeout_comes_from_the_flag_then_the_environment_then_the_default() -> None:
    env = {"LMSDB_CONNECT_TIMEOUT": "2.5"}
    assert resolve_settings(environ=env).connect_timeout == 2.5
    assert resolve_settings(connect_timeout=9.0, environ=env).connect_timeout == 9.0
    assert resolve_settings(environ={}).connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert resolve_settings(environ={"LMSDB_CONNECT_TIMEOUT": " "}).connect_timeout == 5.0


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_connect_timeout_is_one_line_and_exit_2(value: str) -> None:
    with pytest.raises(ConfigError, match="LMSDB_CONNECT_TIMEOUT"):
        resolve_settings(environ={"LMSDB_CONNECT_TIMEOUT": value})
    result = runner.invoke(app, ["shard", "list"], env={"LMSDB_CONNECT_TIMEOUT": value})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: LMSDB_CONNECT_TIMEOUT={value!r}: give a positive number of seconds, e.g. 5"
    ]


def test_views_refresh_takes_its_url_from_lmsdb_url(tmp_path: Path) -> None:
    db = tmp_path / "shard.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
    assert url_from_env({"LMSDB_URL": f"sqlite:///{db}"}) == f"sqlite:///{db}"
    assert url_from_env({}) is None
    result = runner.invoke(
        app,
        ["views", "refresh", "--json"],
        env={"LMSDB_URL": f"sqlite:///{db}", "LMSDB_TOPOLOGY": ""},
    )
    assert result.exit_code == 0, result.output
    [refreshed] = json.loads(result.output)
    assert refreshed["shard"] == "--url" and refreshed["rows"] == 0
    bad = runner.invoke(app, ["views", "refresh"], env={"LMSDB_URL": "nonsense://x"})
    assert bad.exit_code == 2 and "LMSDB_URL" in bad.output


def test_only_config_reads_the_environment() -> None:
    import ast

    readers = set()
    os_names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    for path in sorted((ROOT / "lms_db").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            reads = (
                isinstance(node, ast.Attribute)
                and node.attr in os_names
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(a.name in os_names for a in node.names)
            )
            if reads:
                readers.add(str(path.relative_to(ROOT)))
    assert readers == {"lms_db/config.py"}
