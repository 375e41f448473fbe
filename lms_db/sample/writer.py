"""Bulk writes for the sample loader, off the main thread: one writer thread per database.

Rows are tuples of ``int``/``str``/``bool``/``None``.  Each backend gets its fastest path:

- MySQL/MariaDB (server with ``local_infile`` on, the MariaDB default): each row is rendered
  to a tab-separated line as the generator appends it (:class:`TextRows`), each round's
  lines go to a spool file per table, and each file is loaded with one
  ``LOAD DATA LOCAL INFILE`` once the generator is done (or once it holds
  :data:`SEGMENT_ROWS` rows), in a transaction of its own.  Loaded into an empty table in
  one statement with ``unique_checks`` and ``foreign_key_checks`` off, InnoDB builds the
  table in bulk (sorted, with table-level undo) instead of row by row: about a third less
  server CPU than the same rows as multi-row ``INSERT`` batches, which matters when the
  loader and the server share the cores (``docs/benchmarks.md``).  The text is ``%s``
  formatting, then ``None``/``True``/``False`` turned into ``\\N``/``1``/``0`` over the
  whole text; it holds because the generator emits only ASCII words without tabs,
  newlines, quotes, backslashes or the words ``None``, ``True`` and ``False``
  (:mod:`lms_db.sample.words`; ``tests/backend/test_sample.py`` parses the text of every
  table back).  ``LOCAL`` turns the server's data errors into warnings (as ``IGNORE``
  would), so a file must load every row with no warning, or its transaction is rolled back
  and the load fails.  The writer opens connections of its own with the client's
  ``local_infile`` flag and runs only its own statements on them (a server that is asked
  to load a file may ask the client for any file: these connections go to the topology's
  own shards only).
- MySQL/MariaDB with ``local_infile`` off: multi-row ``INSERT`` statements rendered with
  ``repr`` (Python's quoting of these values is valid MySQL, ``None`` becoming ``NULL``).
- PostgreSQL: ``COPY ... FROM STDIN`` through psycopg.
- SQLite: the driver's ``executemany`` with bound parameters.

Without spooling, each submitted batch is one transaction, sent while the main thread
generates the next ones.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.config import DEFAULT_CONNECT_TIMEOUT
from lms_db.dialects import quote
from lms_db.dialects.facts import is_mysql_family
from lms_db.errors import OperationError, ServerLost
from lms_db.topology.engines import connect_args_for
from lms_db.topology.failures import describe, is_server_gone

log = logging.getLogger(__name__)

#: Rows per ``INSERT`` statement on MySQL/MariaDB without ``local_infile`` (under a 16 MiB
#: packet).
MYSQL_ROWS_PER_STATEMENT = 4_000
#: A spool file is loaded once it holds this many rows (bounds the disk it takes, and the
#: size of one transaction; later files of a table load into a non-empty table, row by row).
SEGMENT_ROWS = 500_000


def _escape_words(text: str) -> str:
    """``None``/``True``/``False`` of ``%s``-rendered rows as ``LOAD DATA`` wants them."""
    return text.replace("None", "\\N").replace("True", "1").replace("False", "0")


class TextRows:
    """One table's rows as ``LOAD DATA`` lines, each rendered as it is appended.

    A drop-in for the list the generator appends rows to (``append``, ``len``): formatting a
    row right after it was built, while its values are still in the CPU's cache, costs a
    fraction of rendering the same rows once a whole round of them has been generated, and
    no tuple is kept.  See :func:`render_tsv` for what the text relies on.

    :param width: columns per row.
    """

    __slots__ = ("append", "lines", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[str] = []
        line, add = "\t".join(["%s"] * width), self.lines.append
        self.append: Callable[[tuple[object, ...]], None] = lambda row: add(line % row)

    def __len__(self) -> int:
        return len(self.lines)

    def extend(self, rows: TextRows | Sequence[tuple[object, ...]]) -> None:
        """Append more rows (or the lines of another :class:`TextRows`)."""
        if isinstance(rows, TextRows):
            self.lines.extend(rows.lines)
        else:
            for row in rows:
                self.append(row)

    def text(self) -> str:
        """The lines as one ``LOAD DATA`` text."""
        return _escape_words("\n".join(self.lines) + "\n") if self.lines else ""


#: A table's rows in a batch: tuples, or (for a database that takes text, see
#: :meth:`BulkWriter.takes_text`) their lines.
Rows = list[tuple[object, ...]] | TextRows
#: ``(table, columns, rows)`` of one or more tables, parents first.
Batch = list[tuple[str, Sequence[str], Rows]]


def _insert_sql(conn: Connection, table: str, columns: Sequence[str]) -> str:
    d = conn.dialect
    cols = ", ".join(quote(d, c) for c in columns)
    return f"INSERT INTO {quote(d, table)} ({cols}) VALUES "


def render_tsv(rows: Sequence[tuple[object, ...]]) -> str:
    """``rows`` as ``LOAD DATA`` text: tab-separated, ``\\N`` for ``None``, ``1``/``0`` for
    booleans, one line each (see the module's note on the values this relies on).

    :param rows: rows of the same length.
    """
    if not rows:
        return ""
    line = "\t".join(["%s"] * len(rows[0]))
    return _escape_words("\n".join(map(line.__mod__, rows)) + "\n")


def write_batch(conn: Connection, batch: Batch) -> int:
    """Insert ``batch`` (``(table, columns, rows)`` in dependency order) on ``conn``.

    :param conn: a connection inside the caller's transaction.
    :param batch: the tables' rows, parents before children.
    :returns: rows inserted.
    """
    total = 0
    name = conn.dialect.name
    for table, columns, rows in batch:
        if not rows:
            continue
        if isinstance(rows, TextRows):
            raise TypeError(f"{table}: text rows go to a database that takes text only")
        if is_mysql_family(name):
            head = _insert_sql(conn, table, columns)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for start in range(0, len(rows), MYSQL_ROWS_PER_STATEMENT):
                    chunk = rows[start : start + MYSQL_ROWS_PER_STATEMENT]
                    values = ",".join(map(repr, chunk)).replace("None", "NULL")
                    cursor.execute(head + values)
            finally:
                cursor.close()
        elif name == "postgresql":
            _copy(conn, table, columns, rows)
        else:
            head = _insert_sql(conn, table, columns)
            marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(columns))
            conn.exec_driver_sql(f"{head}({marks})", rows)
        total += len(rows)
    return total


def load_file(conn: Connection, table: str, columns: Sequence[str], path: Path, rows: int) -> None:
    """``LOAD DATA LOCAL INFILE`` of ``path`` (:func:`render_tsv` text) into ``table``.

    :param conn: a MySQL/MariaDB connection opened with the ``local_infile`` flag, inside
        the caller's transaction.
    :param table: the table.
    :param columns: the file's columns, in order.
    :param path: the file.
    :param rows: lines in the file: exactly these must load.
    :raises OperationError: a row was left out or the server warned (``LOCAL`` downgrades
        data errors to warnings); the caller rolls back.
    """
    d = conn.dialect
    cols = ", ".join(quote(d, c) for c in columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        loaded = cursor.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote(d, table)} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
            f"({cols})",
            (str(path),),
        )
        warnings = getattr(cursor, "warning_count", None)
        if warnings is None:
            cursor.execute("SELECT @@warning_count")
            warnings = cursor.fetchone()[0]
        if warnings or loaded != rows:
            cursor.execute("SHOW WARNINGS LIMIT 1")
            first = cursor.fetchone()
            detail = f": {first[2]}" if first else ""
            raise OperationError(
                f"loading {table}: {loaded} of {rows} rows, {warnings} warning(s){detail}"
            )
    finally:
        cursor.close()


def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    d = conn.dialect
    cols = ", ".join(quote(d, c) for c in columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {quote(d, table)} ({cols}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
    finally:
        cursor.close()


def loader_engine(engine: Engine) -> Engine | None:
    """MySQL/MariaDB: an engine like ``engine`` whose connections may send
    ``LOAD DATA LOCAL`` files (the client's ``local_infile`` flag); ``None`` elsewhere.

    Only the bulk writer uses it, for its own statements; it keeps no idle connections.

    :param engine: a shard's (or the analytics database's) engine.
    """
    if not is_mysql_family(engine.dialect.name) or engine.dialect.driver != "pymysql":
        return None
    args = {**connect_args_for(engine.url, DEFAULT_CONNECT_TIMEOUT), "local_infile": True}
    return sa.create_engine(engine.url, connect_args=args, poolclass=sa.pool.NullPool)


class _Spool:
    """Rows of one table waiting for ``LOAD DATA``: a file of their text and its line count."""

    def __init__(self, path: Path, table: str, columns: Sequence[str]) -> None:
        self.path, self.table, self.columns = path, table, columns
        self.rows = 0
        self._file = path.open("wb")

    def append(self, rows: Rows) -> None:
        text = rows.text() if isinstance(rows, TextRows) else render_tsv(rows)
        self._file.write(text.encode())
        self.rows += len(rows)

    def close(self) -> None:
        self._file.close()


#: What a writer thread is handed: a batch to write now, or a spool file to load.
_Job = tuple[Batch | None, _Spool | None]


class _Target:
    """One database: its connection, spool files (``LOAD DATA`` mode) and writer thread."""

    def __init__(self, key: str, conn: Connection, spool_dir: Path | None, depth: int) -> None:
        self.key, self.conn, self.spool_dir = key, conn, spool_dir
        self.spools: dict[str, _Spool] = {}
        self.files = 0
        # Batches wait in memory (at most ``depth``); spool jobs are only file names.
        self.queue: queue.Queue[_Job | None] = queue.Queue(
            maxsize=depth if spool_dir is None else 0
        )
        self.thread: threading.Thread | None = None

    def spool(self, table: str, columns: Sequence[str]) -> _Spool:
        current = self.spools.get(table)
        if current is None:
            assert self.spool_dir is not None
            self.files += 1
            name = f"{self.key.replace(os.sep, '_')}-{self.files}-{table}.tsv"
            current = self.spools[table] = _Spool(self.spool_dir / name, table, columns)
        return current


class BulkWriter:
    """Writes submitted rows with one background thread (and connection) per database.

    MySQL/MariaDB with ``local_infile``: rows are spooled to a file per table and loaded
    when :meth:`close` is called (or a file is full), each file in a transaction of its
    own.  Elsewhere each batch is a transaction, written in submission order.

    :param engines: database key (shard name, ``analytics``) -> engine.
    :param on_written: called with the rows of each committed transaction (from a writer
        thread).
    :param depth: jobs waiting per database at most (bounds memory; the generator waits).
    :param segment_rows: rows after which a spool file is loaded.
    """

    def __init__(
        self,
        engines: Mapping[str, Engine],
        *,
        on_written: Callable[[int], None] | None = None,
        depth: int = 2,
        segment_rows: int = SEGMENT_ROWS,
    ) -> None:
        self.engines = engines
        self.on_written = on_written
        self.depth = depth
        self.segment_rows = segment_rows
        self.rows = 0
        self._lock = threading.Lock()
        self._targets: dict[str, _Target] = {}
        self._error: BaseException | None = None
        self._error_key: str | None = None
        self._stack = ExitStack()
        self._scratch: Path | None = None

    def submit(self, key: str, batch: Batch) -> None:
        """Hand over the rows of one batch for database ``key``.

        :param key: a shard name or ``analytics``.
        :param batch: ``(table, columns, rows)`` in dependency order.
        :raises OperationError: an earlier write failed, or the database cannot be reached.
        """
        self._raise_if_failed()
        if not any(rows for _, _, rows in batch):
            return
        target = self._targets.get(key) or self._start(key, *self._connect(key))
        if target.spool_dir is None:
            target.queue.put((batch, None))
            return
        for table, columns, rows in batch:
            if not rows:
                continue
            spool = target.spool(table, columns)
            spool.append(rows)
            if spool.rows >= self.segment_rows:
                del target.spools[table]
                spool.close()
                target.queue.put((None, spool))

    def takes_text(self, key: str) -> bool:
        """Whether batches for ``key`` may carry :class:`TextRows` (it loads files).

        :param key: a database :meth:`open` connected to.
        """
        return self._targets[key].spool_dir is not None

    def open(self, keys: Sequence[str]) -> None:
        """Connect to the databases ``keys`` now, all at once (else on their first batch).

        :raises OperationError: a database cannot be reached.
        """
        todo = [k for k in dict.fromkeys(keys) if k not in self._targets]
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            opened = list(pool.map(self._connect, todo))
        for key, (conn, spool_dir) in zip(todo, opened, strict=True):
            self._start(key, conn, spool_dir)

    def close(self) -> int:
        """Load what is spooled and wait for every write; returns the rows written.

        :raises OperationError: a write failed (later writes of that database were dropped).
        """
        for target in self._targets.values():
            for spool in target.spools.values():
                spool.close()
                if self._error is None:
                    target.queue.put((None, spool))
            target.spools = {}
        self._stop()
        self._raise_if_failed()
        return self.rows

    def abort(self) -> None:
        """Stop after the writes in flight, dropping the rest; never raises."""
        self._error = self._error or OperationError("sample load aborted")
        for target in self._targets.values():
            while True:
                try:
                    target.queue.get_nowait()
                except queue.Empty:
                    break
            for spool in target.spools.values():
                spool.close()
            target.spools = {}
        self._stop()

    def _connect(self, key: str) -> tuple[Connection, Path | None]:
        """A session for ``key``'s writes, and the spool directory when it takes files."""
        engine = self.engines[key]
        loader = loader_engine(engine)
        with self._lock:
            if loader is not None:
                self._stack.callback(loader.dispose)
        try:
            conn = (loader or engine).connect()
        except sa.exc.DBAPIError as exc:
            raise self._failure(key, exc) from exc
        with self._lock:
            self._stack.enter_context(conn)
        try:
            spool_dir = None
            if loader is not None and conn.exec_driver_sql("SELECT @@local_infile").scalar():
                spool_dir = self._spool_dir()
            bulk_session(conn, bulk=True)
            conn.commit()
        except sa.exc.DBAPIError as exc:
            raise self._failure(key, exc) from exc
        with self._lock:
            # The connection may go back to a pool (a MySQL one is the writer's own).
            self._stack.callback(_restore, conn)
        return conn, spool_dir

    def _start(self, key: str, conn: Connection, spool_dir: Path | None) -> _Target:
        target = self._targets[key] = _Target(key, conn, spool_dir, self.depth)
        target.thread = threading.Thread(
            target=self._run, args=(target,), name=f"lmsdb-sample-{key}", daemon=True
        )
        target.thread.start()
        return target

    def _spool_dir(self) -> Path:
        with self._lock:
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="lmsdb-sample-"))
                self._stack.callback(shutil.rmtree, self._scratch, ignore_errors=True)
            return self._scratch

    def _stop(self) -> None:
        for target in self._targets.values():
            target.queue.put(None)
        for target in self._targets.values():
            if target.thread is not None:
                target.thread.join()
        self._targets = {}
        self._stack.close()
        self._scratch = None

    def _failure(self, key: str, exc: BaseException) -> OperationError:
        """One line naming the database, what happened and what was kept."""
        url = self.engines[key].url
        shown = url.render_as_string(hide_password=True)
        reason = describe(exc, url.password if isinstance(url.password, str) else None)
        if is_server_gone(exc):
            return ServerLost(
                f"sample load: {key} ({shown}): lost the server ({reason}); the "
                "transactions committed before stay: check the server, then "
                "see lmsdb shard status"
            )
        return OperationError(
            f"sample load: {key} ({shown}): {reason}; the transactions committed before stay"
        )

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is None or isinstance(error, OperationError):
            if error is not None:
                raise error
            return
        raise self._failure(self._error_key or "?", error) from error

    def _run(self, target: _Target) -> None:
        conn = target.conn
        while True:
            job = target.queue.get()
            if job is None:
                return
            batch, spool = job
            try:
                if self._error is not None:
                    continue  # drain: the generator learns of the failure on its next submit
                with conn.begin():
                    if spool is not None:
                        load_file(conn, spool.table, spool.columns, spool.path, spool.rows)
                        written = spool.rows
                    else:
                        assert batch is not None
                        written = write_batch(conn, batch)
                with self._lock:
                    self.rows += written
                if self.on_written is not None:
                    self.on_written(written)
            except BaseException as exc:  # handed to the main thread
                self._error, self._error_key = exc, target.key
            finally:
                if spool is not None:
                    spool.path.unlink(missing_ok=True)


def _restore(conn: Connection) -> None:
    try:
        bulk_session(conn, bulk=False)
        conn.commit()
    except sa.exc.DBAPIError:  # the load's own error is what the caller needs to see
        log.debug("could not restore the session of a sample writer", exc_info=True)


def bulk_session(conn: Connection, *, bulk: bool) -> None:
    """MySQL/MariaDB: skip (``bulk``) or restore foreign-key and unique checks.

    The generator guarantees both (and the tests check them on the loaded data), as a
    ``mysqldump`` file does when it sets the same variables.  With both off, InnoDB also
    builds a table that is empty when a transaction starts loading it in bulk (sorted),
    instead of row by row.

    :param conn: a connection to a shard.
    :param bulk: ``True`` before the load, ``False`` after it.
    """
    if is_mysql_family(conn.dialect.name):
        value = 0 if bulk else 1
        # The generated timestamps are UTC; '+00:00' also spares the server the SYSTEM time
        # zone conversion of every TIMESTAMP value.
        zone = "'+00:00'" if bulk else "DEFAULT"
        conn.exec_driver_sql(
            f"SET SESSION foreign_key_checks = {value}, unique_checks = {value}, time_zone = {zone}"
        )
