"""Reading rows as the server's text, without per-value Python type conversion.

PyMySQL turns every value into a Python object as it parses a row (``int``, ``Decimal``,
``datetime``...): about a third of an archive's read time.  :func:`read_raw` runs a query
with the connection's decoders switched off, so each value stays the text the server
sent (``str``; binary columns ``bytes``; NULL ``None``), and returns each column's MySQL
field type code.  :func:`typed_row` applies PyMySQL's own decoders to such text later,
giving exactly the values a typed read would have given.  FLOAT columns must be cast to
DOUBLE in the SELECT (the text of a FLOAT has ~6 significant digits): see
:func:`lms_db.archive.tables.read_columns`.

Only MySQL/MariaDB through PyMySQL; other drivers read typed (``read_raw`` returns
``None``).  Meant for every bulk reader (archive, range moves), not one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

Row = tuple[Any, ...]


def pymysql_connection(conn: Connection) -> Any | None:
    """``conn``'s PyMySQL connection (``None``: another driver or backend)."""
    if conn.dialect.name not in ("mysql", "mariadb") or conn.dialect.driver != "pymysql":
        return None
    return conn.connection.dbapi_connection


def read_raw(conn: Connection, query: sa.Executable) -> tuple[list[Row], list[int]] | None:
    """``query``'s rows as text, and each column's MySQL field type code.

    The query's columns must carry no SQLAlchemy result processing (``NullType``), or
    that processing would see text.  ``None``: not a PyMySQL connection (read typed).
    """
    dbapi = pymysql_connection(conn)
    if dbapi is None:
        return None
    saved = dbapi.decoders
    dbapi.decoders = {}  # per connection: the other threads' connections are untouched
    try:
        result = conn.execute(query)
        description = result.cursor.description if result.cursor is not None else ()
        rows = [tuple(r) for r in result]
    finally:
        dbapi.decoders = saved
    return rows, [int(d[1]) for d in description or ()]  # type: ignore[call-overload]


def typed_row(types: Sequence[int], row: Sequence[Any]) -> Row:
    """``row`` (text from :func:`read_raw`) as a typed PyMySQL read returns it."""
    from pymysql import converters

    out = []
    for code, value in zip(types, row, strict=True):
        convert = converters.decoders.get(code)
        if value is None or convert is None or convert is converters.through:
            out.append(value)
        else:
            out.append(convert(value))
    return tuple(out)
