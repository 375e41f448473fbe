"""Every PyMySQL connection an lmsdb process opens shares one preferred-mode SSL context
(lms_db.topology.pymysql_tls); connections with TLS options of their own are untouched."""

from __future__ import annotations

import ssl

import pytest
import sqlalchemy as sa

import lms_db.topology.engines  # noqa: F401  # installs the shared context

URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _context(engine: sa.Engine) -> ssl.SSLContext:
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        return conn.connection.dbapi_connection.ctx  # type: ignore[union-attr]


def test_connections_without_tls_options_share_one_context() -> None:
    first = sa.create_engine(URL, poolclass=sa.pool.NullPool)
    second = sa.create_engine(URL, poolclass=sa.pool.NullPool)
    try:
        shared = _context(first)
        assert _context(first) is shared
        assert _context(second) is shared
        # What PyMySQL builds for a URL without TLS options: nothing verified.
        assert shared.verify_mode == ssl.CERT_NONE and not shared.check_hostname
    finally:
        first.dispose()
        second.dispose()


def test_tls_options_of_its_own_still_build_their_context() -> None:
    engine = sa.create_engine(
        URL, connect_args={"ssl": {"ca": "/nonexistent/ca.pem"}}, poolclass=sa.pool.NullPool
    )
    try:
        with pytest.raises(FileNotFoundError), engine.connect():
            pass
    finally:
        engine.dispose()
