"""Reading one chunk of an archive group, and the helpers its guarded delete shares.

A chunk is up to ``chunk_size`` parent rows in primary-key order that pass the filter and
have no blocking child (``skip_if``), plus every row of the children archived with them.
They are read in one snapshot.  The delete of exactly those rows is
:mod:`lms_db.archive.guarded_delete`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles

from lms_db.archive.codec import Chunk, Row
from lms_db.archive.filters import RowFilter
from lms_db.archive.tables import ArchiveGroup, select_rows
from lms_db.errors import OperationError
from lms_db.fleet.raw_columns import binary_columns
from lms_db.fleet.rawread import read_raw
from lms_db.moves.checksum import PkBounds, checksum_chunks

#: Ids per ``IN (...)`` list (SQLite's default limit on bound variables is 32766: a chunk
#: stays below it, see ``MAX_CHUNK`` in the runner).
IN_LIST = 5_000


def in_batches(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), IN_LIST):
        yield ids[start : start + IN_LIST]


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive integers in sorted ``ids``: ``[(first, last), ...]``."""
    runs: list[tuple[int, int]] = []
    for value in ids:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


#: A journaled key list: ``[first, last]`` per run of three or more consecutive keys, the
#: other keys as they are (JSON: ``[[1, 40], 43, [60, 999]]``).
PackedIds = list[int | list[int]]


def packed_ids(ids: Sequence[int]) -> PackedIds:
    """``ids`` in the journal's compact form (:data:`PackedIds`), order kept.

    A chunk's slot in the journal holds its parent keys and user ids and is rewritten at
    every step of every chunk: as plain lists, 1,000-key chunks made each write tens of
    kilobytes of JSON (encoded, escaped and logged by the catalog each time); old rows
    selected by a filter mostly come in runs."""
    packed: PackedIds = []
    for first, last in id_runs([int(v) for v in ids]):
        if last - first >= 2:
            packed.append([first, last])
        else:
            packed.extend(range(first, last + 1))
    return packed


def unpacked_ids(packed: Sequence[int | Sequence[int]]) -> list[int]:
    """The keys :func:`packed_ids` packed; a plain list of ints (journals written before
    the compact form) comes back as it is."""
    ids: list[int] = []
    for item in packed:
        if isinstance(item, int):
            ids.append(item)
        else:
            first, last = item
            ids.extend(range(int(first), int(last) + 1))
    return ids


class KeyRanges(sa.ColumnElement[bool]):
    """``column`` is one of a set of integer keys: ``BETWEEN`` per run of consecutive keys,
    ``IN`` lists for the rest, the integers written into the SQL text.

    A chunk's keys are integers read from the database (never text from a user), so
    writing them into the statement is safe, and it spares SQLAlchemy a bound parameter,
    a coercion and a cache-key entry per key (building ``between()`` per run was the
    largest SQLAlchemy cost of a take).  Statements holding one are not cached (their
    text changes with every chunk)."""

    inherit_cache = False
    type = sa.Boolean()
    # A condition already: else a dialect without a native boolean (MySQL) compares it
    # with 1 in a WHERE (``id IN (2, 5) = 1``), which no index serves.
    _is_implicitly_boolean = True

    def __init__(
        self, column: sa.ColumnElement[Any], ranges: list[tuple[int, int]], singles: list[int]
    ) -> None:
        self.column = column
        self.ranges = ranges
        self.singles = singles


