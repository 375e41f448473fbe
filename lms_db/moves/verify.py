"""The verify step: per-chunk row counts and digests of every table, on both sides.

The digests come from :mod:`lms_db.moves.checksum` (a non-linear 64-bit-or-wider hash over
every column, in a canonical type-aware encoding, computed server-side).  Chunks follow the
table's key column (:mod:`lms_db.moves.key_chunks`: index ranges, each read once); their
bounds are taken on the source and used on both sides, the first chunk open below and the
last open above (within the range), so a row only the destination holds still lands in a
chunk.  The range is fenced while this runs, so neither side changes; the two sides are
hashed at the same time (two servers, or two connections of one, work in parallel).

A clean pass also gives the source's chunks with their verified row counts
(:data:`SourceChunks`): the delete step cuts its chunks there and expects exactly those
counts (:func:`lms_db.moves.phases.delete_source`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from lms_db.moves import checksum
from lms_db.moves import key_chunks as kc
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)

#: Per table, the source's verified chunks in order: ``(upto, rows)``, each chunk being
#: ``previous upto < column <= upto`` of the range (the first open below, the last, ``upto``
#: ``None``, open above) with ``rows`` rows.
SourceChunks = dict[str, list[tuple[Any, int]]]


@dataclass(frozen=True)
class Mismatch:
    """A chunk that differs.

    :param table: the table.
    :param name: the chunk, readable
        (``enrollments user_id (100, 2100]: 2000 rows on the source, 1999 on the ...``).
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
    source_chunks: SourceChunks | None = None,
) -> list[Mismatch]:
    """Compare every table's rows of ``[lo, hi)`` on the source and the destination.

    :param tick: called with ``(table, chunks)`` after each table.
    :param source_chunks: filled with each table's chunks and source row counts.
    :returns: the chunks that differ (empty: a clean pass).
    """
    out: list[Mismatch] = []
    # SQLite connections stay in their thread; the other drivers' may move to another.
    parallel = src.dialect.name != "sqlite" and dst.dialect.name != "sqlite"
    with ThreadPoolExecutor(max_workers=1) as pool:
        for scope in scopes:
            uppers = list(kc.walk(src, scope, lo, hi, chunk_rows))
            # (after, upto] per chunk; the last one open above.
            bounds: list[tuple[Any, Any]] = list(
                zip([None, *uppers[:-1]], [*uppers[:-1], None], strict=True)
            )
            chunks = [kc.chunk_where(scope, lo, hi, a, b) for a, b in bounds]
            if parallel:
                mine = pool.submit(checksum.checksum_where, src, scope.table, chunks)
                theirs = checksum.checksum_where(dst, scope.table, chunks)
                ours = mine.result()
            else:
                ours = checksum.checksum_where(src, scope.table, chunks)
                theirs = checksum.checksum_where(dst, scope.table, chunks)
            src.rollback()
            dst.rollback()
            if source_chunks is not None:
                source_chunks[scope.name] = [
                    (upto, int(rows)) for (_, upto), (rows, _) in zip(bounds, ours, strict=True)
                ]
            column = kc.chunk_column(scope).name
            for (after, upto), (s_rows, s_digest), (d_rows, d_digest) in zip(
                bounds, ours, theirs, strict=True
            ):
                if (s_rows, s_digest) == (d_rows, d_digest):
                    continue
                where = f"{scope.name} {column} ({'-inf' if after is None else after}, " + (
                    "+inf)" if upto is None else f"{upto}]"
                )
                what = "digests differ" if s_rows == d_rows else ""
                out.append(
                    Mismatch(
                        scope.name,
                        f"{where}: {s_rows} rows on the source, {d_rows} on the destination"
                        + (f", {what}" if what else ""),
                    )
                )
            tick(scope.name, len(bounds))
    return out
