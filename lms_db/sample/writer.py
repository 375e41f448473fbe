"""Bulk inserts for the sample loader: big batches, one transaction each, off the main thread.

Rows are tuples of ``int``/``str``/``bool``/``None``.  On MySQL/MariaDB a batch becomes
multi-row ``INSERT ... VALUES (...), (...)`` statements rendered with ``repr`` (C speed):
Python's quoting of these values is valid MySQL (``'text'``, ``True``, with ``None`` turned
into ``NULL``), which holds because the generator emits only ASCII words without quotes,
backslashes or the word ``None``.  PostgreSQL and SQLite get the driver's ``executemany``
with bound parameters.

A single writer thread sends batches while the main thread generates the next ones, so the
database's work overlaps Python's.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.dialects import quote
from lms_db.engines import short_reason
from lms_db.errors import OperationError

log = logging.getLogger(__name__)

#: Rows per ``INSERT`` statement on MySQL/MariaDB (well under a 16 MiB packet).
MYSQL_ROWS_PER_STATEMENT = 4_000

Batch = list[tuple[str, Sequence[str], list[tuple[object, ...]]]]


def _insert_sql(conn: Connection, table: str, columns: Sequence[str]) -> str:
    d = conn.dialect
    cols = ", ".join(quote(d, c) for c in columns)
    return f"INSERT INTO {quote(d, table)} ({cols}) VALUES "


def write_batch(conn: Connection, batch: Batch) -> int:
    """Insert ``batch`` (``(table, columns, rows)`` in dependency order) on ``conn``.

    :param conn: a connection inside the caller's transaction.
    :param batch: the tables' rows, parents before children.
    :returns: rows inserted.
    """
    total = 0
    mysql = conn.dialect.name in ("mysql", "mariadb")
    for table, columns, rows in batch:
        if not rows:
            continue
        head = _insert_sql(conn, table, columns)
        if mysql:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for start in range(0, len(rows), MYSQL_ROWS_PER_STATEMENT):
                    chunk = rows[start:start + MYSQL_ROWS_PER_STATEMENT]
                    values = ",".join(map(repr, chunk)).replace("None", "NULL")
                    cursor.execute(head + values)
            finally:
                cursor.close()
        else:
            marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"]
                              * len(columns))
            conn.exec_driver_sql(f"{head}({marks})", rows)
        total += len(rows)
    return total


class BulkWriter:
    """Sends batches from one background thread per database, in submission order each.

    :param engines: database key (shard name, ``analytics``) -> engine.
    :param on_written: called with the rows of each batch once it is committed (from a
        writer thread).
    :param depth: batches waiting per database at most (bounds memory; the generator waits).
    """

    def __init__(self, engines: Mapping[str, Engine], *,
                 on_written: Callable[[int], None] | None = None, depth: int = 2) -> None:
        self.engines = engines
        self.on_written = on_written
        self.depth = depth
        self.rows = 0
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[Batch | None]] = {}
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None

    def submit(self, key: str, batch: Batch) -> None:
        """Queue one transaction for database ``key``.

        :param key: a shard name or ``analytics``.
        :param batch: ``(table, columns, rows)`` in dependency order.
        :raises OperationError: an earlier batch failed.
        """
        self._raise_if_failed()
        if not any(rows for _, _, rows in batch):
            return
        if key not in self._queues:
            self._queues[key] = queue.Queue(maxsize=self.depth)
            thread = threading.Thread(target=self._run, args=(key, self._queues[key]),
                                      name=f"lmsdb-sample-{key}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._queues[key].put(batch)

    def close(self) -> int:
        """Wait for every queued batch; returns the rows written.

        :raises OperationError: a batch failed (later batches of that database were dropped).
        """
        self._stop()
        self._raise_if_failed()
        return self.rows

    def abort(self) -> None:
        """Stop after the batches in flight, dropping the queued ones; never raises."""
        self._error = self._error or OperationError("sample load aborted")
        for q in self._queues.values():
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
        self._stop()

    def _stop(self) -> None:
        for q in self._queues.values():
            q.put(None)
        for thread in self._threads:
            thread.join()
        self._queues, self._threads = {}, []

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is None or isinstance(error, OperationError):
            if error is not None:
                raise error
            return
        if isinstance(error, sa.exc.DBAPIError):
            raise OperationError(f"sample load failed: {short_reason(error)}") from error
        raise OperationError(f"sample load failed: {error}") from error

    def _run(self, key: str, q: queue.Queue[Batch | None]) -> None:
        engine = self.engines[key]
        while True:
            batch = q.get()
            if batch is None:
                return
            if self._error is not None:
                continue  # drain: the generator learns of the failure on its next submit
            try:
                with engine.begin() as conn:
                    bulk_session(conn, bulk=True)
                    try:
                        written = write_batch(conn, batch)
                    finally:
                        bulk_session(conn, bulk=False)  # the connection goes back to a pool
                with self._lock:
                    self.rows += written
                if self.on_written is not None:
                    self.on_written(written)
            except BaseException as exc:  # handed to the main thread
                self._error = exc


def bulk_session(conn: Connection, *, bulk: bool) -> None:
    """MySQL/MariaDB: skip (``bulk``) or restore foreign-key and unique checks.

    The generator guarantees both (and the tests check them on the loaded data), as a
    ``mysqldump`` file does when it sets the same variables.

    :param conn: a connection to a shard.
    :param bulk: ``True`` before the batch, ``False`` after it.
    """
    if conn.dialect.name in ("mysql", "mariadb"):
        value = 0 if bulk else 1
        # The generated timestamps are UTC; '+00:00' also spares the server the SYSTEM time
        # zone conversion of every TIMESTAMP value.
        zone = "'+00:00'" if bulk else "DEFAULT"
        conn.exec_driver_sql(f"SET SESSION foreign_key_checks = {value}, "
                             f"unique_checks = {value}, time_zone = {zone}")
