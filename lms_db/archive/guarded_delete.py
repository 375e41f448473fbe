"""The guarded delete: a chunk's rows leave the table only if they are exactly the rows
that were archived.

ONE transaction: lock the parent rows (``SELECT ... FOR UPDATE``; SQLite: ``BEGIN
IMMEDIATE``), check no blocking child appeared, delete children then parents returning the
rows deleted (or, without ``DELETE ... RETURNING``, re-read them locked and delete), and
compare them with the rows read.  Any difference rolls back and leaves every row in place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.archive.chunks import (
    check_count,
    in_pk_order,
    key_set,
    lock_rows,
    member_of,
    read_candidates,
    snapshot,
    write_transaction,
)
from lms_db.archive.codec import Chunk, Row
from lms_db.archive.hooks import pause_point
from lms_db.archive.tables import ArchiveGroup, select_rows
from lms_db.fleet.raw_columns import read_columns


class _RowsChanged(Exception):
    """Raised inside the delete's transaction to roll it back: the rows differ from the
    chunk's (never leaves :func:`guarded_delete`)."""


def guarded_delete(
    engine: Engine,
    group: ArchiveGroup,
    ids: Sequence[int],
    *,
    digest: str,
    rows: dict[str, list[Row]] | None = None,
    returning: bool | None = None,
) -> bool:
    """Delete the chunk's rows if they are exactly what was archived.

    One transaction: lock the parent rows (a writer adding a child waits: its foreign-key
    check needs the parent row), check no blocking child appeared, delete the children then
    the parents, and compare the deleted rows, value for value, with the chunk's
    (:meth:`~lms_db.archive.codec.Chunk.digest` over the same row lines).  Where the server
    has ``DELETE ... RETURNING`` (MariaDB, PostgreSQL, SQLite) the DELETEs return the rows
    they removed, read as the chunk was read (raw text on MariaDB), so each row is touched
    once; elsewhere (MySQL) the rows are re-read under ``FOR UPDATE`` first.  Any difference
    (a row changed, added or removed since the read) rolls everything back.

    :param digest: the chunk's digest, journaled when it was read.
    :param rows: the chunk's rows as read, when this process still holds them: compared
        as they are first (the digest renders every row again), the digest deciding only
        when they differ.
    :param returning: use ``DELETE ... RETURNING`` (``None``: where the dialect has it).
    :returns: ``True`` if deleted; ``False`` if any row differed (nothing deleted).
    """
    try:
        with write_transaction(engine) as conn:
            use_returning = conn.dialect.delete_returning if returning is None else returning
            lock_rows(conn, group, ids, parents_only=True)
            if blocked(conn, group, ids):
                raise _RowsChanged
            if use_returning:
                found = _delete_returning(conn, group, ids)
            else:
                found = _read_locked(conn, group, ids)
            if not _unchanged(group, found, digest, rows):
                raise _RowsChanged
            if not use_returning:
                _delete_counted(conn, group, ids, {t: len(r) for t, r in found.items()})
    except _RowsChanged:
        return False
    pause_point("delete:committed")
    return True


def blocked(conn: Connection, group: ArchiveGroup, ids: Sequence[int]) -> bool:
    """A row of a blocking child (a foreign key without cascade) references the chunk."""
    for blocker in group.blockers:
        column = blocker.table.c[blocker.column]
        held = conn.execute(
            sa.select(sa.func.count()).select_from(blocker.table).where(key_set(column, ids))
        ).scalar_one()
        if held:
            return True
    return False


def _in_pk_order(group: ArchiveGroup, rows: dict[str, list[Row]]) -> dict[str, list[Row]]:
    """``rows`` of every table of the group in primary-key order, as a chunk holds them."""
    return {t.name: in_pk_order(t, rows.get(t.name, ())) for t in group.tables}


def rows_digest_of(group: ArchiveGroup, rows: dict[str, list[Row]]) -> str:
    """The digest a :class:`Chunk` of ``rows`` has."""
    columns = {t.name: [c.name for c in t.columns] for t in group.tables}
    return Chunk(columns, _in_pk_order(group, rows)).digest()


def _unchanged(
    group: ArchiveGroup,
    found: dict[str, list[Row]],
    digest: str,
    read: dict[str, list[Row]] | None,
) -> bool:
    """``found`` are the chunk's rows: equal to the rows read, or else of equal digest (a
    value equal to itself only as text, e.g. a NaN, compares unequal as an object)."""
    if read is not None:
        ordered = _in_pk_order(group, found)
        if all(ordered[t.name] == list(read.get(t.name, ())) for t in group.tables):
            return True
    return rows_digest_of(group, found) == digest


def _children_first(group: ArchiveGroup) -> Iterator[sa.Table]:
    """The group's tables in delete order: children, then (after the ``delete:children``
    pause point) the parent."""
    for child in reversed(group.children):
        yield child.table
    pause_point("delete:children")
    yield group.parent


def _delete_returning(
    conn: Connection, group: ArchiveGroup, ids: Sequence[int]
) -> dict[str, list[Row]]:
    """Delete the chunk's rows, children first, each DELETE returning the rows it removed."""
    dialect = conn.dialect.name
    found: dict[str, list[Row]] = {}
    for table in _children_first(group):
        returning = read_columns(table, dialect)
        statement = sa.delete(table).where(member_of(group, table, ids)).returning(*returning)
        found[table.name] = read_candidates(conn, statement, table)[0]
    return found


def _read_locked(conn: Connection, group: ArchiveGroup, ids: Sequence[int]) -> dict[str, list[Row]]:
    """The chunk's rows in every table, read under ``FOR UPDATE`` (no ``RETURNING``)."""
    found: dict[str, list[Row]] = {}
    for table in group.tables:
        query = select_rows(table, conn.dialect.name).where(member_of(group, table, ids))
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        found[table.name] = read_candidates(conn, query, table)[0]
    return found


def _delete_counted(
    conn: Connection, group: ArchiveGroup, ids: Sequence[int], counts: dict[str, int]
) -> None:
    """Delete the locked rows, children first, checking each DELETE's row count."""
    for table in _children_first(group):
        deleted = conn.execute(sa.delete(table).where(member_of(group, table, ids))).rowcount
        check_count(deleted, counts[table.name], table.name)


def parents_left(engine: Engine, group: ArchiveGroup, ids: Sequence[int]) -> int:
    """How many of the chunk's parent rows are still in the table."""
    with snapshot(engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(group.parent)
                .where(member_of(group, group.parent, ids))
            ).scalar_one()
        )
