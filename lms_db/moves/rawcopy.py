"""The cross-server copy between MySQL/MariaDB shards through PyMySQL: rows travel as
SQL text, never as Python objects, and the next chunk is read while this one is written.

Turning every value into ``int``/``Decimal``/``datetime`` and back is most of a typed copy's
client time (``copy-verify-archive.md`` §8: a raw read is 4x a typed one), and on a busy
machine the client's CPU is what a Python copy waits for.  Here:

- a reader thread, on the source connection only, reads each chunk and hands it over
  through a queue of one chunk, so the source reads chunk N+1 while the destination
  writes chunk N;
- the **source server writes each row's SQL literal**, one value per row
  (:func:`row_literal`: ``CONCAT('(', QUOTE(a), ', ', QUOTE(b), ..., ')')``; ``QUOTE``
  escapes backslash, quote, NUL and Control-Z and gives ``NULL`` for NULL; binary columns
  as ``X'<hex>'``; ``FLOAT`` cast to ``DOUBLE`` first, since a FLOAT's text is rounded), so
  lmsdb does no per-value work: it joins rows into multi-row ``INSERT`` statements of at
  most :data:`MAX_STATEMENT_BYTES`.  Quoted numbers convert back exactly (integers up to
  ``BIGINT UNSIGNED``'s top, DECIMAL, a DOUBLE's round-trip text); text keeps every
  character (4-byte utf8mb4, JSON text as stored); dates travel in the sessions' UTC;
- a destination in ``NO_BACKSLASH_ESCAPES`` mode would misread ``QUOTE``'s backslashes: it
  gets raw values instead (:func:`lms_db.fleet.rawread.read_raw`, decoders off; numbers
  unquoted, text escaped as the driver escapes it, binary by the driver's ``escape``).

The protocol is the typed copy's: progress (the chunk's last key) is recorded only after the
destination committed the chunk, so a crash re-reads from there; the read-ahead chunk is
simply read again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from lms_db.fleet.raw_columns import is_single_float, read_columns
from lms_db.fleet.rawread import Row, pymysql_connection, read_raw
from lms_db.moves import key_chunks as kc
from lms_db.moves.row_encoding import column_kind
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)

#: Most bytes of one INSERT statement (Spirit's chunklets: far below max_allowed_packet).
MAX_STATEMENT_BYTES = 1 << 20
#: MySQL field types whose text is a number literal (DECIMAL, TINY, SHORT, LONG, FLOAT,
#: DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL).
NUMERIC_TYPES = frozenset({0, 1, 2, 3, 4, 5, 8, 9, 13, 246})
#: Seconds between checks of the stop flag while the queue is full.
_POLL = 0.2
_MYSQL = mysql.dialect()

#: A chunk handed over: its last key, its rows (literals, or raw tuples), their field types.
Chunk = tuple[Any, list[Any], list[int]]


def supported(src: Connection, dst: Connection) -> bool:
    """Whether both connections are MySQL/MariaDB through PyMySQL (else: the typed copy)."""
    return pymysql_connection(src) is not None and pymysql_connection(dst) is not None


def backslash_escapes(dbapi: Any) -> bool:
    """Whether the server reads backslash escapes in string literals (not in
    ``NO_BACKSLASH_ESCAPES`` mode, as PyMySQL tracks it)."""
    from pymysql.constants import SERVER_STATUS

    return not dbapi.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES


def row_literal(table: sa.Table) -> sa.ColumnElement[Any]:
    """A MySQL/MariaDB expression giving one row of ``table`` as the SQL text of its
    ``VALUES`` tuple (see the module doc)."""
    parts: list[sa.ColumnElement[Any]] = []
    for column in table.columns:
        if parts:
            parts.append(sa.literal(", "))
        kind = column_kind(column.type, _MYSQL)
        if kind == "binary":
            hexed = sa.func.concat(sa.literal("X'"), sa.func.hex(column), sa.literal("'"))
            parts.append(sa.func.ifnull(hexed, sa.literal("NULL")))
        elif is_single_float(column, "mysql"):
            parts.append(sa.func.quote(sa.cast(column, mysql.DOUBLE())))
        else:
            parts.append(sa.func.quote(column))
    text = sa.func.concat(sa.literal("("), *parts, sa.literal(")"))
    return sa.type_coerce(text, sa.types.NullType()).label("row_sql")


def _statements(prefix: str, tuples: Iterable[str]) -> Iterator[str]:
    parts: list[str] = []
    size = len(prefix)
    for text in tuples:
        if parts and size + len(text) + 2 > MAX_STATEMENT_BYTES:
            yield prefix + ", ".join(parts)
            parts, size = [], len(prefix)
        parts.append(text)
        size += len(text) + 2
    if parts:
        yield prefix + ", ".join(parts)


def _prefix(scope: TableScope) -> str:
    quoted = ", ".join(f"`{c.name}`" for c in scope.table.columns)
    return f"INSERT INTO `{scope.name}` ({quoted}) VALUES "


def raw_tuples(dbapi: Any, types: Sequence[int], rows: Sequence[Row]) -> Iterator[str]:
    """The ``VALUES`` tuple text of raw rows (the ``NO_BACKSLASH_ESCAPES`` path).

    :param dbapi: the destination's PyMySQL connection.
    :param types: each column's MySQL field type code, as read.
    """
    from pymysql import converters

    numeric = [code in NUMERIC_TYPES for code in types]
    escape = dbapi.escape
    text_escape: Callable[[str], str] = (
        converters.escape_string
        if backslash_escapes(dbapi)
        else (lambda text: text.replace("'", "''"))
    )
    for row in rows:
        yield (
            "("
            + ", ".join(
                [
                    "NULL"
                    if v is None
                    else v
                    if num
                    else "'" + text_escape(v) + "'"
                    if v.__class__ is str
                    else escape(v)
                    for v, num in zip(row, numeric, strict=True)
                ]
            )
            + ")"
        )


def write_chunk(
    dst: Connection, scope: TableScope, rows: Sequence[Any], types: Sequence[int]
) -> None:
    """Insert a chunk in the caller's destination transaction (a duplicate key fails):
    literals (no ``types``) or raw rows."""
    tuples = raw_tuples(pymysql_connection(dst), types, rows) if types else rows
    for statement in _statements(_prefix(scope), tuples):
        # exec_driver_sql hands PyMySQL an empty tuple, which %-formats the text.
        dst.exec_driver_sql(statement.replace("%", "%%"))


def _put(out: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _read_ahead(
    src: Connection,
    scope: TableScope,
    lo: int,
    hi: int,
    after: Any,
    chunk: int,
    upto: Any,
    literals: bool,
    out: queue.Queue[Any],
    stop: threading.Event,
) -> None:
    """The reader thread: chunks into ``out``, then ``None``; an exception is handed over.

    :param literals: read each row as its SQL literal (:func:`row_literal`); otherwise raw
        values and their field types.
    """
    try:
        columns = [row_literal(scope.table)] if literals else read_columns(scope.table, "mysql")
        while not stop.is_set():
            last = kc.next_upto(src, scope, lo, hi, after, chunk, top=upto)
            if last is None:
                src.commit()
                _put(out, None, stop)
                return
            query = sa.select(*columns).where(*kc.chunk_where(scope, lo, hi, after, last))
            item: Chunk
            if literals:
                item = (last, list(src.execute(query).scalars()), [])
            else:
                found = read_raw(src, query)
                assert found is not None  # supported() checked the driver
                item = (last, found[0], found[1])
            src.commit()  # no snapshot held between chunks
            if not _put(out, item, stop):
                return
            after = last
    except BaseException as exc:  # handed to the writer, which raises it
        try:
            src.rollback()
        except sa.exc.DBAPIError:
            log.debug("rollback after a failed read of %s failed too", scope.name)
        _put(out, exc, stop)


def copy_table(
    src: Connection,
    dst: Connection,
    scope: TableScope,
    lo: int,
    hi: int,
    after: Any,
    chunk: int,
    on_chunk: Callable[[Any, int], None],
    upto: Any,
    write: Callable[[Connection], Any],
) -> int:
    """Copy the range's rows of one table after chunk-column value ``after`` (as
    :func:`lms_db.moves.phases.copy_table`, as SQL text and read ahead).

    :param write: the destination's write transaction (``phases.write_transaction``).
    :returns: rows copied.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    literals = backslash_escapes(pymysql_connection(dst))
    reader = threading.Thread(
        target=_read_ahead,
        args=(src, scope, lo, hi, after, chunk, upto, literals, chunks, stop),
        name=f"lmsdb-copy-{scope.name}",
        daemon=True,
    )
    reader.start()
    copied = 0
    try:
        while True:
            item = chunks.get()
            if item is None:
                return copied
            if isinstance(item, BaseException):
                raise item
            last, rows, types = item
            if rows:
                with write(dst):
                    write_chunk(dst, scope, rows, types)
            copied += len(rows)
            on_chunk(last, len(rows))
    finally:
        stop.set()
        reader.join()
