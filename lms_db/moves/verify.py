"""The verify step: per-chunk row counts and digests of every table, on both sides.

The digests come from :mod:`lms_db.moves.checksum` (a non-linear 64-bit-or-wider hash over
every column, in a canonical type-aware encoding, computed server-side).  Chunk boundaries
are taken on the source and used on both sides; the range is fenced while this runs, so
neither side changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from lms_db.moves import checksum
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mismatch:
    """A chunk that differs.

    :param table: the table.
    :param name: the chunk, readable (``enrollments keys (100, 2100]: 2000 rows vs 1999``).
    """

    table: str
    name: str


def verify_range(
    src: Connection,
    dst: Connection,
    scopes: Sequence[TableScope],
    lo: int,
    hi: int,
    chunk_rows: int,
    tick: Callable[[str, int], None],
) -> list[Mismatch]:
    """Compare every table's rows of ``[lo, hi)`` on the source and the destination.

    :param tick: called with ``(table, chunks)`` after each table.
    :returns: the chunks that differ (empty: a clean pass).
    """
    out: list[Mismatch] = []
    for scope in scopes:
        where = scope.in_range(lo, hi)
        bounds = checksum.chunk_boundaries(src, scope.table, where, chunk_rows)
        ours = checksum.checksum_chunks(src, scope.table, where, bounds)
        theirs = checksum.checksum_chunks(dst, scope.table, where, bounds)
        src.rollback()
        dst.rollback()
        for m in checksum.compare_checksums(ours, theirs):
            after = "-inf" if m.bounds.after is None else m.bounds.after[0]
            upto = "+inf" if m.bounds.upto is None else m.bounds.upto[0]
            out.append(
                Mismatch(
                    scope.name,
                    f"{scope.name} keys ({after}, {upto}]: "
                    f"{m.source_rows} rows on the source, {m.dest_rows} on the "
                    "destination, digests differ"
                    if m.source_rows == m.dest_rows
                    else f"{scope.name} keys ({after}, {upto}]: {m.source_rows} rows "
                    f"on the source, {m.dest_rows} on the destination",
                )
            )
        tick(scope.name, len(bounds))
    return out
