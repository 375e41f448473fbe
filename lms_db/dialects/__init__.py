"""Per-dialect DDL: compile hooks and statements SQLAlchemy does not build itself."""

from __future__ import annotations

import sqlalchemy as sa

from lms_db.dialects.facts import (
    DIALECTS,
    MYSQL_FAMILY,
    get_dialect,
    is_mysql_family,
    quote,
    renders_on,
    touch_trigger_name,
)

__all__ = [
    "DIALECTS",
    "MYSQL_FAMILY",
    "get_dialect",
    "is_mysql_family",
    "quote",
    "renders_on",
    "run_statement",
    "touch_trigger_name",
]


def run_statement(conn: sa.Connection, statement: str) -> None:
    """Execute one raw statement; ``%`` survives drivers that format parameters."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        statement = statement.replace("%", "%%")
    conn.exec_driver_sql(statement)
