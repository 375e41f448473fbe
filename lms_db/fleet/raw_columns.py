"""How a table's columns are selected for an exact raw read (archive chunks, move copies).

Every column is a bare driver value: JSON as its text on PostgreSQL, MySQL ``FLOAT``
widened to ``DOUBLE`` (its exact value; the text protocol would round it to 6 digits), and
per column whether MySQL sends it as binary.  Shared by :mod:`lms_db.archive` and
:mod:`lms_db.moves`, so it lives below both.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql


def is_json(column: sa.Column[Any]) -> bool:
    """A JSON column (JSONB on PostgreSQL, or a type decorating JSON)."""
    return isinstance(column.type, sa.JSON | postgresql.JSONB) or isinstance(
        getattr(column.type, "impl", None), sa.JSON
    )


def is_single_float(column: sa.Column[Any], dialect: str) -> bool:
    """MySQL ``FLOAT`` (4 bytes): the text protocol rounds it, a cast to DOUBLE does not."""
    kind = column.type.dialect_impl(_DIALECTS[dialect])
    return isinstance(kind, sa.Float) and not isinstance(kind, sa.Double | mysql.REAL)


_DIALECTS = {"mysql": mysql.dialect(), "mariadb": mysql.dialect()}


def read_columns(table: sa.Table, dialect: str) -> list[sa.ColumnElement[Any]]:
    """``table``'s columns as the archive selects them (bare driver values)."""
    out: list[sa.ColumnElement[Any]] = []
    for column in table.columns:
        expr: sa.ColumnElement[Any] = column
        if dialect == "postgresql" and is_json(column):
            expr = sa.cast(column, sa.Text())
        elif dialect in ("mysql", "mariadb") and is_single_float(column, dialect):
            expr = sa.cast(column, mysql.DOUBLE())
        out.append(sa.type_coerce(expr, sa.types.NullType()).label(column.name))
    return out


def binary_columns(table: sa.Table, dialect: str) -> list[bool]:
    """Per column of :func:`read_columns`, whether MySQL sends it as binary (charset 63:
    BINARY, VARBINARY, BLOB, BIT): the raw readers keep those as bytes."""
    if dialect not in _DIALECTS:
        return [False] * len(table.columns)
    out = []
    for column in table.columns:
        kind = column.type.dialect_impl(_DIALECTS[dialect])
        if isinstance(kind, sa.types.TypeDecorator):
            kind = kind.load_dialect_impl(_DIALECTS[dialect])
        out.append(isinstance(kind, sa.types._Binary | mysql.BIT))
    return out
