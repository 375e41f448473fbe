"""Taking a chunk: its rows are read by the statements that delete them, in a transaction
that commits only once their object is stored and verified.

One transaction per chunk, on a connection of its own (a run keeps two, so chunk N+1 can be
taken while chunk N's object is uploaded):

1. the candidate ids: up to ``limit`` parent keys after the cursor that pass the filter and
   have no blocking child (a plain read: it locks nothing, so it never waits on the
   application's rows it walks past);
2. those parents read under ``FOR UPDATE`` by exact key, the filter applied again to the
   locked rows (a row changed since step 1 is left out); from here on a writer adding a
   child waits, since its foreign-key check needs the parent row we hold;
3. no blocking child may have appeared (else the transaction starts over: the next
   candidate read leaves that parent out);
4. the children deleted, each ``DELETE ... RETURNING`` the rows it removed, read as the
   archive reads rows (raw text on MariaDB); without ``RETURNING`` (MySQL) they are read
   under ``FOR UPDATE`` and deleted with their count checked;
5. the parents deleted by key, the count checked.

On MariaDB (``RETURNING``, and the takers' foreign-key checks off, so no cascade fires)
steps 2 and 5 are one statement, first: the parents are deleted by exact key ``RETURNING``
their rows and, per row, whether it still passes the filter.  A row that no longer does
makes the take start over (rolled back, nothing lost); one deleted meanwhile is simply not
in the chunk.  That saves the locked read of every parent row.  The filter is returned
rather than put in the ``WHERE``: MariaDB's ``DELETE`` takes no index hint, and a filter
on an indexed column could make it scan that index into the other chunk's locked rows.

The rows read are the rows deleted: nothing can change them in between, so no second
read or comparison is needed.  The caller commits after the object is verified; a crash or
an error before that rolls the transaction back and every row is still in its table.
``--no-delete`` reads the same rows in one snapshot instead and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.archive.chunks import (
    candidate_ids,
    check_count,
    in_pk_order,
    member_of,
    read_candidates,
    read_chunk,
)
from lms_db.archive.codec import Chunk, Row
from lms_db.archive.errors import ArchiveRefused
from lms_db.archive.filters import RowFilter
from lms_db.archive.guarded_delete import blocked
from lms_db.archive.hooks import pause_point
from lms_db.archive.tables import ArchiveGroup, select_rows
from lms_db.errors import OperationError
from lms_db.fleet.raw_columns import read_columns

#: Times a take starts over when the rows changed under it (a parent turned ineligible or
#: gained a blocking child between the candidate read and the lock) before it gives up.
RETRIES = 20
#: Seconds a taker's statement waits for a row lock before its take is given up and
#: retried (see :class:`LockWait`).
LOCK_WAIT = 2

MYSQL_FAMILY = ("mysql", "mariadb")


class LockWait(Exception):
    """A take waited :data:`LOCK_WAIT` seconds for a row lock and was rolled back.

    The holder may be the run's own other chunk, open until its object is verified (the
    one thread that would commit it is the one waiting): the caller commits that chunk
    first, then takes again.  Otherwise it is another session, and the take is retried."""


class ChunkTaker:
    """One connection on which chunks are taken, one open transaction at a time."""

    def __init__(
        self,
        conn: Connection,
        group: ArchiveGroup,
        row_filter: RowFilter,
        *,
        delete: bool,
        returning: bool | None = None,
        parent_first: bool = False,
    ) -> None:
        """:param returning: delete the children with ``DELETE ... RETURNING`` (``None``:
            where the dialect has it; MySQL has not).
        :param parent_first: MariaDB: delete the parents first, returning their rows (see
            the module's docstring); only on a session with foreign-key checks off.
        """
        self.conn = conn
        self.returning = bool(conn.dialect.delete_returning) if returning is None else returning
        if parent_first and not _foreign_key_checks_off(conn):
            raise ValueError("parent_first needs a session with foreign_key_checks = 0")
        self.parent_first = parent_first
        self.group = group
        self.row_filter = row_filter
        self.delete = delete
        self.dialect = conn.dialect.name
        self._open = False
        #: The candidate keys of the last try of the last take.
        self.candidates: list[int] = []

    def take(
        self,
        after: int | None,
        limit: int,
        *,
        scouted: list[int] | None = None,
        on_candidates: Callable[[list[int]], None] | None = None,
    ) -> Chunk | None:
        """The next chunk after parent key ``after``, its rows deleted (unless
        ``--no-delete``) in a transaction left open.  ``None``: no rows left (and no
        transaction open).

        :param scouted: candidate keys read ahead (:mod:`lms_db.archive.scout`), used by
            the first try instead of reading them here; a try that starts over reads anew.
        :param on_candidates: called with each try's candidate keys (in key order) once
            they are known, before any row is locked or deleted.
        """
        self.candidates = []
        for attempt in range(RETRIES):
            self._begin()
            try:
                if attempt == 0 and scouted is not None:
                    ids = scouted
                else:
                    ids = candidate_ids(self.conn, self.group, self.row_filter, after, limit)
                self.candidates = ids
                if ids and on_candidates is not None:
                    on_candidates(ids)
                if not ids:
                    self.rollback()
                    return None
                if not self.delete:
                    return self._read(ids)
                chunk = self._take(ids)
            except sa.exc.DBAPIError as exc:
                self.rollback()
                if _lock_wait(exc):
                    raise LockWait from exc
                raise
            if chunk is not None:
                return chunk
            self.rollback()
        raise OperationError(
            f"{self.group.parent.name}: its rows kept changing while the archive took them "
            f"({RETRIES} tries); nothing of that chunk was deleted: rerun"
        )

    def commit(self) -> None:
        """Make the chunk's delete permanent (``--no-delete``: end its snapshot)."""
        if self._open:
            self._open = False
            if self.delete:
                self.conn.commit()
            else:
                self.conn.rollback()

    def rollback(self) -> None:
        if self._open:
            self._open = False
            self.conn.rollback()

    # -- the steps ---------------------------------------------------------------------------

    def _begin(self) -> None:
        if self.dialect == "sqlite":
            # The database's write lock from the start: no writer slips in after the read.
            self.conn.exec_driver_sql("BEGIN IMMEDIATE" if self.delete else "BEGIN")
        else:
            self.conn.begin()
        self._open = True

    def _read(self, ids: Sequence[int]) -> Chunk:
        """``--no-delete``: the chunk read in this transaction's snapshot."""
        parent = self.group.parent
        query = (
            select_rows(parent, self.dialect)
            .where(member_of(self.group, parent, ids))
            .order_by(parent.c[self.group.pk])
        )
        parents, types = read_candidates(self.conn, query, parent)
        return read_chunk(self.conn, self.group, parents, parent_types=types)

    def _take(self, ids: Sequence[int]) -> Chunk | None:
        """Lock the parents, then delete children and parents returning their rows.
        ``None``: the rows changed since the candidate read (start over)."""
        if self.parent_first and self.returning:
            return self._take_parents_first(ids)
        group, conn = self.group, self.conn
        parent = group.parent
        locked = (
            select_rows(parent, self.dialect)
            .where(member_of(group, parent, ids), *self.row_filter.clauses(parent, self.dialect))
            .order_by(parent.c[group.pk])
        )
        if self.dialect != "sqlite":
            locked = locked.with_for_update()
        for name in MYSQL_FAMILY:
            # By primary key: through the filter's status index the scan would start at
            # that index's first entry and wait on the previous chunk's deleted entries.
            locked = locked.with_hint(parent, "FORCE INDEX (PRIMARY)", name)
        parents, parent_types = read_candidates(conn, locked, parent)
        ids = self._keys(parents)
        if len(ids) != len(set(ids)) or not ids or blocked(conn, group, ids):
            return None
        taken = self._take_children(ids, {parent.name: parents}, parent_types)
        pause_point("delete:children")
        deleted = conn.execute(sa.delete(parent).where(member_of(group, parent, ids))).rowcount
        check_count(deleted, len(ids), parent.name)
        return self._chunk(*taken)

    def _take_parents_first(self, ids: Sequence[int]) -> Chunk | None:
        """MariaDB: the parents deleted by key returning their rows and whether each still
        passes the filter, then the children.  ``None``: start over."""
        group, conn = self.group, self.conn
        parent = group.parent
        clauses = self.row_filter.clauses(parent, self.dialect)
        passes = sa.and_(*clauses) if clauses else sa.true()
        statement = (
            sa.delete(parent)
            .where(member_of(group, parent, ids))
            .returning(*read_columns(parent, self.dialect), passes.label("lmsdb_passes"))
        )
        found, found_types = read_candidates(conn, statement, parent)
        if not found or not _all_true({row[-1] for row in found}):
            return None  # a parent changed since the candidate read: roll back
        parents = in_pk_order(parent, [row[:-1] for row in found])
        taken = self._keys(parents)
        if blocked(conn, group, taken):
            return None
        types = found_types[:-1] if found_types is not None else None
        pause_point("delete:children")
        return self._chunk(*self._take_children(taken, {parent.name: parents}, types))

    def _keys(self, parents: Sequence[Row]) -> list[int]:
        """The primary keys of ``parents`` (rows of the parent table)."""
        index = [c.name for c in self.group.parent.columns].index(self.group.pk)
        return [int(r[index]) for r in parents]

    def _take_children(
        self, ids: Sequence[int], rows: dict[str, list[Row]], parent_types: list[int] | None
    ) -> tuple[dict[str, list[Row]], dict[str, list[int]] | None]:
        """Delete the chunk's children returning (or locking, then counting) their rows;
        ``rows`` (the parents') and their type codes with the children's added."""
        group, conn = self.group, self.conn
        parent = group.parent
        types = {parent.name: parent_types} if parent_types is not None else None
        for child in reversed(group.children):
            table = child.table
            where = member_of(group, table, ids)
            if self.returning:
                statement: sa.Executable = (
                    sa.delete(table).where(where).returning(*read_columns(table, self.dialect))
                )
                found, found_types = read_candidates(conn, statement, table)
            else:
                query = select_rows(table, self.dialect).where(where).with_for_update()
                found, found_types = read_candidates(conn, query, table)
                removed = conn.execute(sa.delete(table).where(where)).rowcount
                check_count(removed, len(found), table.name)
            rows[table.name] = in_pk_order(table, found)
            if types is not None and found_types is not None:
                types[table.name] = found_types
        return rows, types

    def _chunk(self, rows: dict[str, list[Row]], types: dict[str, list[int]] | None) -> Chunk:
        """The chunk of ``rows`` (every table of the group), tables in the group's order."""
        columns = {t.name: [c.name for c in t.columns] for t in self.group.tables}
        ordered = {t.name: rows[t.name] for t in self.group.tables}  # parents, then children
        return Chunk(columns, ordered, types=types)


def _all_true(results: set[Any]) -> bool:
    """The filter's results MariaDB returned per row are all true (raw ``"1"``; ``"0"``,
    and ``None`` for NULL, are not)."""
    return all(value is not None and str(value) != "0" for value in results)


def _foreign_key_checks_off(conn: Connection) -> bool:
    if conn.dialect.name not in MYSQL_FAMILY:
        return False
    return str(conn.exec_driver_sql("SELECT @@SESSION.foreign_key_checks").scalar()) == "0"


def _lock_wait(exc: sa.exc.DBAPIError) -> bool:
    """A lock wait timeout: MySQL/MariaDB error 1205, PostgreSQL ``lock_not_available``."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "55P03":
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] == 1205


def covered_foreign_keys(conn: Connection, group: ArchiveGroup) -> None:
    """Refuse a live foreign key to the parent table that the models do not declare.

    A taker deletes with foreign-key checks off (MySQL/MariaDB): the parents are locked
    first, their children deleted, and no blocking child can appear, so the checks would
    only add their cost and their lock on the next child's index entry (which chunk N+1
    needs while chunk N is open).  That holds for the foreign keys the archive group knows;
    one added to the database behind the models' back would be left dangling, so the run
    refuses instead.
    """
    if conn.dialect.name not in MYSQL_FAMILY:
        return
    known = {(c.table.name, c.column) for c in (*group.children, *group.blockers)}
    live = conn.execute(
        sa.text(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE REFERENCED_TABLE_SCHEMA = DATABASE() AND TABLE_SCHEMA = DATABASE() "
            "AND REFERENCED_TABLE_NAME = :parent"
        ),
        {"parent": group.parent.name},
    ).all()
    unknown = sorted({(str(t), str(c)) for t, c in live} - known)
    if unknown:
        names = ", ".join(f"{t}.{c}" for t, c in unknown)
        raise ArchiveRefused(
            f"{group.parent.name}: the database has foreign keys to it that the models do "
            f"not declare ({names}); archiving could orphan those rows. Bring the schema "
            "in line with the models (lmsdb migrate, lmsdb lint) first"
        )


@contextmanager
def takers(
    engine: Engine, group: ArchiveGroup, row_filter: RowFilter, *, delete: bool, count: int
) -> Iterator[list[ChunkTaker]]:
    """``count`` takers, each on a connection of its own held for the whole run.  Leaving
    rolls back whatever is still open (an error or an interrupt: nothing unverified is
    ever committed)."""
    # READ COMMITTED: a locking read then holds only the rows it returns (no gap locks
    # beside them), so the two takers' chunks never wait on each other.  --no-delete
    # reads each chunk in one snapshot instead.
    level: dict[str, Any] = {}
    if engine.dialect.name != "sqlite":
        level = {"isolation_level": "READ COMMITTED" if delete else "REPEATABLE READ"}
    conns: list[Connection] = []
    out: list[ChunkTaker] = []
    try:
        for _ in range(count):
            conn = engine.connect().execution_options(**level)
            conns.append(conn)
            if delete:
                _session(conn)
            # MariaDB's takers delete parents first (foreign-key checks off: no cascade).
            first = delete and engine.dialect.name in MYSQL_FAMILY and conn.dialect.delete_returning
            out.append(ChunkTaker(conn, group, row_filter, delete=delete, parent_first=first))
            if first:
                conn.rollback()  # the check of the session's setting began a transaction
        if delete and conns:
            covered_foreign_keys(conns[0], group)
            conns[0].rollback()
        yield out
    finally:
        for taker in out:
            with suppress(Exception):  # a dead connection rolls back on the server
                taker.rollback()
        for conn in conns:
            if delete and engine.dialect.name != "sqlite":
                # Its session settings must not reach the pool's next user.
                conn.invalidate()
            conn.close()


def _session(conn: Connection) -> None:
    """A taker's session: short lock waits (:class:`LockWait`); on MySQL/MariaDB no
    foreign-key checks (:func:`covered_foreign_keys` says why that is safe)."""
    name = conn.dialect.name
    if name in MYSQL_FAMILY:
        conn.exec_driver_sql(
            f"SET SESSION foreign_key_checks = 0, innodb_lock_wait_timeout = {LOCK_WAIT}"
        )
    elif name == "postgresql":
        conn.exec_driver_sql(f"SET lock_timeout = '{LOCK_WAIT}s'")
    conn.commit()
