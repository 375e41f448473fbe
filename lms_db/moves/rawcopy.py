"""The cross-server copy between MySQL/MariaDB shards through PyMySQL: rows travel as the
server's text, never as Python objects, and the next chunk is read while this one is
written.

Turning every value into ``int``/``Decimal``/``datetime`` and back is most of a typed copy's
client time (``copy-verify-archive.md`` §8: a raw read is 4x a typed one).  Here:

- a reader thread, on the source connection only, reads each chunk with the connection's
  decoders off (:func:`lms_db.fleet.rawread.read_raw`: each value the text the server sent,
  binary columns ``bytes``, NULL ``None``; ``FLOAT`` cast to ``DOUBLE`` in the SELECT, as
  the archive does, since a FLOAT's text is rounded) and hands it over through a queue of
  one chunk, so the source reads chunk N+1 while the destination writes chunk N;
- the writer turns the text into multi-row ``INSERT`` statements of at most
  :data:`MAX_STATEMENT_BYTES`: numbers (integers, ``DECIMAL``, ``DOUBLE``) as their text
  unquoted (exact: ``BIGINT UNSIGNED`` near 2**64, DECIMAL extremes), text quoted and
  escaped as the driver escapes it (4-byte utf8mb4 and JSON text as sent, dates in the
  session's UTC), binary through the driver's ``escape`` (``X'...'``), NULL as ``NULL``.

The protocol is the typed copy's: progress (the chunk's last key) is recorded only after the
destination committed the chunk, so a crash re-reads from there; the read-ahead chunk is
simply read again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.archive.tables import read_columns
from lms_db.fleet.rawread import Row, pymysql_connection, read_raw
from lms_db.moves import key_chunks as kc
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)

#: Most bytes of one INSERT statement (Spirit's chunklets: far below max_allowed_packet).
MAX_STATEMENT_BYTES = 1 << 20
#: MySQL field types whose text is a number literal (DECIMAL, TINY, SHORT, LONG, FLOAT,
#: DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL).
NUMERIC_TYPES = frozenset({0, 1, 2, 3, 4, 5, 8, 9, 13, 246})
#: Seconds between checks of the stop flag while a queue is full or empty.
_POLL = 0.2

Chunk = tuple[Any, list[Row], list[int]]


def supported(src: Connection, dst: Connection) -> bool:
    """Whether both connections are MySQL/MariaDB through PyMySQL (else: the typed copy)."""
    return pymysql_connection(src) is not None and pymysql_connection(dst) is not None


def _string_escaper(dbapi: Any) -> Callable[[str], str]:
    """The driver's escaping of text (what its ``escape`` does for ``str``, without the
    per-value dispatch), following the server's ``NO_BACKSLASH_ESCAPES``."""
    from pymysql import converters
    from pymysql.constants import SERVER_STATUS

    if dbapi.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        return lambda text: text.replace("'", "''")
    return converters.escape_string  # type: ignore[no-any-return]


def insert_statements(
    dbapi: Any, table: str, columns: Sequence[str], types: Sequence[int], rows: Sequence[Row]
) -> Iterator[str]:
    """Multi-row ``INSERT`` statements of at most :data:`MAX_STATEMENT_BYTES` for raw rows.

    :param dbapi: the destination's PyMySQL connection (its escaping knows the server's
        ``NO_BACKSLASH_ESCAPES`` mode; binary values go through its ``escape``).
    :param types: each column's MySQL field type code, as read.
    """
    quoted = ", ".join(f"`{c}`" for c in columns)
    prefix = f"INSERT INTO `{table}` ({quoted}) VALUES "
    numeric = [code in NUMERIC_TYPES for code in types]
    escape, text_escape = dbapi.escape, _string_escaper(dbapi)
    parts: list[str] = []
    size = len(prefix)
    for row in rows:
        text = (
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
        if parts and size + len(text) + 2 > MAX_STATEMENT_BYTES:
            yield prefix + ", ".join(parts)
            parts, size = [], len(prefix)
        parts.append(text)
        size += len(text) + 2
    if parts:
        yield prefix + ", ".join(parts)


def write_rows(
    dst: Connection, scope: TableScope, types: Sequence[int], rows: Sequence[Row]
) -> None:
    """Insert raw rows in the caller's destination transaction (a duplicate key fails)."""
    dbapi = pymysql_connection(dst)
    columns = [c.name for c in scope.table.columns]
    for statement in insert_statements(dbapi, scope.name, columns, types, rows):
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
    out: queue.Queue[Any],
    stop: threading.Event,
) -> None:
    """The reader thread: chunks into ``out``, then ``None``; an exception is handed over."""
    try:
        columns = read_columns(scope.table, src.dialect.name)
        while not stop.is_set():
            last = kc.next_upto(src, scope, lo, hi, after, chunk, top=upto)
            if last is None:
                src.commit()
                _put(out, None, stop)
                return
            query = sa.select(*columns).where(*kc.chunk_where(scope, lo, hi, after, last))
            found = read_raw(src, query)
            src.commit()  # no snapshot held between chunks
            assert found is not None  # supported() checked the driver
            if not _put(out, (last, *found), stop):
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
    :func:`lms_db.moves.phases.copy_table`, raw and read ahead).

    :param write: the destination's write transaction (``phases.write_transaction``).
    :returns: rows copied.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_ahead,
        args=(src, scope, lo, hi, after, chunk, upto, chunks, stop),
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
                    write_rows(dst, scope, types, rows)
            copied += len(rows)
            on_chunk(last, len(rows))
    finally:
        stop.set()
        reader.join()
