"""The rebalance planner: a pure function from measured load to a list of range moves.

Input: per keyspace, every range of the map with its load measured in buckets (rows or
bytes of all the keyspace's tables, per slice of keys), and every shard that may receive
ranges (shards owning none count, at load 0).  Output: moves, each the *upper part* of one
range (``[cut, hi)``: a split, or the whole range when ``cut == lo``) going from the most to
the least loaded shard.

The greedy step: take the heaviest shard H and the lightest L; among H's ranges and their
bucket boundaries, pick the cut whose moved load ``m`` comes closest to
``min(load[H] - mean, mean - load[L])`` (fill L up to the mean, or bring H down to it),
never ``m >= load[H] - load[L]`` (that would only swap the two).  Every such move lowers the
sum of squared deviations from the mean, so the fleet gets strictly more even.  Apply it to
the model and repeat until the gap is within ``tolerance`` of the mean or no cut helps.
Keys a planned move takes are never planned again, so moves never overlap and each lies
inside one owner's range as the map will be when its turn comes.  Ties break by names and
keys: the same input always gives the same plan.

Keyspaces are balanced one at a time (a shard heavy in ``user`` rows and light in
``course`` rows is rebalanced in each keyspace on its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Stop when the heaviest and lightest shard differ by at most this share of the mean.
DEFAULT_TOLERANCE = 0.10
#: At most this many moves per shard and keyspace in one plan.
MAX_MOVES_PER_SHARD = 4


@dataclass(frozen=True)
class Bucket:
    """Load of keys ``lo <= key < hi`` of one range.

    :param lo: first key.
    :param hi: first key after the bucket.
    :param load: rows (or bytes) of every table of the keyspace in it.
    """

    lo: int
    hi: int
    load: int


@dataclass(frozen=True)
class RangeLoad:
    """One range of the map with its measured load.

    :param keyspace: ``user`` or ``course``.
    :param lo: first key.
    :param hi: first key after it.
    :param shard: its owner.
    :param buckets: slices tiling ``[lo, hi)`` in key order (one bucket: it cannot be split).
    """

    keyspace: str
    lo: int
    hi: int
    shard: str
    buckets: tuple[Bucket, ...]

    @property
    def load(self) -> int:
        """The range's whole load."""
        return sum(b.load for b in self.buckets)


