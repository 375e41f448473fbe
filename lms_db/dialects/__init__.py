"""Per-dialect DDL: compile hooks and statements SQLAlchemy does not build itself."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from lms_db.errors import UnknownObjectError

DIALECTS = ("mysql", "mariadb", "postgresql", "sqlite")


def get_dialect(name: str) -> Dialect:
    """A SQLAlchemy dialect instance by lmsdb dialect name.

    :param name: one of :data:`DIALECTS`.
    :raises UnknownObjectError: for any other name.
    """
    if name not in DIALECTS:
        raise UnknownObjectError(f"unknown dialect {name!r}: choose one of {', '.join(DIALECTS)}")
    dialect: Dialect = sa.engine.make_url(f"{name}://").get_dialect()()
    return dialect


def quote(dialect: Dialect, identifier: str) -> str:
    """Quote an identifier for ``dialect`` (the one helper every raw statement uses)."""
    return str(dialect.identifier_preparer.quote_identifier(identifier))


def run_statement(conn: sa.Connection, statement: str) -> None:
    """Execute one raw statement; ``%`` survives drivers that format parameters."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        statement = statement.replace("%", "%%")
    conn.exec_driver_sql(statement)
