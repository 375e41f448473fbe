"""ShardMap.find (bisect over bounds built once per map) agrees with a brute-force scan (#8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms_db.catalog.shard_map import RangeAssignment, ShardMap
from lms_db.errors import UnknownObjectError

STATES = ("serving", "moving", "frozen")


@st.composite
def shard_maps(draw: st.DrawFn) -> ShardMap:
    """Non-overlapping ranges per keyspace, with gaps of random width (sometimes none)."""
    ranges = []
    for keyspace in ("course", "user"):
        at = draw(st.integers(0, 5))
        for i in range(draw(st.integers(0, 12))):
            lo = at + draw(st.sampled_from([0, 0, 1, 3]))  # a gap, often none
            hi = lo + draw(st.integers(1, 6))
            ranges.append(
                RangeAssignment(keyspace, lo, hi, f"shard-{i % 3}", draw(st.sampled_from(STATES)))
            )
            at = hi
    return ShardMap(version=draw(st.integers(1, 9)), ranges=tuple(ranges))


def brute_force(shard_map: ShardMap, keyspace: str, key: int) -> RangeAssignment | None:
    found = [r for r in shard_map.ranges if r.keyspace == keyspace and r.lo <= key < r.hi]
    assert len(found) <= 1
    return found[0] if found else None


@given(shard_maps(), st.sampled_from(["user", "course", "global"]))
def test_find_matches_a_scan_at_every_boundary_and_gap(shard_map: ShardMap, keyspace: str) -> None:
    probes = {0}
    for r in shard_map.ranges:
        probes |= {r.lo - 1, r.lo, r.lo + 1, r.hi - 1, r.hi, r.hi + 1}
    for key in sorted(k for k in probes if k >= 0):
        expected = brute_force(shard_map, keyspace, key)
        if expected is None:
            with pytest.raises(
                UnknownObjectError,
                match=f"no shard serves {keyspace} key "
                f"{key} \\(shard map version {shard_map.version}\\)",
            ):
                shard_map.find(keyspace, key)
        else:
            assert shard_map.find(keyspace, key) is expected


@given(shard_maps())
def test_for_keyspace_is_the_keyspace_ranges_in_order(shard_map: ShardMap) -> None:
    for keyspace in ("user", "course", "nope"):
        assert shard_map.for_keyspace(keyspace) == tuple(
            r for r in shard_map.ranges if r.keyspace == keyspace
        )


def test_the_index_is_no_field_equality_and_repr_are_unchanged() -> None:
    ranges = (RangeAssignment("user", 0, 10, "shard-0", "serving"),)
    a, b = ShardMap(3, ranges), ShardMap(3, ranges)
    a.find("user", 5)
    assert a == b and hash(a) == hash(b)
    assert repr(a) == f"ShardMap(version=3, ranges={ranges!r})"


def test_an_unsorted_map_is_searched_by_lo() -> None:
    ranges = (
        RangeAssignment("user", 20, 30, "shard-1", "frozen"),
        RangeAssignment("user", 0, 10, "shard-0", "serving"),
    )
    shard_map = ShardMap(1, ranges)
    assert shard_map.find("user", 25).shard == "shard-1"
    assert shard_map.find("user", 0).shard == "shard-0"
    with pytest.raises(UnknownObjectError):
        shard_map.find("user", 15)
