"""``lmsdb shard verify KEYSPACE LO:HI``: who holds the rows of a key range, and do they agree.

The range is cut along the shard map into pieces with one owner each.  For every piece,
every shard of the fleet is asked how many rows of each table of the keyspace it holds
there (the rows that :mod:`lms_db.moves.scope` places in the range, ``shard_via`` tables
included).  The owner is the reference; each other shard holding rows is compared with it
chunk by chunk (:mod:`lms_db.moves.checksum`, boundaries taken on the owner):

- a shard taking part in an open move of an overlapping range (its source or its
  destination, per the journal) holds a *copy*: it is clean when every chunk matches;
- any other shard holds rows *left behind* (after a finished move the source must hold
  none): always a problem, and the checksum says whether they equal the owner's or not.

The result is clean when no chunk differs and nothing is left behind.  Reads run on live
data: while a move copies, a destination may lag the source by the changes not yet caught
up, and those chunks show as differing until the move's catch-up and freeze.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lms_db.catalog import JournalEntry, RangeAssignment, open_entries
from lms_db.errors import ConnectionFailed, InputError, OperationError
from lms_db.moves.checksum import (
    DEFAULT_CHUNK_ROWS,
    METHOD_PYTHON,
    ChunkMismatch,
    checksum_chunks,
    chunk_boundaries,
    compare_checksums,
)
from lms_db.moves.plan import MOVE_OPERATION
from lms_db.moves.scope import TableScope, keyspace_scopes
from lms_db.router.keys import check_keyspace
from lms_db.router.router import Router
from lms_db.topology.engines import short_reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """One shard's rows of a piece, compared with the owner's.

    :param shard: the shard.
    :param role: ``owner``, ``move source``, ``move destination`` or ``left behind``.
    :param rows: rows per table (tables holding none left out).
    :param mismatches: chunks that differ from the owner's (empty for the owner).
    """

    shard: str
    role: str
    rows: dict[str, int]
    mismatches: tuple[ChunkMismatch, ...] = ()

    @property
    def total(self) -> int:
        """Rows of all tables."""
        return sum(self.rows.values())

    @property
    def problem(self) -> bool:
        """Whether this holder makes the range unclean."""
        return bool(self.mismatches) or self.role == "left behind"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "shard": self.shard,
            "role": self.role,
            "rows": self.rows,
            "total": self.total,
            "problem": self.problem,
            "mismatches": [m.to_dict() for m in self.mismatches],
        }


@dataclass(frozen=True)
class Piece:
    """The part ``[lo, hi)`` of the verified range that one shard owns.

    :param lo: first key.
    :param hi: first key after it.
    :param owner: the shard serving it.
    :param state: the map state of the owner's range.
    :param holders: the owner first, then every other shard holding rows of it.
    """

    lo: int
    hi: int
    owner: str
    state: str
    holders: tuple[Holder, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "lo": self.lo,
            "hi": self.hi,
            "owner": self.owner,
            "state": self.state,
            "holders": [h.to_dict() for h in self.holders],
        }


@dataclass(frozen=True)
class RangeVerification:
    """What ``shard verify KEYSPACE LO:HI`` found.

    :param keyspace: the keyspace.
    :param lo: first key of the range.
    :param hi: first key after it.
    :param map_version: the shard map it was checked against.
    :param chunk_rows: rows per chunk.
    :param pieces: one per owner range overlapping ``[lo, hi)``.
    :param open_moves: journal ids of open moves overlapping the range.
    """

    keyspace: str
    lo: int
    hi: int
    map_version: int
    chunk_rows: int
    pieces: tuple[Piece, ...]
    open_moves: tuple[int, ...] = field(default=())

    @property
    def clean(self) -> bool:
        """No chunk differs and no shard holds rows it should not."""
        return not any(h.problem for p in self.pieces for h in p.holders)

    def problems(self) -> list[str]:
        """One line per problem: the shard, the table and the chunk."""
        lines = []
        for piece in self.pieces:
            where = f"{self.keyspace} [{piece.lo}, {piece.hi}) (owner {piece.owner})"
            for holder in piece.holders:
                if holder.role == "left behind":
                    same = "" if holder.mismatches else ", identical to the owner's"
                    lines.append(
                        f"{holder.shard} holds {holder.total} rows of {where} it does "
                        f"not own{same}: " + _table_counts(holder.rows)
                    )
                lines.extend(
                    f"{holder.shard} vs {piece.owner}: {m.describe()}" for m in holder.mismatches
                )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "keyspace": self.keyspace,
            "lo": self.lo,
            "hi": self.hi,
            "map_version": self.map_version,
            "chunk_rows": self.chunk_rows,
            "clean": self.clean,
            "open_moves": list(self.open_moves),
            "problems": self.problems(),
            "pieces": [p.to_dict() for p in self.pieces],
        }


def verify_range(
    router: Router, keyspace: str, lo: int, hi: int, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> RangeVerification:
    """Compare every shard's rows of ``[lo, hi)`` with the owner's, chunk by chunk.

    :param router: the Router (its catalog and shards).
    :param keyspace: ``user`` or ``course``.
    :param lo: first key.
    :param hi: first key after the range.
    :param chunk_rows: rows per checksum chunk.
    :raises UnknownObjectError: unknown keyspace.
    :raises InputError: ``lo >= hi``, a part of the range no shard serves, a bad chunk size.
    :raises ConnectionFailed: a shard cannot be reached (checked before any work).
    :raises OperationError: a shard failed during the comparison.
    """
    check_keyspace(keyspace)
    if lo >= hi:
        raise InputError(f"range {lo}:{hi} is empty: LO must be below HI")
    if chunk_rows < 1:
        raise InputError(f"chunk size must be at least 1 row, not {chunk_rows}")
    shard_map = router.refresh()
    owned = owner_pieces(shard_map.for_keyspace(keyspace), keyspace, lo, hi)
    shards = router.shards()
    for name in shards:
        with shard_connection(router, name):
            pass  # an unreachable shard fails here, before any work
    moves = [
        e
        for e in open_entries(router.catalog, operation=MOVE_OPERATION)
        if e.keyspace == keyspace
        and e.lo is not None
        and e.hi is not None
        and e.lo < hi
        and lo < e.hi
    ]
    scopes = keyspace_scopes(keyspace)
    pieces = tuple(
        _verify_piece(router, scopes, shards, plo, phi, owner, state, moves, chunk_rows)
        for plo, phi, owner, state in owned
    )
    return RangeVerification(
        keyspace, lo, hi, shard_map.version, chunk_rows, pieces, tuple(e.id for e in moves)
    )


def owner_pieces(
    ranges: Sequence[RangeAssignment], keyspace: str, lo: int, hi: int
) -> list[tuple[int, int, str, str]]:
    """``[lo, hi)`` cut along the map: ``(lo, hi, owner, state)`` per owner range.

    :param ranges: the keyspace's ranges, sorted by ``lo``.
    :param keyspace: for messages.
    :param lo: first key.
    :param hi: first key after the range.
    :raises InputError: part of ``[lo, hi)`` has no owner.
    """
    pieces = []
    cursor = lo
    for r in ranges:
        if r.hi <= cursor or r.lo >= hi:
            continue
        if r.lo > cursor:
            break
        end = min(r.hi, hi)
        pieces.append((cursor, end, r.shard, r.state))
        cursor = end
        if cursor >= hi:
            return pieces
    raise InputError(
        f"no shard serves {keyspace} keys from {cursor} (the range is {lo}:{hi}); "
        "lmsdb shard list shows the map"
    )


@contextmanager
def shard_connection(router: Router, shard: str) -> Iterator[Connection]:
    """A connection to ``shard``'s primary; connecting failures are :class:`ConnectionFailed`.

    :param router: the Router.
    :param shard: the shard.
    :raises UnknownObjectError: no such shard.
    :raises ConnectionFailed: the server cannot be reached.
    :raises OperationError: a statement failed later on.
    """
    engine = router.engine_for_shard(shard)
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        password = engine.url.password if isinstance(engine.url.password, str) else None
        raise ConnectionFailed(
            f"cannot connect to shard {shard} "
            f"({router.location(shard).primary.display}): "
            f"{short_reason(exc, password)}"
        ) from exc
    try:
        with conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        raise OperationError(f"shard {shard}: {short_reason(exc)}") from exc


def count_rows(conn: Connection, scopes: list[TableScope], lo: int, hi: int) -> dict[str, int]:
    """Rows of each table in ``[lo, hi)`` on one shard (tables the shard lacks count 0).

    :param conn: a connection to the shard.
    :param scopes: the keyspace's tables.
    :param lo: first key.
    :param hi: first key after the range.
    """
    existing = set(sa.inspect(conn).get_table_names())
    counts = {}
    for scope in scopes:
        if scope.name not in existing or not {h.parent.name for h in scope.hops} <= existing:
            continue
        count = conn.execute(
            sa.select(sa.func.count()).select_from(scope.table).where(scope.in_range(lo, hi))
        ).scalar_one()
        if count:
            counts[scope.name] = int(count)
    return counts


def _verify_piece(
    router: Router,
    scopes: list[TableScope],
    shards: tuple[str, ...],
    lo: int,
    hi: int,
    owner: str,
    state: str,
    moves: list[JournalEntry],
    chunk_rows: int,
) -> Piece:
    counts = {}
    for name in shards:
        with shard_connection(router, name) as conn:
            counts[name] = count_rows(conn, scopes, lo, hi)
    holders = [Holder(owner, "owner", counts[owner])]
    for name in shards:
        if name == owner or not counts[name]:
            continue
        tables = [s for s in scopes if s.name in counts[name] or s.name in counts[owner]]
        mismatches = _compare(router, owner, name, tables, lo, hi, chunk_rows)
        holders.append(Holder(name, _role(name, lo, hi, moves), counts[name], tuple(mismatches)))
    return Piece(lo, hi, owner, state, tuple(holders))


def _role(shard: str, lo: int, hi: int, moves: list[JournalEntry]) -> str:
    for entry in moves:
        if entry.lo is None or entry.hi is None or not (entry.lo < hi and lo < entry.hi):
            continue
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        if payload.get("dest") == shard:
            return "move destination"
        if payload.get("source") == shard or entry.shard == shard:
            return "move source"
    return "left behind"


def _compare(
    router: Router,
    owner: str,
    other: str,
    scopes: list[TableScope],
    lo: int,
    hi: int,
    chunk_rows: int,
) -> list[ChunkMismatch]:
    mismatches: list[ChunkMismatch] = []
    with shard_connection(router, owner) as mine, shard_connection(router, other) as theirs:
        # Shards of one backend compare server-side; a mixed pair only in Python.
        method = None if mine.dialect.name == theirs.dialect.name else METHOD_PYTHON
        for scope in scopes:
            where = scope.in_range(lo, hi)
            bounds = chunk_boundaries(mine, scope.table, where, chunk_rows)
            mismatches += compare_checksums(
                checksum_chunks(mine, scope.table, where, bounds, method=method),
                checksum_chunks(theirs, scope.table, where, bounds, method=method),
            )
            mine.rollback()  # end each table's read transaction: no long snapshot
            theirs.rollback()
    return mismatches


def _table_counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {count}" for table, count in rows.items())
