"""Chunks of a range cut along the table's own key column, not its primary key.

A range's rows are found through the shard-key index (``enrollments.user_id``) or, for a
``shard_via`` table, through the index of the column naming its parent
(``module_lessons.module_id``): the *chunk column*.  Primary-key chunks of a range
(``in range AND pk > :after ORDER BY pk LIMIT n``) make the server walk that index over the
whole rest of the range and sort it by primary key for every chunk: the work grows with the
square of the range.  Chunks of the chunk column are index ranges: each chunk reads its own
rows only.

A chunk is ``after < column <= upto`` within the range (``after`` ``None``: from the
range's start).  All rows sharing one column value fall in one chunk (a user's rows are
never split), so a chunk may hold more rows than asked when one value has many.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.moves.scope import TableScope


def chunk_column(scope: TableScope) -> sa.Column[Any]:
    """The indexed column of ``scope``'s table that chunks follow (see the module doc)."""
    name = scope.key_column if scope.direct else scope.hops[0].child_column
    return scope.table.c[name]


def chunk_where(
    scope: TableScope, lo: int, hi: int, after: Any, upto: Any
) -> list[sa.ColumnElement[bool]]:
    """``WHERE`` conditions of the chunk ``after < column <= upto`` of the range
    (``None`` leaves that side open; the range bounds it still)."""
    column = chunk_column(scope)
    conditions = [scope.in_range(lo, hi)]
    if after is not None:
        conditions.append(column > after)
    if upto is not None:
        conditions.append(column <= upto)
    return conditions


def next_upto(
    conn: Connection,
    scope: TableScope,
    lo: int,
    hi: int,
    after: Any,
    rows: int,
    options: dict[str, Any] | None = None,
    top: Any = None,
) -> Any | None:
    """The last column value of the chunk after ``after`` holding about ``rows`` rows.

    An index-only read of ``rows`` entries (``ORDER BY column LIMIT 1 OFFSET rows - 1``);
    fewer left: the largest value left.

    :param options: per-statement execution options (the same-server copy reads the
        source schema through them).
    :param top: no chunk goes above this value (``None``: the range's end).
    :returns: the value, or ``None``: no rows of the range after ``after`` (up to ``top``).
    """
    column = chunk_column(scope)
    where = chunk_where(scope, lo, hi, after, top)
    found = conn.execute(
        sa.select(column).where(*where).order_by(column).offset(max(rows, 1) - 1).limit(1),
        execution_options=options or {},
    ).scalar()
    if found is None:
        found = conn.execute(
            sa.select(sa.func.max(column)).where(*where), execution_options=options or {}
        ).scalar()
    return found


def top_value(conn: Connection, scope: TableScope, lo: int, hi: int) -> Any | None:
    """The largest chunk-column value of the range's rows now (``None``: no rows)."""
    column = chunk_column(scope)
    return conn.execute(sa.select(sa.func.max(column)).where(scope.in_range(lo, hi))).scalar()


def walk(conn: Connection, scope: TableScope, lo: int, hi: int, rows: int) -> Iterator[Any]:
    """Every chunk's last value over the whole range, in order (the last chunk's is the
    range's largest value)."""
    after = None
    while True:
        upto = next_upto(conn, scope, lo, hi, after, rows)
        if upto is None:
            return
        yield upto
        after = upto
