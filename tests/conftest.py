"""Shared fixtures: the real MariaDB and PostgreSQL servers and throwaway databases on them.

Backends are chosen by URL (``--mariadb-url``/``--postgresql-url``), defaulting to the
services on this machine.  Each fresh database gets a unique name and is dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from typer.testing import CliRunner, Result

from tests.mariadb_drop import drop_mariadb_database
from tests.secret_scan import assert_no_secret_leaked

DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
DEFAULT_POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_DESIGN = REPO_ROOT / "tests" / "fixtures" / "seed" / "database-design.md"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--mariadb-url", default=os.environ.get("LMSDB_TEST_MARIADB_URL", DEFAULT_MARIADB_URL)
    )
    parser.addoption(
        "--postgresql-url",
        default=os.environ.get("LMSDB_TEST_POSTGRESQL_URL", DEFAULT_POSTGRESQL_URL),
    )


@pytest.fixture(autouse=True)
def no_password_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """After every CLI command of the suite: no password printed, none in the catalog."""
    original = CliRunner.invoke

    def invoke(self: CliRunner, cli: Any, args: Any = None, *rest: Any, **kwargs: Any) -> Result:
        result = original(self, cli, args, *rest, **kwargs)
        listed = [args] if isinstance(args, str) else list(args or [])
        assert_no_secret_leaked([str(a) for a in listed], kwargs.get("env"), result)
        return result

    monkeypatch.setattr(CliRunner, "invoke", invoke)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LMSDB_* setting of the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("LMSDB_") and not key.startswith("LMSDB_TEST_"):
            monkeypatch.delenv(key)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def mariadb_server_url(pytestconfig: pytest.Config) -> URL:
    url = sa.engine.make_url(pytestconfig.getoption("--mariadb-url"))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"MariaDB is not reachable at {url.render_as_string()}: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgresql_server_url(pytestconfig: pytest.Config) -> URL:
    url = sa.engine.make_url(pytestconfig.getoption("--postgresql-url"))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {url.render_as_string()}: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def make_mariadb_database(mariadb_server_url: URL) -> Iterator[Callable[[], URL]]:
    """Factory of empty MariaDB databases, all dropped at teardown."""
    admin = sa.create_engine(mariadb_server_url)
    names: list[str] = []

    def make() -> URL:
        name = _unique("lmsdb_t")
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        names.append(name)
        return mariadb_server_url.set(database=name)

    yield make
    with admin.connect() as conn:
        for name in names:
            drop_mariadb_database(conn, name)
    admin.dispose()


@pytest.fixture
def make_postgresql_database(postgresql_server_url: URL) -> Iterator[Callable[[], URL]]:
    """Factory of empty PostgreSQL databases, all dropped at teardown."""
    admin = sa.create_engine(postgresql_server_url, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> URL:
        name = _unique("lmsdb_t")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        names.append(name)
        return postgresql_server_url.set(database=name)

    yield make
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def mariadb_engine(make_mariadb_database: Callable[[], URL]) -> Iterator[Engine]:
    engine = sa.create_engine(make_mariadb_database())
    yield engine
    engine.dispose()


@pytest.fixture
def postgresql_engine(make_postgresql_database: Callable[[], URL]) -> Iterator[Engine]:
    engine = sa.create_engine(make_postgresql_database())
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'lms.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on a fresh database of each backend."""
    return request.getfixturevalue(f"{request.param}_engine")
