"""The canonical text of one row, as SQL per dialect and as Python for streamed rows.

:mod:`lms_db.moves.checksum` hashes this text.  Columns come in the table's column order
(the model's, so two databases whose physical column order differs still agree); NULL is
``N``, distinct from every value's text; strings carry their length, so no content shifts
from one column into the next.  The text of a value depends on its kind
(:func:`column_kind`) and is exact: nothing a corruption could change is rounded away.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

#: Kinds of column, each with its own exact text.
KINDS = (
    "integer",
    "float",
    "decimal",
    "boolean",
    "timestamp",
    "datetime",
    "date",
    "time",
    "json",
    "binary",
    "text",
)


def column_kind(type_: TypeEngine[Any], dialect: Dialect) -> str:
    """The kind of a column type as ``dialect`` stores it (variants resolved).

    :param type_: the column's type (from the model).
    :param dialect: the database's dialect.
    """
    impl = type_._unwrapped_dialect_impl(dialect)  # with_variant() resolved for this dialect
    if isinstance(impl, sa.JSON):
        return "json"
    if isinstance(impl, sa.Boolean):
        return "boolean"
    if isinstance(impl, sa.Integer):
        return "integer"
    if isinstance(impl, sa.Float):  # before Numeric: Float is a Numeric
        return "float"
    if isinstance(impl, sa.Numeric):
        return "decimal"
    if isinstance(impl, sa.DateTime):
        mysql_timestamp = type(impl).__name__ == "TIMESTAMP"
        return "timestamp" if impl.timezone or mysql_timestamp else "datetime"
    if isinstance(impl, sa.Date):
        return "date"
    if isinstance(impl, sa.Time):
        return "time"
    if isinstance(impl, sa.LargeBinary | sa.types._Binary):
        return "binary"
    return "text"


# -- MySQL / MariaDB ----------------------------------------------------------------------
#
# A row is CONCAT_WS('#', field, ...) with one field per column, never NULL:
# - NULL is 'N';
# - numbers, dates and times print as text that never holds '#' or starts with 'N';
# - strings are '<characters>:<text>' (a digit first, never 'N'; the length says where
#   the text ends, so a '#' inside it cannot shift content into the next column);
# - JSON is canonical JSON text, which ends where its parse ends ('#' only inside quotes);
# - binary is hex.
# So the row text is injective, and each value's text is computed once.

#: Kinds printed with a length prefix (their text may hold the separator).
_LENGTH_PREFIXED = ("text",)


def mysql_field(column_sql: str, kind: str, dialect: Dialect) -> str:
    """SQL for one column's field of the row text, MySQL/MariaDB (never NULL).

    :param column_sql: the quoted, table-qualified column.
    :param kind: from :func:`column_kind`.
    :param dialect: the connection's dialect (MariaDB and MySQL differ for JSON).
    """
    if kind == "float":
        # CAST(float AS CHAR) prints 6 digits (1.0000001 -> '1'); widened to DOUBLE the
        # stored value is exact, and DOUBLE prints its shortest round-trip text.
        text = f"CAST({column_sql} AS DOUBLE)"
    elif kind == "json":
        if getattr(dialect, "is_mariadb", False):
            # MariaDB keeps JSON as the text written: normalize key order, spacing and
            # number spelling.  Text that is not JSON keeps its own characters, marked.
            text = (
                f"COALESCE(JSON_NORMALIZE({column_sql}), CONCAT('!', "
                f"CHAR_LENGTH({column_sql}), ':', CONVERT({column_sql} USING utf8mb4)))"
            )
        else:
            text = f"CONVERT(CAST({column_sql} AS CHAR) USING utf8mb4)"  # binary JSON text
    elif kind == "binary":
        text = f"HEX({column_sql})"
    elif kind in _LENGTH_PREFIXED:
        text = f"CONCAT(CHAR_LENGTH({column_sql}), ':', CONVERT({column_sql} USING utf8mb4))"
    else:
        # Integers (BIGINT UNSIGNED too), DECIMAL with its scale, DATE/TIME/DATETIME and
        # TIMESTAMP (in the UTC session the checksum sets) print exactly.
        text = f"CAST({column_sql} AS CHAR)"
    return f"IFNULL({text}, 'N')"


def mysql_row_text(table: sa.Table, dialect: Dialect) -> str:
    """SQL for the canonical text of a row of ``table``, MySQL/MariaDB.

    :param table: the table (model columns, in order).
    :param dialect: the connection's dialect.
    """
    fields = [
        mysql_field(_qualified(table, c, dialect), column_kind(c.type, dialect), dialect)
        for c in table.columns
    ]
    return f"CONCAT_WS('#', {', '.join(fields)})"


# -- PostgreSQL ---------------------------------------------------------------------------

_PG_TIME = "YYYY-MM-DD HH24:MI:SS.US"


def postgresql_field(column_sql: str, kind: str) -> str:
    """SQL for one column's field of the row text, PostgreSQL (never NULL).

    :param column_sql: the quoted, table-qualified column.
    :param kind: from :func:`column_kind`.
    """
    if kind == "timestamp":
        # Session-independent: UTC, fixed format (not the TimeZone/DateStyle settings);
        # 'infinity' has no to_char and keeps its own text.
        text = (
            f"COALESCE(to_char({column_sql} AT TIME ZONE 'UTC', '{_PG_TIME}'), {column_sql}::text)"
        )
    elif kind == "datetime":
        text = f"COALESCE(to_char({column_sql}, '{_PG_TIME}'), {column_sql}::text)"
    elif kind == "date":
        text = f"COALESCE(to_char({column_sql}, 'YYYY-MM-DD'), {column_sql}::text)"
    elif kind == "json":
        text = f"({column_sql})::jsonb::text"  # jsonb prints keys sorted, numbers exact
    elif kind == "binary":
        text = f"encode({column_sql}, 'hex')"
    elif kind in _LENGTH_PREFIXED:
        text = f"char_length({column_sql}) || ':' || ({column_sql})::text"
    else:
        # float4/float8 print their shortest round-trip text (extra_float_digits >= 1, the
        # default since PostgreSQL 12); numeric keeps its scale; integers and booleans.
        text = f"({column_sql})::text"
    return f"COALESCE({text}, 'N')"


def postgresql_row_text(table: sa.Table, dialect: Dialect) -> str:
    """SQL for the canonical text of a row of ``table``, PostgreSQL.

    :param table: the table (model columns, in order).
    :param dialect: the connection's dialect.
    """
    fields = [
        postgresql_field(_qualified(table, c, dialect), column_kind(c.type, dialect))
        for c in table.columns
    ]
    return f"concat_ws('#', {', '.join(fields)})"


def _qualified(table: sa.Table, column: sa.Column[Any], dialect: Dialect) -> str:
    preparer = dialect.identifier_preparer
    return f"{preparer.format_table(table)}.{preparer.quote(column.name)}"


# -- Python (SQLite, or any backend on request) ---------------------------------------------


def encode_row(row: Sequence[Any], types: Sequence[TypeEngine[Any]], dialect: Dialect) -> bytes:
    """The canonical bytes of one row of raw driver values.

    The value's own type is part of its text (``i``/``r``/``d``/``s``...), so the integer 1,
    the float 1.0 and the string ``'1'`` differ, as SQLite's storage classes do.

    :param row: the values, in the table's column order, unprocessed by SQLAlchemy.
    :param types: the columns' types (JSON columns are canonicalized).
    :param dialect: the connection's dialect.
    """
    parts = []
    for value, type_ in zip(row, types, strict=True):
        if value is None:
            parts.append("N")
            continue
        text = python_value_text(value, column_kind(type_, dialect) == "json")
        parts.append(f"V{len(text)}:{text}")
    return "".join(parts).encode("utf-8", "surrogatepass")


def python_value_text(value: Any, is_json: bool = False) -> str:
    """The exact, typed text of one non-NULL value.

    :param value: what the driver returned.
    :param is_json: the column holds JSON: text is parsed and printed canonically.
    """
    if is_json:
        return "j" + _canonical_json(value)
    if isinstance(value, bool):
        return "B1" if value else "B0"
    if isinstance(value, int):
        return f"i{value}"
    if isinstance(value, float):
        return f"r{value!r}"  # repr is the shortest text that round-trips the double
    if isinstance(value, decimal.Decimal):
        return f"d{value}"
    if isinstance(value, str):
        return f"s{value}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"b{bytes(value).hex()}"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"t{value.isoformat(sep=' ', timespec='microseconds')}"
    if isinstance(value, dt.date | dt.time):
        return f"t{value.isoformat()}"
    if isinstance(value, dt.timedelta):
        return f"v{value.days}:{value.seconds}:{value.microseconds}"
    return f"o{value!r}"


def _canonical_json(value: Any) -> str:
    """Keys sorted, no spaces, numbers with their exact digits (never through a float)."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "surrogatepass")
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=decimal.Decimal, parse_constant=str)
        except ValueError:
            return "!" + str(value)  # not JSON: its own text, marked
    return _dump(value)


def _dump(value: Any) -> str:
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dump(v)}" for k, v in items)
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def exact_read_columns(table: sa.Table, dialect: Dialect) -> list[sa.ColumnElement[Any]]:
    """Columns to SELECT so that every value survives a copy through the driver.

    MySQL/MariaDB send a ``FLOAT`` in the text protocol with 6 significant digits
    (16777217 arrives as 16777200.0); read as ``DOUBLE`` it arrives exact and is stored back
    exactly.  Everything else is read as the model types it.

    :param table: the table.
    :param dialect: the source's dialect.
    """
    if dialect.name not in ("mysql", "mariadb"):
        return list(table.columns)
    return [
        sa.cast(c, sa.Double()).label(c.name) if column_kind(c.type, dialect) == "float" else c
        for c in table.columns
    ]
