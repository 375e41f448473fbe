"""The data work of a move, one function per phase, on the source and destination engines.

Each function is idempotent from its own start, as :mod:`lms_db.fleet.steps` requires: the
copy resumes after the last primary key it recorded (deleting what an interrupted chunk
may have left beyond it), the catch-up deletes a changelog entry only after applying it,
the fence and the triggers are created only where missing, the delete selects what is
left.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.errors import FreezeTimeout, OperationError
from lms_db.moves import fence_set as fs
from lms_db.moves import key_chunks as kc
from lms_db.moves import rawcopy
from lms_db.moves import triggers as trg
from lms_db.moves.rows import (
    delete_pks,
    insert_rows,
    read_chunk,
    read_rows,
    upsert_rows,
    utc_session,
)
from lms_db.moves.same_server import SameServer
from lms_db.moves.same_server import copy_chunk as server_copy_chunk
from lms_db.moves.scope import TableScope
from lms_db.topology.engines import short_reason

log = logging.getLogger(__name__)

#: Changelog entries applied per catch-up batch.
APPLY_BATCH = 2_000
MYSQL_FAMILY = ("mysql", "mariadb")

Tick = Callable[[str, int], None]


@contextmanager
def data_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in UTC, returned to the pool without an open transaction.

    :param engine: a shard engine.
    """
    with engine.connect() as conn:
        utc_session(conn)
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """A write transaction on ``conn`` (SQLite: ``BEGIN IMMEDIATE``, so DDL inside it is
    part of it).

    :param conn: a connection with no transaction open.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _db_error(where: str, exc: sa.exc.DBAPIError) -> OperationError:
    return OperationError(f"{where}: {short_reason(exc)}")


# -- triggers --------------------------------------------------------------------------


def install_changelog(
    conn: Connection,
    move_id: int,
    scopes: Sequence[TableScope],
    lo: int,
    hi: int,
    lock_timeout: float,
) -> None:
    """Create the changelog triggers that are missing (before the copy reads a row).

    :raises OperationError: the table locks were not granted in ``lock_timeout`` seconds.
    """
    trg.ensure_move_tables(conn)
    conn.commit()
    try:
        _install(conn, "c", move_id, scopes, lo, hi, lock_timeout)
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        raise OperationError(
            f"installing the changelog triggers failed ({short_reason(exc)}; a lock wait "
            f"is bounded by {lock_timeout:g}s); nothing was copied yet: retry with "
            "lmsdb shard move --resume"
        ) from exc


def _set_lock_timeout(conn: Connection, seconds: float) -> None:
    name = conn.dialect.name
    if name in MYSQL_FAMILY:
        conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {max(1, math.ceil(seconds))}")
    elif name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(seconds * 1000))}ms'")
    else:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")


def _install(
    conn: Connection,
    kind: str,
    move_id: int,
    scopes: Sequence[TableScope],
    lo: int,
    hi: int,
    lock_timeout: float,
) -> None:
    build = trg.changelog_statements
    if conn.dialect.name in MYSQL_FAMILY:
        existing = trg.existing_triggers(conn)
        conn.commit()
        groups = []
        for scope in scopes:
            names = trg.trigger_names(conn, kind, move_id, scope)
            statements = build(conn, move_id, scope, lo, hi)
            groups.append(
                [st for name, st in zip(names, statements, strict=True) if name not in existing]
            )
        run_per_table(conn, groups, lock_timeout)  # DDL: waits for the table's open txns
        return
    with write_transaction(conn):
        _set_lock_timeout(conn, lock_timeout)
        existing = trg.existing_triggers(conn)
        for scope in scopes:
            if trg.trigger_names(conn, kind, move_id, scope)[0] not in existing:
                trg.run_all(conn, build(conn, move_id, scope, lo, hi))


def run_per_table(conn: Connection, groups: Sequence[Sequence[str]], lock_timeout: float) -> None:
    """Run MariaDB/MySQL DDL, one group of statements per table, in order on ``conn``.

    One connection on purpose: trigger DDL on several tables of one database at once
    (measured 1.5x faster) left stale ``<table>.TRG-`` backup files behind on MariaDB
    10.11, which then make ``DROP DATABASE`` fail ("Directory not empty").

    :param lock_timeout: seconds each statement may wait for its table's metadata lock.
    :raises sa.exc.DBAPIError: the first statement that failed.
    """
    _set_lock_timeout(conn, lock_timeout)
    for group in groups:
        trg.run_all(conn, group)
    conn.commit()


def _insert_fence(conn: Connection, row: dict[str, Any]) -> None:
    found = conn.execute(
        sa.select(trg.fences.c.move_id).where(trg.fences.c.move_id == row["move_id"])
    ).first()
    if found is None:
        conn.execute(trg.fences.insert().values(**row))


#: Seconds a trigger drop waits for the table's lock (a queued DROP would block writers).
DROP_LOCK_TIMEOUT = 10.0


def drop_triggers(conn: Connection, kind: str, move_id: int, scopes: Sequence[TableScope]) -> None:
    """Drop one kind of trigger of a move (``c`` changelog, ``f`` fence), if present.

    :raises OperationError: a table stayed locked longer than :data:`DROP_LOCK_TIMEOUT`
        (retry later with ``--resume``; what was dropped stays dropped).
    """
    try:
        if conn.dialect.name in MYSQL_FAMILY:
            groups = [trg.drop_statements(conn, kind, move_id, scope) for scope in scopes]
            run_per_table(conn, groups, DROP_LOCK_TIMEOUT)
            return
        with write_transaction(conn):
            _set_lock_timeout(conn, DROP_LOCK_TIMEOUT)
            for scope in scopes:
                trg.run_all(conn, trg.drop_statements(conn, kind, move_id, scope))
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        raise OperationError(
            f"dropping the move's triggers waited more than {DROP_LOCK_TIMEOUT:g}s for a "
            f"table lock ({short_reason(exc)}); retry with lmsdb shard move --resume "
            f"{move_id}"
        ) from exc


def install_fence(
    conn: Connection,
    move_id: int,
    scopes: Sequence[TableScope],
    keyspace: str,
    lo: int,
    hi: int,
    shard: str,
    timeout: float,
) -> None:
    """Create the fence: from now on the source refuses every write to the range.

    The tables' fence sets are rebuilt with the range added (waiting up to ``timeout``
    seconds for transactions that touched the tables before), then ``lmsdb_fences`` records
    it; on timeout the range is taken out of the fence sets again.

    :raises FreezeTimeout: the wait timed out (the fence is gone again).
    """
    row = {"move_id": move_id, "keyspace": keyspace, "lo": lo, "hi": hi, "shard": shard}
    try:
        with _fence_lock(conn):
            if not fenced(conn, move_id, scopes):
                others = [f for f in fs.keyspace_fences(conn, keyspace) if f[0] != move_id]
                conn.rollback()
                _rebuild_fences(
                    conn, scopes, sorted([*others, (move_id, lo, hi)], key=_lo), timeout
                )
            with write_transaction(conn):
                _insert_fence(conn, row)
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        reason = short_reason(exc)
        if conn.dialect.name in MYSQL_FAMILY:
            # MySQL DDL commits one statement at a time: take out what was added.  PostgreSQL
            # and SQLite rolled the whole fence back (a DROP would wait on the same locks).
            remove_fence(conn, move_id, scopes)
        if not _lock_wait(exc):
            raise OperationError(
                f"freeze of {keyspace} [{lo}, {hi}) on {shard} failed ({reason}); the fence "
                "was removed and the range serves writes again: retry with lmsdb shard move "
                "--resume"
            ) from exc
        raise FreezeTimeout(
            f"freeze of {keyspace} [{lo}, {hi}) on {shard}: open transactions held the "
            f"tables longer than {timeout:g}s ({reason}); the range serves writes again. "
            "Retry with lmsdb shard move --resume (or a longer --freeze-timeout)"
        ) from exc


def _lo(fence: fs.Fence) -> tuple[int, int]:
    return fence[1], fence[0]


@contextmanager
def _fence_lock(conn: Connection) -> Iterator[None]:
    """Serialize fence rebuilds of one shard (two moves rebuilding at once would each drop
    the other's new range).  PostgreSQL and SQLite serialize them by the table locks."""
    if conn.dialect.name not in MYSQL_FAMILY:
        yield
        return
    name = "lmsdb_fences"
    got = conn.exec_driver_sql(
        f"SELECT GET_LOCK(CONCAT(DATABASE(), '.{name}'), {int(DROP_LOCK_TIMEOUT)})"
    ).scalar()
    conn.commit()
    if got != 1:
        raise OperationError(
            f"another fence change on this shard held its lock more than {DROP_LOCK_TIMEOUT:g}s;"
            " retry with lmsdb shard move --resume"
        )
    try:
        yield
    finally:
        conn.rollback()
        conn.exec_driver_sql(f"SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.{name}'))")
        conn.commit()


def _rebuild_fences(
    conn: Connection, scopes: Sequence[TableScope], fences: Sequence[fs.Fence], timeout: float
) -> None:
    """Replace every table's fence set by one checking ``fences`` (see fence_set)."""
    legacy = [f[0] for f in fences]
    if conn.dialect.name in MYSQL_FAMILY:
        existing = trg.existing_triggers(conn)
        conn.commit()
        groups = [fs.rebuild_statements(conn, scope, fences, existing, legacy) for scope in scopes]
        # DDL: each CREATE waits for the table's open transactions.
        run_per_table(conn, groups, timeout)
        return
    with write_transaction(conn):
        _set_lock_timeout(conn, timeout)
        existing = trg.existing_triggers(conn)
        for scope in scopes:
            trg.run_all(conn, fs.rebuild_statements(conn, scope, fences, existing, legacy))


def _lock_wait(exc: sa.exc.DBAPIError) -> bool:
    """Whether a driver error is a lock wait that timed out (MySQL 1205, PostgreSQL
    ``lock_not_available``, SQLite's busy database)."""
    orig = exc.orig
    code = getattr(orig, "args", [None])[0] if orig is not None else None
    state = getattr(orig, "sqlstate", None)
    return code == 1205 or state == "55P03" or "database is locked" in str(orig)


def remove_fence(conn: Connection, move_id: int, scopes: Sequence[TableScope]) -> None:
    """Take a move's range out of the fence sets and drop its ``lmsdb_fences`` row.

    The row goes first: a crash in between leaves the range fenced (a refused write, never a
    lost one), and the next rebuild of the fence sets, from the rows, lifts it.

    :raises OperationError: a table stayed locked longer than :data:`DROP_LOCK_TIMEOUT`.
    """
    keyspace = scopes[0].keyspace
    try:
        with _fence_lock(conn):
            with write_transaction(conn):
                conn.execute(trg.fences.delete().where(trg.fences.c.move_id == move_id))
                rest = fs.keyspace_fences(conn, keyspace)
            _rebuild_fences(conn, scopes, rest, DROP_LOCK_TIMEOUT)
            _drop_legacy(conn, move_id, scopes)
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        raise OperationError(
            f"lifting the fence of move {move_id} waited more than {DROP_LOCK_TIMEOUT:g}s for "
            f"a table lock ({short_reason(exc)}); retry with lmsdb shard move --resume "
            f"{move_id}"
        ) from exc


def _drop_legacy(conn: Connection, move_id: int, scopes: Sequence[TableScope]) -> None:
    """Drop per-move fence triggers of older lmsdb versions for ``move_id``, if any."""
    existing = trg.existing_triggers(conn, f"lmsdb_f{int(move_id)}_")
    conn.rollback()
    if existing:
        drop_triggers(conn, "f", move_id, scopes)


def fenced(conn: Connection, move_id: int, scopes: Sequence[TableScope]) -> bool:
    """Whether the fence triggers of every table check the move's range now."""
    mark = fs.marker(move_id)
    texts = fs.fence_texts(conn)
    found = all(mark in texts.get(scope.name, "") for scope in scopes)
    conn.rollback()
    return found


# -- copy ------------------------------------------------------------------------------


def clear_range(
    conn: Connection, scope: TableScope, lo: int, hi: int, after: Any, chunk: int
) -> int:
    """Delete the destination's rows of the range with chunk-column value above ``after``
    (``None``: all of them; :mod:`lms_db.moves.key_chunks`): what an interrupted copy
    chunk or an abort leaves.

    :param conn: a connection to the destination (no fence there).
    """
    deleted = 0
    while True:
        with write_transaction(conn):
            upto = kc.next_upto(conn, scope, lo, hi, after, chunk)
            if upto is None:
                return deleted
            result = conn.execute(
                sa.delete(scope.table).where(*kc.chunk_where(scope, lo, hi, after, upto))
            )
            deleted += int(result.rowcount or 0)
        after = upto


def copy_table(
    src: Connection,
    dst: Connection,
    scope: TableScope,
    lo: int,
    hi: int,
    after: Any,
    chunk: int,
    on_chunk: Callable[[Any, int], None],
    upto: Any = None,
    same: SameServer | None = None,
) -> int:
    """Copy the range's rows of one table after chunk-column value ``after``, chunk by
    chunk (:mod:`lms_db.moves.key_chunks`).

    ``upto`` (the highest chunk-column value when the table's copy began) bounds it: rows
    with higher values are in the changelog, so a range that keeps growing at its top
    cannot keep the copy chasing it.

    :param on_chunk: called after each committed chunk with its last chunk-column value and
        row count (records progress, throttles, runs the crash hook).
    :param same: proof that both are one server (:mod:`lms_db.moves.same_server`): each
        chunk is then one server-side ``INSERT ... SELECT`` on the destination connection.
        Otherwise MySQL/MariaDB through PyMySQL copy raw text, reading ahead
        (:mod:`lms_db.moves.rawcopy`); other backends copy typed rows.
    :returns: rows copied.
    """
    copied = 0
    while same is not None:
        with write_transaction(dst):
            last, count = server_copy_chunk(dst, same, scope, lo, hi, after, chunk, upto)
        if last is None:
            return copied
        after = last
        copied += count
        on_chunk(after, count)
    if rawcopy.supported(src, dst):
        return rawcopy.copy_table(
            src, dst, scope, lo, hi, after, chunk, on_chunk, upto, write_transaction
        )
    while True:
        last = kc.next_upto(src, scope, lo, hi, after, chunk, top=upto)
        if last is None:
            src.commit()
            return copied
        rows = read_chunk(src, scope, lo, hi, after, last)
        src.commit()  # no snapshot held between chunks
        with write_transaction(dst):
            insert_rows(dst, scope.table, rows)
        after = last
        copied += len(rows)
        on_chunk(after, len(rows))


# -- catch-up --------------------------------------------------------------------------


def backlog(conn: Connection, move_id: int) -> int:
    """Changelog entries of the move still to apply."""
    count = conn.execute(
        sa.select(sa.func.count()).select_from(trg.changes).where(trg.changes.c.move_id == move_id)
    ).scalar_one()
    conn.rollback()
    return int(count)


def apply_changes(
    src: Connection,
    dst: Connection,
    move_id: int,
    scopes: Sequence[TableScope],
    lo: int,
    hi: int,
    batch: int = APPLY_BATCH,
) -> int:
    """Apply one batch of the changelog: re-read each changed row from the source; upsert
    it on the destination when it exists in the range, delete it there otherwise.

    The batch's rows are read in one snapshot (so parents and children agree), applied in
    one destination transaction (deletes children first, upserts parents first), and only
    then are exactly those entries deleted from the changelog: a crash in between applies
    them again, which changes nothing.

    :returns: the entries applied (0: the changelog is empty).
    """
    entries = src.execute(
        sa.select(trg.changes.c.id, trg.changes.c.table_name, trg.changes.c.pk)
        .where(trg.changes.c.move_id == move_id)
        .order_by(trg.changes.c.id)
        .limit(batch)
    ).all()
    src.rollback()
    if not entries:
        return 0
    by_name = {s.name: s for s in scopes}
    wanted: dict[str, set[Any]] = {}
    for _, table_name, pk in entries:
        scope = by_name[str(table_name)]
        # The changelog stores keys as text: back to the column's own type.
        value = int(pk) if scope.pk.type.python_type is int else str(pk)
        wanted.setdefault(scope.name, set()).add(value)
    found: dict[str, list[dict[str, Any]]] = {}
    with _snapshot(src):
        for name, pks in wanted.items():
            found[name] = read_rows(src, by_name[name], lo, hi, sorted(pks))
    with write_transaction(dst), _no_touch_triggers(dst, scopes):
        for scope in reversed(scopes):
            present = {row[scope.pk.name] for row in found.get(scope.name, [])}
            gone = wanted.get(scope.name, set()) - present
            delete_pks(dst, scope.table, sorted(gone))
        for scope in scopes:
            upsert_rows(dst, scope.table, found.get(scope.name, []))
    ids = [entry_id for entry_id, _, _ in entries]
    with write_transaction(src):
        for start in range(0, len(ids), 1000):
            src.execute(trg.changes.delete().where(trg.changes.c.id.in_(ids[start : start + 1000])))
    return len(entries)


@contextmanager
def _no_touch_triggers(conn: Connection, scopes: Sequence[TableScope]) -> Iterator[None]:
    """SQLite: the ``updated_at`` triggers left out of the apply transaction.

    They stamp the time of any UPDATE that leaves ``updated_at`` as it was, and SQLite's
    timestamps have whole seconds: two source updates within one second would reach the
    destination stamped with the move's time.  Dropped and re-created inside the write
    transaction (SQLite DDL is transactional, writers are serialized), no other writer ever
    runs without them.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    from lms_db.dialects.sqlite import touch_trigger

    present = {
        str(n)
        for n in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).scalars()
    }
    dropped = [s.table for s in scopes if f"trg_{s.name}_updated_at" in present]
    for table in dropped:
        conn.exec_driver_sql(f"DROP TRIGGER trg_{table.name}_updated_at")
    yield
    for table in dropped:
        conn.exec_driver_sql(touch_trigger(table))


@contextmanager
def _snapshot(conn: Connection) -> Iterator[None]:
    name = conn.dialect.name
    if name in MYSQL_FAMILY:
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
    elif name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    else:
        conn.exec_driver_sql("BEGIN")
    try:
        yield
    finally:
        conn.rollback()


def drop_changelog(conn: Connection, move_id: int, scopes: Sequence[TableScope]) -> None:
    """Drop the move's changelog triggers and entries (after the switch, or on abort)."""
    drop_triggers(conn, "c", move_id, scopes)
    with write_transaction(conn):
        conn.execute(trg.changes.delete().where(trg.changes.c.move_id == move_id))


# -- delete ----------------------------------------------------------------------------


def delete_source(
    conn: Connection,
    move_id: int,
    scopes: Sequence[TableScope],
    lo: int,
    hi: int,
    chunk: int,
    tick: Tick,
    verified: Mapping[str, Sequence[tuple[Any, int]]] | None = None,
) -> int:
    """Delete the moved rows from the source, children first, in chunks of the chunk
    column (:mod:`lms_db.moves.key_chunks`), passing the move's own fence.

    The range is fenced (static): a chunk's rows are a fixed set.  Each chunk deletes and
    compares in one transaction; a difference (a writer got past the fence) rolls the chunk
    back and stops.  With ``verified`` (the source chunks a clean verify pass of this run
    counted, :data:`lms_db.moves.verify.SourceChunks`), a table's chunks are those, each
    expected to delete exactly its verified count: any change to the source's rows since
    the verify shows, and no query cuts or counts the chunk.  Without (a resumed delete:
    chunks done before a crash are gone), each chunk is cut anew and counted before its
    delete in the same transaction (a change racing the chunk shows).

    :param tick: called with ``(table, rows)`` after each committed chunk.
    :param verified: per table, ``(upto, rows)`` per chunk (``upto`` ``None``: open above).
    :returns: rows deleted.
    :raises OperationError: a chunk deleted other rows than it expected (nothing of it done).
    """
    is_fenced = fenced(conn, move_id, scopes)
    total = 0
    for scope in reversed(scopes):
        planned = verified.get(scope.name) if verified is not None else None
        pending = iter(planned) if planned is not None else None
        after = None
        while True:
            if pending is not None:
                upto, expected = next(pending, (after, -1))
                if expected < 0:
                    break
            with (
                write_transaction(conn),
                fs.fence_bypass(conn, move_id, scopes, is_fenced),
            ):
                if pending is not None:
                    where = kc.chunk_where(scope, lo, hi, after, upto)
                    what = f"the verify counted {expected}"
                else:
                    upto = kc.next_upto(conn, scope, lo, hi, after, chunk)
                    if upto is None:
                        break
                    where = kc.chunk_where(scope, lo, hi, after, upto)
                    expected = conn.execute(
                        sa.select(sa.func.count()).select_from(scope.table).where(*where)
                    ).scalar_one()
                    what = f"{expected} were counted"
                deleted = int(conn.execute(sa.delete(scope.table).where(*where)).rowcount or 0)
                if deleted != expected:
                    raise OperationError(
                        f"delete of {scope.name} rows with {kc.chunk_column(scope).name} in "
                        f"({'-inf' if after is None else after}, "
                        f"{'+inf)' if upto is None else f'{upto}]'} removed {deleted} rows, "
                        f"{what}; rolled back and stopping"
                    )
            total += deleted
            tick(scope.name, deleted)
            after = upto
    return total


def wait(seconds: float) -> None:
    """Sleep (the throttle between chunks)."""
    if seconds > 0:
        time.sleep(seconds)
