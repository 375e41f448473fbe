"""The password scan that follows every CLI command of the suite can fail (issue #9)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.secret_scan import PLANTED_PASSWORD, assert_no_secret_leaked


def _fleet(tmp_path: Path, row: str) -> Path:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE journal (payload TEXT)")
        conn.execute(sa.text("INSERT INTO journal VALUES (:p)"), {"p": row})
    engine.dispose()
    path = tmp_path / "t.toml"
    path.write_text(
        '[catalog]\nurl = "sqlite:///./catalog.db"\n[[shards]]\nname = "a"\n'
        'primary = "sqlite:///./a.db"\n'
    )
    return path


def test_a_password_in_any_catalog_table_fails_the_command(tmp_path: Path) -> None:
    path = _fleet(tmp_path, f'{{"primary": "mysql://u:{PLANTED_PASSWORD}@h/db"}}')
    ok = SimpleNamespace(stdout="", stderr="")
    with pytest.raises(AssertionError, match="catalog table journal holds a password"):
        assert_no_secret_leaked(["--topology", str(path), "shard", "list"], None, ok)


def test_a_printed_password_fails_the_command(tmp_path: Path) -> None:
    path = _fleet(tmp_path, "nothing secret")
    shown = SimpleNamespace(stdout=f"url: mysql://u:{PLANTED_PASSWORD}@h/db", stderr="")
    with pytest.raises(AssertionError, match="a password was printed"):
        assert_no_secret_leaked(["-t", str(path)], None, shown)
    assert_no_secret_leaked(["-t", str(path)], None, SimpleNamespace(stdout="", stderr=""))


def test_the_scan_follows_every_cli_runner_invoke() -> None:
    assert CliRunner.invoke.__qualname__.endswith("no_password_leaks.<locals>.invoke")