@dataclass(frozen=True)
class PlannedMove:
    """Move ``[lo, hi)`` of ``keyspace`` from ``source`` to ``dest``.

    :param keyspace: the keyspace.
    :param lo: first key moved (a cut inside the source's range, or its first key).
    :param hi: first key after it (the end of the source's range).
    :param source: the owner now.
    :param dest: the shard that will serve it.
    :param load: rows (or bytes) it carries, as measured.
    :param split: whether it splits a range (``lo`` is not the range's first key).
    """

    keyspace: str
    lo: int
    hi: int
    source: str
    dest: str
    load: int
    split: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the journal)."""
        return dict(vars(self))


@dataclass(frozen=True)
class Balance:
    """Load per shard of one keyspace, before or after a plan.

    :param keyspace: the keyspace.
    :param loads: load per shard, by name.
    """

    keyspace: str
    loads: dict[str, int]

    @property
    def spread(self) -> int:
        """Heaviest minus lightest shard."""
        return max(self.loads.values()) - min(self.loads.values()) if self.loads else 0

    @property
    def ratio(self) -> float:
        """Heaviest over lightest (``inf`` when a shard holds nothing and another does)."""
        if not self.loads or max(self.loads.values()) == 0:
            return 1.0
        low = min(self.loads.values())
        return max(self.loads.values()) / low if low else float("inf")


def plan_rebalance(
    ranges: Sequence[RangeLoad],
    shards: Sequence[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_moves_per_shard: int = MAX_MOVES_PER_SHARD,
) -> list[PlannedMove]:
    """Moves that even out the load of every keyspace over ``shards``.

    :param ranges: the map's ranges with their load (any keyspaces, any order).
    :param shards: every shard that may hold ranges (owners of ``ranges`` are added).
    :param tolerance: stop when the spread is within this share of the mean load.
    :param max_moves_per_shard: bound on the plan's length per keyspace (moves are slow).
    """
    plan: list[PlannedMove] = []
    for keyspace in sorted({r.keyspace for r in ranges}):
        mine = [r for r in ranges if r.keyspace == keyspace]
        names = sorted({*shards, *(r.shard for r in mine)})
        plan += _plan_keyspace(keyspace, mine, names, tolerance, max_moves_per_shard * len(names))
    return plan


def balance_of(
    ranges: Sequence[RangeLoad], shards: Sequence[str], plan: Sequence[PlannedMove] = ()
) -> list[Balance]:
    """Load per shard and keyspace, after applying ``plan`` to ``ranges`` (none: now).

    :param ranges: the measured ranges.
    :param shards: every shard that may hold ranges.
    :param plan: moves to apply first.
    """
    out = []
    for keyspace in sorted({r.keyspace for r in ranges}):
        mine = [r for r in ranges if r.keyspace == keyspace]
        loads = {name: 0 for name in sorted({*shards, *(r.shard for r in mine)})}
        for r in mine:
            for b in r.buckets:
                loads[_owner_after(plan, keyspace, b.lo, r.shard)] += b.load
        out.append(Balance(keyspace, loads))
    return out


def _owner_after(plan: Sequence[PlannedMove], keyspace: str, key: int, owner: str) -> str:
    for move in plan:
        if move.keyspace == keyspace and move.lo <= key < move.hi:
            owner = move.dest
    return owner


@dataclass
class _Piece:
    """A range as the plan leaves it: who owns it, its buckets, whether it may move."""

    lo: int
    hi: int
    shard: str
    buckets: list[Bucket]
    movable: bool


def _plan_keyspace(
    keyspace: str, ranges: list[RangeLoad], names: list[str], tolerance: float, limit: int
) -> list[PlannedMove]:
    pieces = [
        _Piece(r.lo, r.hi, r.shard, list(r.buckets), True)
        for r in sorted(ranges, key=lambda r: r.lo)
    ]
    plan: list[PlannedMove] = []
    while len(plan) < limit:
        loads = {name: 0 for name in names}
        for p in pieces:
            loads[p.shard] += sum(b.load for b in p.buckets)
        mean = sum(loads.values()) / len(loads)
        light = min(names, key=lambda n: (loads[n], n))
        chosen = None
        # The heaviest shard first; when none of its ranges can be cut usefully (one big
        # bucket), the next heaviest.
        for heavy in sorted(names, key=lambda n: (-loads[n], n)):
            gap = loads[heavy] - loads[light]
            if gap <= 0 or gap <= tolerance * mean:
                break
            # Fill the lightest shard up to the mean, or bring the heaviest down to it; a
            # move smaller than the tolerance band is not worth its copy.
            target = min(loads[heavy] - mean, mean - loads[light])
            found = _best_cut(pieces, heavy, gap, target, tolerance * mean)
            if found is not None:
                chosen = (heavy, *found)
                break
        if chosen is None:
            break
        heavy, index, cut = chosen
        piece = pieces[index]
        kept = [b for b in piece.buckets if b.hi <= cut]
        moved = [b for b in piece.buckets if b.lo >= cut]
        plan.append(
            PlannedMove(
                keyspace, cut, piece.hi, heavy, light, sum(b.load for b in moved), cut > piece.lo
            )
        )
        replacement = [_Piece(cut, piece.hi, light, moved, False)]
        if kept:
            replacement.insert(0, _Piece(piece.lo, cut, heavy, kept, True))
        pieces[index : index + 1] = replacement
    return plan


def _best_cut(
    pieces: list[_Piece], heavy: str, gap: int, target: float, least: float
) -> tuple[int, int] | None:
    """(piece index, cut key) moving the load nearest ``target``, ``least <= m < gap``."""
    best: tuple[float, int, int] | None = None
    for piece in pieces:
        if piece.shard != heavy or not piece.movable:
            continue
        moved = 0
        # Walk cuts from the top: [cut, hi) grows one bucket at a time.
        for bucket in reversed(piece.buckets):
            moved += bucket.load
            if moved <= 0 or moved < least:
                continue
            if moved >= gap:
                break
            score = abs(moved - target)
            candidate = (score, piece.lo, bucket.lo)
            if best is None or candidate < best:
                best = candidate
    if best is None:
        return None
    _, piece_lo, cut = best
    index = next(i for i, p in enumerate(pieces) if p.lo == piece_lo and p.shard == heavy)
    return index, cut
