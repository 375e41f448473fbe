"""``lmsdb schema lint --dev-url``: the real MariaDB and PostgreSQL servers judge the DDL
in a scratch database that is always dropped, and no other database is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.errors import ConnectionFailed, InputError
from lms_db.lint import verify_on_server

REPO_ROOT = Path(__file__).parents[2]
REALWORLD = REPO_ROOT.parent / "shared" / "lint-oracle" / "realworld"

BAD_MYSQL = """CREATE TABLE p (id INT PRIMARY KEY);
-- the child's column is BIGINT: errno 150
CREATE TABLE c (x BIGINT,
  FOREIGN KEY (x) REFERENCES p (id));
USE mysql;
CREATE TABLE mysql.lint_must_not_exist (a INT);
INSERT INTO p SELECT 1 FROM mysql.user LIMIT 1;
CREATE VIEW v AS SELECT p.id FROM p;
"""


def _server_root(url: URL) -> str:
    return url.set(database="").render_as_string(hide_password=False).rstrip("/") + "/"


def _lint_databases(url: URL) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SHOW DATABASES LIKE 'lmsdb\\_lint\\_%%'").fetchall()
    finally:
        engine.dispose()
    return {r[0] for r in rows}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), "schema", "lint", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.mariadb
def test_server_errors_are_findings_at_file_and_line(
    tmp_path: Path, mariadb_server_url: URL
) -> None:
    path = tmp_path / "bad.sql"
    path.write_text(BAD_MYSQL)
    before = _lint_databases(mariadb_server_url)
    findings = verify_on_server([path], _server_root(mariadb_server_url))
    got = [(f.rule, f.severity, f.location.rsplit(":", 1)[1]) for f in findings]
    assert got == [
        ("LMS901", "error", "3"),
        ("LMS902", "warning", "5"),
        ("LMS902", "warning", "6"),
        ("LMS902", "warning", "7"),
    ]
    assert "errno: 150" in findings[0].message
    assert _lint_databases(mariadb_server_url) == before  # the scratch database is gone
    with (
        pymysql.connect(
            host=mariadb_server_url.host,
            port=mariadb_server_url.port or 3306,
            user=mariadb_server_url.username or "root",
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SHOW TABLES FROM mysql LIKE 'lint_must_not_exist'")
        assert cur.fetchall() == ()


@pytest.mark.mariadb
def test_realworld_schemas_apply_cleanly(mariadb_server_url: URL) -> None:
    if not REALWORLD.is_dir():
        pytest.skip(f"{REALWORLD} not present")
    assert verify_on_server([REALWORLD], _server_root(mariadb_server_url)) == []


@pytest.mark.mariadb
def test_cli_exit_codes_and_masked_password(tmp_path: Path, mariadb_server_url: URL) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text(BAD_MYSQL)
    good = tmp_path / "good.sql"
    good.write_text("CREATE TABLE t (id INT PRIMARY KEY);\n")
    root = _server_root(mariadb_server_url)
    assert _cli(str(good), "--dev-url", root).returncode == 0
    failed = _cli(str(bad), "--dev-url", root, "--json")
    assert failed.returncode == 1 and '"LMS901"' in failed.stdout
    unreachable = _cli(str(good), "--dev-url", "mysql+pymysql://root:s3cret@127.0.0.1:1/")
    assert unreachable.returncode == 2
    assert "s3cret" not in unreachable.stdout + unreachable.stderr
    assert unreachable.stderr.count("\n") == 1 and "Traceback" not in unreachable.stderr
    assert "root:***@127.0.0.1:1" in unreachable.stderr


@pytest.mark.mariadb
def test_existing_database_is_refused(tmp_path: Path, make_mariadb_database) -> None:
    url = make_mariadb_database()
    path = tmp_path / "t.sql"
    path.write_text("CREATE TABLE lint_was_here (a INT);\n")
    with pytest.raises(InputError, match="which exists"):
        verify_on_server([path], url.render_as_string(hide_password=False))
    result = _cli(str(path), "--dev-url", url.render_as_string(hide_password=False))
    assert result.returncode == 2 and "which exists" in result.stderr
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW TABLES LIKE 'lint_was_here'").fetchall() == []
    engine.dispose()


@pytest.mark.mariadb
def test_a_named_new_database_is_created_and_dropped(
    tmp_path: Path, mariadb_server_url: URL
) -> None:
    path = tmp_path / "t.sql"
    path.write_text("CREATE TABLE t (a INT, KEY k (a), KEY k (a));\n")
    url = mariadb_server_url.set(database="lmsdb_lint_named_scratch")
    (only,) = verify_on_server([path], url.render_as_string(hide_password=False))
    assert only.rule == "LMS901" and "Duplicate key name" in only.message
    assert "lmsdb_lint_named_scratch" not in _lint_databases(mariadb_server_url)


@pytest.mark.mariadb
def test_interrupt_drops_the_scratch_database(tmp_path: Path, mariadb_server_url: URL) -> None:
    path = tmp_path / "slow.sql"
    path.write_text("CREATE TABLE t (a INT);\nSELECT SLEEP(30);\n")
    before = _lint_databases(mariadb_server_url)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "cli.py"),
            "schema",
            "lint",
            str(path),
            "--dev-url",
            _server_root(mariadb_server_url),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (_lint_databases(mariadb_server_url) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _lint_databases(mariadb_server_url) - before, "the scratch database never appeared"
    time.sleep(0.5)  # inside SELECT SLEEP
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert _lint_databases(mariadb_server_url) == before


def test_unreachable_server_is_connection_failed(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text("SELECT 1;\n")
    with pytest.raises(ConnectionFailed, match=r"postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/"):
        verify_on_server([path], "postgresql://u:pw-secret@127.0.0.1:1/")


def test_odd_database_names_are_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text("SELECT 1;\n")
    with pytest.raises(InputError, match="letters, digits and _ only"):
        verify_on_server([path], "mysql+pymysql://root@127.0.0.1:1/x`; DROP DATABASE y; --")


def test_other_servers_are_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text("SELECT 1;\n")
    with pytest.raises(InputError, match="only MySQL/MariaDB and PostgreSQL"):
        verify_on_server([path], "sqlite:///x.db")


PG_DDL = """CREATE TABLE accounts (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.email := lower(NEW.email); -- a ; inside the dollar-quoted body
  RETURN NEW;
END;
$$;
CREATE TRIGGER t BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
"""


@pytest.mark.postgresql
def test_postgresql_ddl(tmp_path: Path, postgresql_server_url: URL) -> None:
    good = tmp_path / "pg.sql"
    good.write_text(PG_DDL)
    root = postgresql_server_url.set(database="").render_as_string(hide_password=False)
    assert verify_on_server([good], root) == []
    bad = tmp_path / "pg_bad.sql"
    bad.write_text(PG_DDL + "CREATE INDEX ON accounts (nope);\n")
    (only,) = verify_on_server([bad], root)
    assert only.rule == "LMS901" and only.location.endswith(":9")
    assert 'column "nope" does not exist' in only.message
    engine = sa.create_engine(postgresql_server_url)
    with engine.connect() as conn:
        left = conn.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lmsdb_lint_%%'"
        ).fetchall()
    engine.dispose()
    assert left == []
