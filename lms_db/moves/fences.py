"""Fences a shard keeps after ranges moved away, and lifting them when a range comes back.

A source keeps its fence after a move (stale writers get an error).  When a later move
brings a range back to that shard, the old fence would refuse the copy: the move lifts the
destination's fences that lie inside the incoming range first.  A fence that only partly
overlaps it is refused (move the whole fenced range back, or the rest first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.errors import InputError
from lms_db.moves import triggers as trg
from lms_db.moves.phases import remove_fence
from lms_db.moves.scope import TableScope

log = logging.getLogger(__name__)


def shard_fences(conn: Connection, keyspace: str | None = None) -> list[tuple[int, str, int, int]]:
    """``(move_id, keyspace, lo, hi)`` of every fence recorded on a shard.

    :param conn: a connection to the shard.
    :param keyspace: only this keyspace's fences.
    """
    trg.ensure_move_tables(conn)
    conn.commit()
    query = sa.select(
        trg.fences.c.move_id, trg.fences.c.keyspace, trg.fences.c.lo, trg.fences.c.hi
    ).order_by(trg.fences.c.lo)
    if keyspace is not None:
        query = query.where(trg.fences.c.keyspace == keyspace)
    rows = conn.execute(query).all()
    conn.rollback()
    return [(int(m), str(k), int(lo), int(hi)) for m, k, lo, hi in rows]


def lift_destination_fences(
    conn: Connection, scopes: Sequence[TableScope], keyspace: str, lo: int, hi: int
) -> list[int]:
    """Remove the destination's old fences inside ``[lo, hi)``.

    :returns: the moves whose fences were lifted.
    :raises InputError: a fence overlaps the range without lying inside it.
    """
    lifted = []
    for move_id, _, f_lo, f_hi in shard_fences(conn, keyspace):
        if f_hi <= lo or hi <= f_lo:
            continue
        if not (lo <= f_lo and f_hi <= hi):
            raise InputError(
                f"the destination keeps a fence on {keyspace} [{f_lo}, {f_hi}) from move "
                f"{move_id}, which overlaps [{lo}, {hi}) only in part: move the whole "
                "fenced range back in one move"
            )
        remove_fence(conn, move_id, scopes)
        lifted.append(move_id)
        log.info("lifted the fence of move %d on %s [%d, %d)", move_id, keyspace, f_lo, f_hi)
    return lifted
