"""The shard-map writes of a move: each one versioned catalog transaction under the map lock.

``serving -> moving`` (the range is split out of its owner's range), ``moving -> frozen``
(the Router answers ``RangeFrozen``), ``frozen -> moving`` (a freeze that timed out or a
verify that failed), the switch (``frozen`` on the source -> ``serving`` on the destination)
and ``abort`` (back to ``serving`` on the source).  Each checks the state it expects first,
so a resume whose map no longer matches is refused instead of writing over someone else's
change.  Neighbouring ranges of one shard, both serving, are merged after a switch or abort.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lms_db.catalog import bump_map_version, lock_map, shard_ranges
from lms_db.catalog.schema import begin
from lms_db.errors import InputError, MapMismatch

log = logging.getLogger(__name__)


def _rows(conn: Connection, keyspace: str) -> list[tuple[int, int, str, str]]:
    rows = conn.execute(
        sa.select(shard_ranges.c.lo, shard_ranges.c.hi, shard_ranges.c.shard, shard_ranges.c.state)
        .where(shard_ranges.c.keyspace == keyspace)
        .order_by(shard_ranges.c.lo)
    ).all()
    return [(int(lo), int(hi), str(shard), str(state)) for lo, hi, shard, state in rows]


def owner_of(conn: Connection, keyspace: str, lo: int, hi: int) -> tuple[int, int, str, str]:
    """The one map row holding all of ``[lo, hi)``.

    :raises InputError: no single range holds it (it spans owners, or lies outside the map).
    """
    for row in _rows(conn, keyspace):
        if row[0] <= lo and hi <= row[1]:
            return row
    raise InputError(
        f"{keyspace} range [{lo}, {hi}) does not lie inside one range of the shard map; "
        "move a range that one shard owns (lmsdb shard list)"
    )


def _set(conn: Connection, keyspace: str, lo: int, *, version: int, **values: object) -> None:
    conn.execute(
        shard_ranges.update()
        .where(shard_ranges.c.keyspace == keyspace, shard_ranges.c.lo == lo)
        .values(map_version=version, **values)
    )


def _insert(
    conn: Connection, keyspace: str, lo: int, hi: int, shard: str, state: str, version: int
) -> None:
    conn.execute(
        shard_ranges.insert().values(
            keyspace=keyspace, lo=lo, hi=hi, shard=shard, state=state, map_version=version
        )
    )


def mark_moving(catalog: Engine, keyspace: str, lo: int, hi: int, source: str) -> int:
    """Split ``[lo, hi)`` out of ``source``'s range and mark it ``moving``.

    Idempotent: a range already ``moving`` on ``source`` is left as it is.

    :returns: the map version after the change.
    :raises InputError: the range is not inside one range owned by ``source``, or not serving.
    """
    with begin(catalog) as conn:
        version = lock_map(conn)
        r_lo, r_hi, shard, state = owner_of(conn, keyspace, lo, hi)
        if shard != source:
            raise MapMismatch(f"{keyspace} [{lo}, {hi}) is owned by {shard}, not {source}")
        if (r_lo, r_hi, state) == (lo, hi, "moving"):
            return version
        if state != "serving":
            raise InputError(
                f"{keyspace} range [{r_lo}, {r_hi}) on {shard} is {state}: another move is "
                "running on it (lmsdb shard moves)"
            )
        version = bump_map_version(conn)
        if r_lo < lo:
            _set(conn, keyspace, r_lo, version=version, hi=lo)
            _insert(conn, keyspace, lo, hi, source, "moving", version)
        else:
            _set(conn, keyspace, r_lo, version=version, hi=hi, state="moving")
        if hi < r_hi:
            _insert(conn, keyspace, hi, r_hi, source, "serving", version)
    return version


def set_state(
    catalog: Engine, keyspace: str, lo: int, hi: int, shard: str, expect: Sequence[str], state: str
) -> int:
    """Change the state of the exact range ``[lo, hi)`` on ``shard``.

    :param expect: states the range may be in now (already ``state``: nothing written).
    :returns: the map version after the change.
    :raises MapMismatch: the range is not on ``shard`` in one of ``expect``.
    """
    with begin(catalog) as conn:
        version = lock_map(conn)
        found = [r for r in _rows(conn, keyspace) if (r[0], r[1]) == (lo, hi)]
        if not found or found[0][2] != shard or found[0][3] not in (*expect, state):
            shown = f"{found[0][2]} ({found[0][3]})" if found else "no such range"
            raise MapMismatch(
                f"{keyspace} [{lo}, {hi}): the shard map shows {shown}, expected {shard} in "
                f"{' or '.join(expect)}; it was changed outside this move"
            )
        if found[0][3] == state:
            return version
        version = bump_map_version(conn)
        _set(conn, keyspace, lo, version=version, state=state)
    return version


def switch_owner(catalog: Engine, keyspace: str, lo: int, hi: int, source: str, dest: str) -> int:
    """The switch: the frozen range ``[lo, hi)`` of ``source`` is now served by ``dest``.

    One transaction; idempotent (already switched: nothing written).

    :returns: the map version after the switch.
    :raises MapMismatch: the range is neither frozen on ``source`` nor serving on ``dest``.
    """
    with begin(catalog) as conn:
        version = lock_map(conn)
        found = [r for r in _rows(conn, keyspace) if r[0] <= lo and hi <= r[1]]
        if found and found[0][2] == dest and found[0][3] == "serving":
            return version
        if not found or (found[0][0], found[0][1], found[0][2], found[0][3]) != (
            lo,
            hi,
            source,
            "frozen",
        ):
            raise MapMismatch(
                f"{keyspace} [{lo}, {hi}) is not frozen on {source}; the switch is refused"
            )
        version = bump_map_version(conn)
        _set(conn, keyspace, lo, version=version, shard=dest, state="serving")
        _merge(conn, keyspace, version)
    return version


def release(catalog: Engine, keyspace: str, lo: int, hi: int, source: str) -> int:
    """Abort: ``[lo, hi)`` serves from ``source`` again (merged back into its neighbours).

    :returns: the map version after the change.
    :raises MapMismatch: the range is owned by another shard (the switch already happened).
    """
    with begin(catalog) as conn:
        version = lock_map(conn)
        found = [r for r in _rows(conn, keyspace) if r[0] <= lo and hi <= r[1]]
        if not found or found[0][2] != source:
            raise MapMismatch(f"{keyspace} [{lo}, {hi}) is no longer owned by {source}")
        version = bump_map_version(conn)
        if found[0][3] != "serving":
            _set(conn, keyspace, found[0][0], version=version, state="serving")
        _merge(conn, keyspace, version)
    return version


def _merge(conn: Connection, keyspace: str, version: int) -> None:
    rows = _rows(conn, keyspace)
    index = 0
    while index + 1 < len(rows):
        lo, hi, shard, state = rows[index]
        n_lo, n_hi, n_shard, n_state = rows[index + 1]
        if hi == n_lo and shard == n_shard and state == n_state == "serving":
            conn.execute(
                shard_ranges.delete().where(
                    shard_ranges.c.keyspace == keyspace, shard_ranges.c.lo == n_lo
                )
            )
            _set(conn, keyspace, lo, version=version, hi=n_hi)
            rows[index] = (lo, n_hi, shard, state)
            del rows[index + 1]
        else:
            index += 1