@compiles(KeyRanges)
def _render_key_ranges(element: KeyRanges, compiler: Any, **kw: Any) -> str:
    name = compiler.process(element.column, **kw)
    terms = [f"{name} BETWEEN {first:d} AND {last:d}" for first, last in element.ranges]
    for batch in in_batches(element.singles):
        terms.append(f"{name} IN ({', '.join(format(v, 'd') for v in batch)})")
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def key_set(column: sa.ColumnElement[Any], ids: Sequence[int]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``ids``, as PK ranges where the ids run consecutively.

    Every integer of a run is one of the ids, so ``BETWEEN first AND last`` names exactly
    those keys: the same rows as the ``IN`` list, but a range scan for the server and a
    short statement (a chunk of consecutive ids is one range)."""
    ordered = sorted({int(v) for v in ids})
    ranges: list[tuple[int, int]] = []
    singles: list[int] = []
    for first, last in id_runs(ordered):
        if last - first >= 2:
            ranges.append((first, last))
        else:
            singles.extend(range(first, last + 1))
    if not ranges and not singles:
        return sa.false()
    return KeyRanges(column, ranges, singles)


def candidate_query(
    group: ArchiveGroup, row_filter: RowFilter, dialect: str, after: int | None
) -> sa.Select[Any]:
    """Parent rows eligible for archiving after primary key ``after`` (pk order)."""
    parent = group.parent
    pk = parent.c[group.pk]
    query = select_rows(parent, dialect).where(*row_filter.clauses(parent, dialect))
    if after is not None:
        query = query.where(pk > after)
    for blocker in group.blockers:
        query = query.where(~sa.exists().where(blocker.table.c[blocker.column] == pk))
    for name in ("mysql", "mariadb"):
        # Walk the primary key from the cursor, as pt-archiver does: a filter on an indexed
        # column (status) made MariaDB read that index from its start and skip every entry
        # up to the cursor (a ref scan, the cursor only an index condition), so each chunk
        # re-read what the run had already archived, deleted-but-unpurged entries included.
        query = query.with_hint(parent, "FORCE INDEX (PRIMARY)", name)
    return query.order_by(pk)


def candidate_ids(
    conn: Connection, group: ArchiveGroup, row_filter: RowFilter, after: int | None, limit: int
) -> list[int]:
    """Up to ``limit`` keys of :func:`candidate_query`'s rows after ``after`` (a plain read:
    it locks nothing)."""
    query = candidate_query(group, row_filter, conn.dialect.name, after)
    pk = group.parent.c[group.pk]
    result = conn.execute(query.with_only_columns(pk).limit(limit))
    # The driver's tuples: a SQLAlchemy Row per key cost more than the query here.
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    return [int(row[0]) for row in rows]


def blocked_query(group: ArchiveGroup, row_filter: RowFilter, dialect: str) -> sa.Select[Any]:
    """How many parent rows pass the filter but are kept by a blocking child."""
    parent = group.parent
    pk = parent.c[group.pk]
    if not group.blockers:
        return sa.select(sa.literal(0))
    blocked = sa.or_(*(sa.exists().where(b.table.c[b.column] == pk) for b in group.blockers))
    return (
        sa.select(sa.func.count())
        .select_from(parent)
        .where(*row_filter.clauses(parent, dialect), blocked)
    )


def read_chunk(
    conn: Connection,
    group: ArchiveGroup,
    parents: Sequence[Row],
    *,
    parent_types: list[int] | None = None,
) -> Chunk:
    """The chunk made of ``parents`` and their children's rows (children in pk order).

    :param parent_types: the parents were read raw (:func:`read_candidates`) with these
        type codes: read the children raw too.
    """
    dialect = conn.dialect.name
    columns = {t.name: [c.name for c in t.columns] for t in group.tables}
    rows: dict[str, list[Row]] = {group.parent.name: list(parents)}
    types = {group.parent.name: parent_types} if parent_types is not None else None
    pk_index = columns[group.parent.name].index(group.pk)
    ids = [int(r[pk_index]) for r in parents]
    for child in group.children:
        table = child.table
        child_pk = next(iter(table.primary_key.columns))
        query = select_rows(table, dialect).where(key_set(table.c[child.column], ids))
        query = query.order_by(child_pk)
        raw = read_raw(conn, query, binary_columns(table, dialect)) if types is not None else None
        if raw is not None and types is not None:
            found, types[table.name] = raw
        else:
            found = [tuple(r) for r in conn.execute(query)]
        rows[table.name] = in_pk_order(table, found)
    return Chunk(columns, rows, types=types)


def read_candidates(
    conn: Connection, query: sa.Executable, table: sa.Table
) -> tuple[list[Row], list[int] | None]:
    """``query``'s rows as the archive reads ``table`` (candidates, a take's locked read,
    a ``DELETE ... RETURNING``): raw text and type codes on MySQL/MariaDB
    (:mod:`lms_db.fleet.rawread`), typed values (and ``None``) elsewhere.

    :param table: the table whose columns ``query`` selects as
        :func:`~lms_db.archive.tables.select_rows` does (which of them are binary).
    """
    raw = read_raw(conn, query, binary_columns(table, conn.dialect.name))
    if raw is not None:
        return raw
    return [tuple(r) for r in conn.execute(query)], None


def in_pk_order(table: sa.Table, rows: Sequence[Row]) -> list[Row]:
    """``rows`` of ``table`` in primary-key order, as a chunk holds them (raw rows hold
    text: compared as numbers)."""
    pk = next(iter(table.primary_key.columns)).name
    position = [c.name for c in table.columns].index(pk)
    return sorted(rows, key=lambda r: int(r[position]))


def parent_ids(group: ArchiveGroup, chunk: Chunk) -> list[int]:
    index = chunk.columns[group.parent.name].index(group.pk)
    return [int(r[index]) for r in chunk.rows[group.parent.name]]


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction with one snapshot for all its reads (REPEATABLE READ; SQLite:
    a deferred transaction), so the rows read and their checksum describe the same state."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            conn.rollback()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction; on SQLite ``BEGIN IMMEDIATE`` so no writer slips in after the read."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        else:
            with conn.begin():
                yield conn


class RowCountMismatch(OperationError):
    """A DELETE removed another number of rows than were locked: rolled back."""

    code = "row_count_mismatch"


def member_of(group: ArchiveGroup, table: sa.Table, ids: Sequence[int]) -> sa.ColumnElement[bool]:
    """The chunk's rows of ``table``: parents by primary key, children by their link."""
    if table is group.parent:
        column = table.c[group.pk]
    else:
        column = table.c[next(c.column for c in group.children if c.table is table)]
    return key_set(column, ids)


