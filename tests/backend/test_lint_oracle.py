"""The real MariaDB server is the oracle: each corpus case is applied to a scratch
database, and the server's accept/refuse must equal both the case's label and lint's
verdict for ``--target mariadb``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pymysql
import pytest
from sqlalchemy.engine import URL

from lms_db.lint.sources import Chunk, split_statements
from tests.unit.lint_corpus import Case, load_cases
from tests.unit.test_lint_corpus import lint_verdict

pytestmark = pytest.mark.mariadb
CASES = load_cases()


@pytest.fixture(scope="module")
def server(mariadb_server_url: URL) -> Iterator[pymysql.connections.Connection]:
    conn = pymysql.connect(
        host=mariadb_server_url.host or "127.0.0.1",
        port=mariadb_server_url.port or 3306,
        user=mariadb_server_url.username or "root",
        password=mariadb_server_url.password or "",
        autocommit=True,
    )
    yield conn
    conn.close()


def server_verdict(conn: pymysql.connections.Connection, case: Case) -> tuple[str, str]:
    """Apply the case to a fresh database: ('accept'|'refuse', the first server error)."""
    name = f"oc_lint_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        try:
            cur.execute(f"USE {name}")
            for stmt in split_statements(Chunk(case.id, case.sql, 1)):
                try:
                    cur.execute(stmt.text)
                except pymysql.MySQLError as exc:
                    return "refuse", str(exc)
            return "accept", ""
        finally:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_server_and_lint_agree(server: pymysql.connections.Connection, case: Case) -> None:
    verdict, error = server_verdict(server, case)
    assert verdict == case.expect, f"corpus label is wrong: MariaDB says {verdict} {error}"
    assert lint_verdict(case, "mariadb") == verdict, (case.rule, error)
