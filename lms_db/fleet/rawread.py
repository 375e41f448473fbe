"""Reading rows as the server's text, without per-value Python type conversion.

PyMySQL turns every value into a Python object as it parses a row (``int``, ``Decimal``,
``datetime``...): about a third of an archive's read time.  :func:`read_raw` runs a query
with the connection's decoders switched off, so each value stays the text the server
sent (``str``; binary columns ``bytes``; NULL ``None``), and returns each column's MySQL
field type code.  :func:`typed_row` applies PyMySQL's own decoders to such text later,
giving exactly the values a typed read would have given.  FLOAT columns must be cast to
DOUBLE in the SELECT (the text of a FLOAT has ~6 significant digits): see
:func:`lms_db.fleet.raw_columns.read_columns`.

Two drivers give the same text:

- PyMySQL (always installed), decoders off: its pure-Python packet parsing is still most
  of the read's time;
- mysqlclient (``MySQLdb``, C; the optional ``fast`` extra, which needs the MariaDB or MySQL
  client headers to build): parsed and decoded in C, several times the rate.
  :func:`fast_url` turns a PyMySQL URL into a mysqlclient one when ``MySQLdb`` imports.
  Its converters here decode every value to ``str`` except binary ones (mysqlclient 2.2
  decides that by charset 63, as PyMySQL does).  The BINARY flag alone would also mark text
  in a ``_bin`` collation (MariaDB's JSON columns among them), so the caller also says
  which columns the model declares binary (``binary=``), and a text column that came back
  as bytes anyway is decoded in Python.

Other drivers read typed (``read_raw`` returns ``None``).  Meant for every bulk reader
(archive, range moves), not one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

Row = tuple[Any, ...]

PYMYSQL = "pymysql"
MYSQLCLIENT = "mysqldb"
#: ``reader`` choices: the fastest installed, or one named.
READERS = ("auto", "pymysql", "mysqlclient")
#: MySQL field types whose values may be binary (PyMySQL's ``TEXT_TYPES``).
_MAYBE_BINARY = frozenset({16, 249, 250, 251, 252, 253, 254, 255, 15})


def pymysql_connection(conn: Connection) -> Any | None:
    """``conn``'s PyMySQL connection (``None``: another driver or backend)."""
    if conn.dialect.name not in ("mysql", "mariadb") or conn.dialect.driver != "pymysql":
        return None
    return conn.connection.dbapi_connection


@cache
def mysqlclient_available() -> bool:
    """``MySQLdb`` imports (the ``fast`` extra is installed and its C library loads)."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return False
    return True


def fast_url(url: URL, reader: str = "auto") -> URL:
    """``url`` with the driver the raw reads should use (see the module docstring).

    :param reader: ``auto`` (mysqlclient when importable), ``pymysql`` or ``mysqlclient``.
    :raises ValueError: ``mysqlclient`` asked for but not importable.
    """
    backend = url.get_backend_name()
    if backend not in ("mysql", "mariadb") or url.get_driver_name() != PYMYSQL:
        return url
    if reader == "pymysql":
        return url
    if not mysqlclient_available():
        if reader == "mysqlclient":
            raise ValueError(
                "mysqlclient is not installed (pip install 'lmsdb[fast]'; it needs the "
                "MariaDB or MySQL client headers to build)"
            )
        return url
    if "charset" not in url.query:  # PyMySQL's default; read_raw decodes text as UTF-8
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url.set(drivername=f"{backend}+{MYSQLCLIENT}")


@cache
def _fast_conv() -> dict[int, Any]:
    """mysqlclient converters: every value as ``str`` (decoded in C), binary ones as
    ``bytes``."""
    from MySQLdb.constants import FIELD_TYPE, FLAG

    codes = {v for k, v in vars(FIELD_TYPE).items() if k.isupper() and isinstance(v, int)}
    conv: dict[int, Any] = {code: str for code in codes - _MAYBE_BINARY}
    for code in _MAYBE_BINARY:
        conv[code] = [(FLAG.BINARY, bytes), (None, str)]
    return conv


def read_raw(
    conn: Connection, query: sa.Executable, binary: Sequence[bool] | None = None
) -> tuple[list[Row], list[int]] | None:
    """``query``'s rows as text, and each column's MySQL field type code.

    The query's columns must carry no SQLAlchemy result processing (``NullType``), or
    that processing would see text.  ``None``: not a PyMySQL or mysqlclient connection
    (read typed).

    :param binary: per selected column, whether it is a binary type (BINARY, VARBINARY,
        BLOB, BIT): kept as bytes.  Needed by mysqlclient only; ``None``: no column is.
    """
    if conn.dialect.name not in ("mysql", "mariadb"):
        return None
    driver = conn.dialect.driver
    dbapi = conn.connection.dbapi_connection
    if driver == PYMYSQL:
        saved = dbapi.decoders  # type: ignore[union-attr]
        dbapi.decoders = {}  # type: ignore[union-attr]  # per connection: other threads' are untouched
        try:
            rows, types = _fetch(conn, query)
        finally:
            dbapi.decoders = saved  # type: ignore[union-attr]
        return rows, types
    if driver != MYSQLCLIENT:
        return None
    saved = dbapi.converter  # type: ignore[union-attr]
    dbapi.converter = _fast_conv()  # type: ignore[union-attr]
    try:
        rows, types = _fetch(conn, query)
    finally:
        dbapi.converter = saved  # type: ignore[union-attr]
    flags = list(binary) if binary is not None else [False] * len(types)
    # A driver's converter is per column: one value tells whether a column came as bytes.
    stray = [
        i
        for i, code in enumerate(types)
        if code in _MAYBE_BINARY and not flags[i] and isinstance(_first(rows, i), bytes)
    ]
    if stray:
        rows = [_decoded(row, stray) for row in rows]
    return rows, types


def _first(rows: list[Row], index: int) -> Any:
    """The column's first non-NULL value (``None``: all NULL)."""
    return next((row[index] for row in rows if row[index] is not None), None)


def _fetch(conn: Connection, query: sa.Executable) -> tuple[list[Row], list[int]]:
    result = conn.execute(query)
    cursor = result.cursor
    if cursor is None:
        return [], []
    # The driver's own tuples: no SQLAlchemy Row per row.
    rows = list(cursor.fetchall())
    types = [int(d[1]) for d in cursor.description or ()]  # type: ignore[call-overload]
    result.close()
    return rows, types


def _decoded(row: Row, text: list[int]) -> Row:
    values = list(row)
    for i in text:
        value = values[i]
        if value is not None:
            values[i] = value.decode("utf-8")
    return tuple(values)


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
