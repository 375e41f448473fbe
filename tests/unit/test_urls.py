"""One URL rule for the topology, the command line and the catalog (issue #9)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from lms_db.errors import ConfigError, LiteralPassword
from lms_db.router.pool import catalog_ref
from lms_db.topology.spec import load_topology
from lms_db.topology.urls import database_ref, mask_url, parse_database_url
from tests.secret_scan import PLANTED_PASSWORD

runner = CliRunner()
LITERAL = f"mysql+pymysql://lms:{PLANTED_PASSWORD}@db.internal:3306/lms"


def _from_topology(tmp_path: Path, url: str) -> object:
    path = tmp_path / "t.toml"
    path.write_text(
        f'[catalog]\nurl = "sqlite:///./c.db"\n[[shards]]\nname = "a"\nprimary = "{url}"\n',
        encoding="utf-8",
    )
    return load_topology(path).shards[0].primary


PARSERS: dict[str, Callable[[Path, str], object]] = {
    "topology": _from_topology,
    "command line": lambda _tmp, url: database_ref(url, field="--primary"),
    "catalog": lambda _tmp, url: catalog_ref(url, field="catalog shards.a.primary"),
}


@pytest.mark.parametrize("source", PARSERS)
@pytest.mark.parametrize(
    "url",
    [
        LITERAL,
        f"postgresql+psycopg://lms@db.internal/lms?password={PLANTED_PASSWORD}",
        "mysql+pymysql://lms:x${PW}@db.internal/lms",
    ],
)
def test_every_source_refuses_a_literal_password_without_showing_it(
    tmp_path: Path, source: str, url: str
) -> None:
    with pytest.raises(ConfigError) as info:
        PARSERS[source](tmp_path, url)
    assert info.value.exit_code == 2
    assert "literal password" in info.value.message or "no usable password" in (info.value.message)
    assert "${VAR}" in info.value.message and "${file:" in info.value.message
    assert PLANTED_PASSWORD not in str(info.value.message)


@pytest.mark.parametrize("source", PARSERS)
def test_every_source_expands_a_variable_and_a_named_file(
    tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMS_DB_PASSWORD", PLANTED_PASSWORD)
    secret = tmp_path / "db-password"
    secret.write_text(PLANTED_PASSWORD + "\n", encoding="utf-8")
    for url in (
        "mysql+pymysql://lms:${LMS_DB_PASSWORD}@db.internal:3306/lms",
        f"mysql+pymysql://lms:${{file:{secret}}}@db.internal:3306/lms",
    ):
        ref = PARSERS[source](tmp_path, url)
        assert ref.url.password == PLANTED_PASSWORD  # type: ignore[attr-defined]
        assert ref.template == url  # type: ignore[attr-defined]
        assert PLANTED_PASSWORD not in ref.display + repr(ref)  # type: ignore[attr-defined]


def test_a_missing_password_file_is_named_not_read(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=f"--url: cannot read the password file {missing}"):
        parse_database_url(f"mysql+pymysql://u:${{file:{missing}}}@h/db", field="--url")


def test_query_passwords_are_masked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPW", PLANTED_PASSWORD)
    ref = parse_database_url("postgresql+psycopg://lms@h/db?password=${PGPW}", field="--url")
    assert ref.url.query["password"] == PLANTED_PASSWORD
    assert PLANTED_PASSWORD not in ref.display and "password=***" in ref.display
    assert PLANTED_PASSWORD not in mask_url(ref.url)


def test_a_stored_literal_says_how_to_fix_it() -> None:
    with pytest.raises(LiteralPassword, match="lmsdb shard set NAME --primary"):
        catalog_ref("mysql+pymysql://u:***@h/db", field="catalog shards.a.primary")


def test_relative_sqlite_on_the_command_line_is_stored_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ref = database_ref("sqlite:///./shard.db", field="--primary")
    assert ref.template == f"sqlite:///{tmp_path / 'shard.db'}"


@pytest.mark.parametrize(
    "args",
    [
        ["views", "refresh", "--url", LITERAL],
        ["--topology", "x.toml", "shard", "add", "s9", "--primary", LITERAL],
        ["--topology", "x.toml", "shard", "set", "s9", "--primary", LITERAL],
    ],
)
def test_cli_refuses_a_literal_password_in_one_line(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.toml").write_text(
        '[catalog]\nurl = "sqlite:///./c.db"\n[[shards]]\n'
        'name = "a"\nprimary = "sqlite:///./a.db"\n'
    )
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "literal password" in lines[0], result.stderr
    assert "${LMS_DB_PASSWORD}" in lines[0]


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_connect_timeout_must_be_positive(value: str) -> None:
    result = runner.invoke(app, ["--connect-timeout", value, "shard", "list"])
    assert result.exit_code == 2, result.output
    assert "--connect-timeout" in result.stderr and "positive number of seconds" in (result.stderr)


def test_connect_timeout_from_the_environment_is_checked() -> None:
    result = runner.invoke(app, ["shard", "list"], env={"LMSDB_CONNECT_TIMEOUT": "-3"})
    assert result.exit_code == 2 and "LMSDB_CONNECT_TIMEOUT" in result.stderr
