"""A lookup index over one keyspace's ranges: which range holds a key, in O(1) when it can.

A map of 10,000 ranges is routed on every query, so a lookup must not walk the ranges, nor
even bisect them when it can help it (13 comparisons of boxed ints, each a likely cache
miss).  The index cuts the keys from the first range's ``lo`` to the last range's ``lo``
into equal buckets, a power of two of keys wide, about :data:`BUCKETS_PER_RANGE` buckets per
range.  Each bucket records the range holding the bucket's first key: its ``lo``, ``hi``,
owner and position, side by side in one 32-byte slot of a machine-integer array, aligned so
that a slot never straddles two cache lines.  A key is in that range unless the range ends
before the key; then (a range boundary inside the bucket) it is in the next bucket's range,
one slot further.  Only when neither holds it (two boundaries in one bucket, a gap, a very
uneven map) does the lookup bisect the ``lo`` values, so the worst case stays O(log n).

Each field is read through a strided :class:`memoryview` (``hi_at[bucket]``...): one index
per lookup, where ``slots[4 * bucket + 1]`` would make three more int objects per lookup
once bucket numbers pass CPython's cached small ints (256).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from itertools import chain, pairwise
from operator import mul, sub
from typing import Protocol

#: Buckets per range, about: more buckets make the next-bucket step (a key past its
#: bucket's first range) rarer, at 32 bytes of array per bucket (1.25 MB for a keyspace of
#: 10,000 ranges).  Two per range halve that but take the step for a quarter of the keys of
#: an evenly cut map, and routed about 4% slower in benchmarks/router.py.
BUCKETS_PER_RANGE = 4
#: Values stored per bucket: lo, hi, owner, position.
SLOT_WIDTH = 4
_SLOT_BYTES = 8 * SLOT_WIDTH
#: The slot after the last bucket: no key is in ``[0, 0)``, so the next-bucket step from
#: the last bucket falls through to the bisect.
_END_SLOT = (0, 0, 0, 0)


class Range(Protocol):
    """What the index needs of a range (a :class:`~lms_db.catalog.RangeAssignment`)."""

    @property
    def lo(self) -> int: ...
    @property
    def hi(self) -> int: ...
    @property
    def shard(self) -> str: ...
    @property
    def state(self) -> str: ...


class KeyspaceIndex:
    """The ranges of one keyspace, sorted by ``lo``, with their bucket table.

    The fields are public so that the Router's hot path can read them without a call;
    :meth:`position` is the same lookup as a method (the one the tests hold the table to).

    :ivar los: the ``lo`` of each range, ascending.
    :ivar his: the ``hi`` of each range.
    :ivar owners: the distinct ``(shard, state)`` pairs, in order of first appearance.
    :ivar owner_of: for each range, its index in :attr:`owners`.
    :ivar base: the first key of the bucket table (the first range's ``lo``).
    :ivar shift: bucket width, as a power of two.
    :ivar top: index of the last bucket, which starts after the last range's ``lo``: every
        key past the table belongs to it.
    :ivar lo_at: per bucket (``0..top``, then one empty slot), the ``lo`` of the range
        holding the bucket's first key.
    :ivar hi_at: the same range's ``hi`` (``0`` in the empty slot).
    :ivar owner_at: the same range's index in :attr:`owners`.
    :ivar position_at: the same range's index in :attr:`los`.
    """

    __slots__ = (
        "_slots",
        "base",
        "hi_at",
        "his",
        "lo_at",
        "los",
        "owner_at",
        "owner_of",
        "owners",
        "position_at",
        "shift",
        "top",
    )

    def __init__(
        self,
        los: list[int],
        his: list[int],
        owner_of: list[int],
        owners: tuple[tuple[str, str], ...],
    ) -> None:
        """Build from columns: ``los`` ascending without duplicates (:meth:`of` checks it).

        :param los: the ``lo`` of each range, ascending.
        :param his: the ``hi`` of each range.
        :param owner_of: for each range, its index in ``owners``.
        :param owners: the distinct ``(shard, state)`` pairs.
        """
        if not los:
            raise ValueError("a keyspace index needs at least one range")
        self.los, self.his, self.owner_of, self.owners = los, his, owner_of, owners
        self.base = base = los[0]
        span = los[-1] - base + 1
        bucket_bits = max(1, (BUCKETS_PER_RANGE * len(los) - 1).bit_length())
        self.shift = shift = max(0, (span - 1).bit_length() - bucket_bits)
        self.top = top = ((los[-1] - base) >> shift) + 1
        # Bucket b starts at base + (b << shift); range i holds the buckets that start in
        # [lo_i, lo_i+1) (ceiling divisions), the last range every bucket up to top.  The
        # repeats are laid out by C iterators: a map is indexed each time its version moves.
        firsts = [-((base - lo) >> shift) for lo in los]
        firsts.append(top + 1)
        entries = zip(los, his, owner_of, range(len(los)), strict=True)
        # (lo, hi, owner, position) * buckets of each range, flattened (tuple repetition
        # and chain in C, then one array fill from a list: twice as fast as from a stream).
        flat = list(chain.from_iterable(map(mul, entries, map(sub, firsts[1:], firsts))))
        flat.extend(_END_SLOT)
        self._slots, table = _aligned_table(flat)
        self.lo_at, self.hi_at, self.owner_at, self.position_at = (
            table[field::SLOT_WIDTH] for field in range(SLOT_WIDTH)
        )

    @classmethod
    def of(cls, ranges: Sequence[Range]) -> KeyspaceIndex:
        """Build from range objects, sorted by ``lo`` without duplicates.

        :param ranges: the ranges of one keyspace.
        :raises ValueError: no ranges, or not sorted by ``lo``.
        """
        los = [r.lo for r in ranges]
        if any(a >= b for a, b in pairwise(los)):
            raise ValueError("ranges must be sorted by lo, without duplicates")
        numbers: dict[tuple[str, str], int] = {}
        owner_of = [numbers.setdefault((r.shard, r.state), len(numbers)) for r in ranges]
        return cls(los, [r.hi for r in ranges], owner_of, tuple(numbers))

    def position(self, key: int) -> int:
        """The index of the range holding ``key``, or ``-1`` if none does.

        :param key: a non-negative integer key.
        """
        bucket = (key - self.base) >> self.shift
        if bucket < 0:
            return -1
        if bucket > self.top:
            bucket = self.top
        if key < self.hi_at[bucket]:
            return self.position_at[bucket]
        bucket += 1  # a range boundary inside the bucket: the next bucket's range
        if self.lo_at[bucket] <= key < self.hi_at[bucket]:
            return self.position_at[bucket]
        # Two boundaries (or a gap) inside the bucket, or a key past the last range.
        i = bisect.bisect_right(self.los, key) - 1
        return i if key < self.his[i] else -1


def _aligned_table(values: list[int]) -> tuple[array[int], memoryview]:
    """``values`` in a machine-integer array, and a view of exactly them that starts on a
    32-byte boundary (an array's buffer is only 16-byte aligned; alignment is a matter of
    speed alone, so the view is right either way)."""
    pad = 2  # words: 16 bytes, the most a 16-byte aligned buffer is off by
    buffer = array("Q", bytes(8 * pad))  # keys and bounds are 0 <= k < 2**63
    buffer.fromlist(values)
    if (buffer.buffer_info()[0] + 8 * pad) % _SLOT_BYTES == 0:
        return buffer, memoryview(buffer)[pad:]
    del buffer[:pad]  # the values move down in place: CPython shrinks this little without
    return buffer, memoryview(buffer)  # reallocating