def table_checks(conn: Connection, group: ArchiveGroup, ids: Sequence[int]) -> dict[str, list[Any]]:
    """Row count and digest of the chunk's rows in every table of the group.

    The moves' checksum (:mod:`lms_db.moves.checksum`): computed by the server on
    MySQL/MariaDB and PostgreSQL (one row per table crosses the network), in Python on
    SQLite.  ``--to-table`` takes it in the read's snapshot and again under the move's locks.
    """
    checks: dict[str, list[Any]] = {}
    for table in group.tables:
        [digest] = checksum_chunks(
            conn, table, member_of(group, table, ids), [PkBounds(None, None)]
        )
        checks[table.name] = [digest.rows, digest.digest, digest.method]
    return checks


def lock_rows(
    conn: Connection, group: ArchiveGroup, ids: Sequence[int], *, parents_only: bool = False
) -> None:
    """``SELECT ... FOR UPDATE`` the chunk's keys in every table, or in the parent table
    only (SQLite: BEGIN IMMEDIATE already holds the database).  A writer adding a child
    must wait: its foreign-key check needs the parent row we hold."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return
    for table in [group.parent] if parents_only else group.tables:
        where = member_of(group, table, ids)
        if dialect in ("mysql", "mariadb"):
            # InnoDB locks every row a locking read scans, aggregate or not: one row back.
            conn.execute(
                sa.select(sa.func.count()).select_from(table).where(where).with_for_update()
            ).scalar_one()
        else:  # PostgreSQL refuses FOR UPDATE with an aggregate
            pk = next(iter(table.primary_key.columns))
            conn.execute(sa.select(pk).where(where).with_for_update()).all()


def check_count(deleted: int, expected: int, table: str) -> None:
    if deleted != expected:
        raise RowCountMismatch(
            f"{table}: the delete removed {deleted} rows, expected "
            f"{expected}; rolled back, nothing deleted"
        )
