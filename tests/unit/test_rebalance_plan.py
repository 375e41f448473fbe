"""The rebalance planner, a pure function: properties checked with hypothesis, and examples."""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lms_db.moves.rebalance_plan import (
    Bucket,
    PlannedMove,
    RangeLoad,
    balance_of,
    plan_rebalance,
)

SHARDS = ("shard-0", "shard-1", "shard-2", "shard-3")


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[RangeLoad], list[str]]:
    """Keyspaces tiled by ranges on random owners, each range cut into weighted buckets."""
    shards = list(SHARDS[: draw(st.integers(2, 4))])
    ranges: list[RangeLoad] = []
    for keyspace in draw(st.sets(st.sampled_from(["user", "course"]), min_size=1)):
        cuts = sorted(draw(st.sets(st.integers(1, 9_999), max_size=5)))
        edges = [0, *cuts, 10_000]
        for lo, hi in itertools.pairwise(edges):
            inner = (
                sorted(draw(st.sets(st.integers(lo + 1, hi - 1), max_size=6)))
                if hi - lo > 1
                else []
            )
            points = [lo, *inner, hi]
            buckets = tuple(
                Bucket(a, b, draw(st.integers(0, 1_000))) for a, b in itertools.pairwise(points)
            )
            ranges.append(RangeLoad(keyspace, lo, hi, draw(st.sampled_from(shards)), buckets))
    return ranges, shards


def squares(ranges: list[RangeLoad], shards: list[str], plan: list[PlannedMove]) -> list[float]:
    out = []
    for balance in balance_of(ranges, shards, plan):
        mean = sum(balance.loads.values()) / len(balance.loads)
        out.append(sum((v - mean) ** 2 for v in balance.loads.values()))
    return out


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_moves_never_overlap_and_each_lies_inside_one_owners_range(
    fleet: tuple[list[RangeLoad], list[str]],
) -> None:
    ranges, shards = fleet
    plan = plan_rebalance(ranges, shards)
    owners: dict[str, list[list[Any]]] = {
        k: [[r.lo, r.hi, r.shard] for r in sorted(ranges, key=lambda r: r.lo) if r.keyspace == k]
        for k in {r.keyspace for r in ranges}
    }
    taken: dict[str, list[tuple[int, int]]] = {}
    for move in plan:
        assert move.lo < move.hi and move.source != move.dest and move.load > 0
        for lo, hi in taken.get(move.keyspace, []):
            assert move.hi <= lo or hi <= move.lo, (move, lo, hi)
        taken.setdefault(move.keyspace, []).append((move.lo, move.hi))
        # At its turn (earlier moves applied), [lo, hi) is the top of one source range.
        table = owners[move.keyspace]
        [holder] = [r for r in table if r[0] <= move.lo < r[1]]
        assert holder[2] == move.source and holder[1] == move.hi
        assert move.split == (move.lo > holder[0])
        index = table.index(holder)
        table[index : index + 1] = ([[holder[0], move.lo, holder[2]]] if move.split else []) + [
            [move.lo, move.hi, move.dest]
        ]


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_every_move_evens_out_the_fleet(fleet: tuple[list[RangeLoad], list[str]]) -> None:
    ranges, shards = fleet
    plan = plan_rebalance(ranges, shards)
    before = balance_of(ranges, shards)
    after = balance_of(ranges, shards, plan)
    for b, a in zip(before, after, strict=True):
        assert a.spread <= b.spread and a.ratio <= b.ratio
        assert sum(a.loads.values()) == sum(b.loads.values())
    # Each move lowers the sum of squared deviations from the mean, so the plan as a whole
    # leaves every keyspace it touches strictly more even.
    previous = squares(ranges, shards, [])
    for i in range(1, len(plan) + 1):
        current = squares(ranges, shards, plan[:i])
        assert sum(current) < sum(previous)
        previous = current


@settings(max_examples=200, deadline=None)
@given(fleets(), st.randoms(use_true_random=False))
def test_the_plan_is_deterministic_whatever_the_input_order(
    fleet: tuple[list[RangeLoad], list[str]], rnd: random.Random
) -> None:
    ranges, shards = fleet
    plan = plan_rebalance(ranges, shards)
    shuffled, names = list(ranges), list(shards)
    rnd.shuffle(shuffled)
    rnd.shuffle(names)
    assert plan_rebalance(shuffled, names) == plan == plan_rebalance(ranges, shards)


def test_a_heavy_shard_is_split_onto_an_empty_one() -> None:
    buckets = tuple(Bucket(i * 100, (i + 1) * 100, 10) for i in range(10))
    ranges = [
        RangeLoad("user", 0, 1000, "shard-0", buckets),
        RangeLoad("user", 1000, 2000, "shard-1", (Bucket(1000, 2000, 40),)),
    ]
    shards = ["shard-0", "shard-1", "shard-2"]
    plan = plan_rebalance(ranges, shards)
    assert plan == [PlannedMove("user", 500, 1000, "shard-0", "shard-2", 50, True)]
    [after] = balance_of(ranges, shards, plan)
    assert after.loads == {"shard-0": 50, "shard-1": 40, "shard-2": 50}


def test_a_move_that_would_only_swap_two_shards_is_not_planned() -> None:
    # a holds 90 rows more than b, but its only cut moves 100: b would become the heavier.
    ranges = [
        RangeLoad("user", 0, 10, "a", (Bucket(0, 5, 100), Bucket(5, 10, 100))),
        RangeLoad("user", 10, 20, "b", (Bucket(10, 20, 110),)),
    ]
    assert plan_rebalance(ranges, ["a", "b"], tolerance=0.1) == []


def test_an_even_fleet_needs_no_move_and_an_unsplittable_range_stays() -> None:
    even = [
        RangeLoad("user", 0, 10, "a", (Bucket(0, 10, 100),)),
        RangeLoad("user", 10, 20, "b", (Bucket(10, 20, 95),)),
    ]
    assert plan_rebalance(even, ["a", "b"]) == []
    lumpy = [RangeLoad("course", 0, 10, "a", (Bucket(0, 10, 100),))]
    assert plan_rebalance(lumpy, ["a", "b"]) == []  # moving it all would only swap
