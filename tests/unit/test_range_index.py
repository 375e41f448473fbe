"""KeyspaceIndex (buckets, the next bucket, then a bisect) agrees with a scan on any map (#8)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lms_db.catalog.range_index import BUCKETS_PER_RANGE, KeyspaceIndex, _aligned_table
from lms_db.catalog.shard_map import RangeAssignment, ShardMap
from lms_db.router.keys import MAX_KEY

#: Widths from one key to most of the keyspace, so buckets hold many boundaries or none.
WIDTHS = st.one_of(st.integers(1, 8), st.integers(1, 2**20), st.integers(1, 2**61))


@st.composite
def uneven_ranges(draw: st.DrawFn) -> list[RangeAssignment]:
    """Sorted, non-overlapping ranges: huge and tiny side by side, gaps or none, up to 2**63-1."""
    ranges: list[RangeAssignment] = []
    at = draw(st.one_of(st.just(0), st.integers(0, 2**62)))
    for i in range(draw(st.integers(1, 40))):
        lo = at + draw(st.one_of(st.just(0), WIDTHS))
        hi = lo + draw(WIDTHS)
        if hi > MAX_KEY:
            break
        state = draw(st.sampled_from(["serving", "moving", "frozen"]))
        ranges.append(RangeAssignment("user", lo, hi, f"shard-{i % 3}", state))
        at = hi
    if not ranges:
        ranges.append(RangeAssignment("user", 0, 1, "shard-0", "serving"))
    return ranges


def scan(ranges: list[RangeAssignment], key: int) -> int:
    return next((i for i, r in enumerate(ranges) if r.lo <= key < r.hi), -1)


def probes(ranges: list[RangeAssignment], rng: random.Random) -> set[int]:
    keys = {0, MAX_KEY}
    for r in ranges:
        keys |= {r.lo - 1, r.lo, r.lo + 1, r.hi - 2, r.hi - 1, r.hi, r.hi + 1}
        keys |= {rng.randrange(r.lo, r.hi) for _ in range(3)}
    keys |= {rng.randrange(ranges[-1].hi + 1) for _ in range(50)}
    return {k for k in keys if 0 <= k <= MAX_KEY}


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(uneven_ranges(), st.randoms(use_true_random=False))
def test_position_matches_a_scan_on_uneven_maps(
    ranges: list[RangeAssignment], rng: random.Random
) -> None:
    index = KeyspaceIndex.of(ranges)
    for key in probes(ranges, rng):
        assert index.position(key) == scan(ranges, key), key


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(uneven_ranges(), st.randoms(use_true_random=False))
def test_a_map_read_as_rows_equals_the_one_built_from_objects(
    ranges: list[RangeAssignment], rng: random.Random
) -> None:
    rows = [(r.keyspace, r.lo, r.hi, r.shard, r.state) for r in ranges]
    from_rows, built = ShardMap.of_rows(4, rows), ShardMap(4, ranges)
    for key in sorted(probes(ranges, rng))[:60]:
        expected = scan(ranges, key)
        if expected < 0:
            continue
        assert from_rows.find("user", key) == built.find("user", key) == ranges[expected]
    assert from_rows == built and hash(from_rows) == hash(built)
    assert from_rows.for_keyspace("user") == tuple(ranges)
    assert from_rows.shards == built.shards == tuple(sorted({r.shard for r in ranges}))


@settings(deadline=None)
@given(uneven_ranges())
def test_each_bucket_holds_the_range_at_its_first_key(ranges: list[RangeAssignment]) -> None:
    index = KeyspaceIndex.of(ranges)
    slots = zip(index.lo_at, index.hi_at, index.owner_at, index.position_at, strict=True)
    for bucket, (lo, hi, owner, position) in enumerate(slots):
        if bucket > index.top:  # the empty slot after the table: no key is in [0, 0)
            assert (lo, hi, owner, position) == (0, 0, 0, 0)
            continue
        # The range holding the bucket's first key, or the last one before it (a gap).
        start = index.base + (bucket << index.shift)
        r = ranges[position]
        assert r.lo <= start and (position + 1 == len(ranges) or ranges[position + 1].lo > start)
        assert (lo, hi, index.owners[owner]) == (r.lo, r.hi, (r.shard, r.state))
    assert len(index.hi_at) == index.top + 2


def test_an_evenly_cut_keyspace_is_answered_from_its_bucket_or_the_next() -> None:
    ranges = [
        RangeAssignment("user", i * 1000, (i + 1) * 1000, "s", "serving") for i in range(10_000)
    ]
    index = KeyspaceIndex.of(ranges)
    assert BUCKETS_PER_RANGE * len(ranges) // 2 <= index.top <= 2 * BUCKETS_PER_RANGE * len(ranges)
    rng = random.Random(7)
    keys = [rng.randrange(10_000_000) for _ in range(20_000)]
    # No range is narrower than a bucket, so a key is in its bucket's range or in the next
    # bucket's: the bisect is never needed.
    for key in keys:
        bucket = min((key - index.base) >> index.shift, index.top)
        assert key < index.hi_at[bucket] or (
            index.lo_at[bucket + 1] <= key < index.hi_at[bucket + 1]
        )
    assert [index.position(k) for k in keys] == [k // 1000 for k in keys]
    assert index.position(9_999_999) == 9_999 and index.position(10_000_000) == -1


def test_keys_at_the_ends_of_the_keyspace() -> None:
    ranges = [
        RangeAssignment("user", 0, 1, "s", "serving"),
        RangeAssignment("user", 5, 2**40, "t", "frozen"),  # a gap [1, 5), then a huge range
        RangeAssignment("user", MAX_KEY - 1, MAX_KEY, "u", "moving"),  # MAX_KEY itself: none
    ]
    index = KeyspaceIndex.of(ranges)
    expected = {0: 0, 1: -1, 4: -1, 5: 1, 2**40 - 1: 1, 2**40: -1, MAX_KEY - 1: 2, MAX_KEY: -1}
    assert {key: index.position(key) for key in expected} == expected
    late = KeyspaceIndex.of([RangeAssignment("user", 2**62, 2**62 + 3, "s", "serving")])
    assert [late.position(k) for k in (0, 2**62 - 1, 2**62, 2**62 + 2, 2**62 + 3)] == [
        -1,
        -1,
        0,
        0,
        -1,
    ]


def test_unsorted_or_empty_ranges_are_refused() -> None:
    a = RangeAssignment("user", 10, 20, "s", "serving")
    b = RangeAssignment("user", 0, 10, "s", "serving")
    with pytest.raises(ValueError, match="sorted by lo"):
        KeyspaceIndex.of([a, b])
    with pytest.raises(ValueError, match="at least one range"):
        KeyspaceIndex.of([])


def test_the_slot_table_starts_on_a_32_byte_boundary() -> None:
    """A 32-byte slot then never straddles two cache lines (speed only: values are exact)."""
    for length in (4, 8, 400, 4_000, 160_000):
        values = list(range(length))
        buffer, table = _aligned_table(values)
        assert table.tolist() == values
        assert (buffer.buffer_info()[0] + 8 * (len(buffer) - len(table))) % 32 == 0
