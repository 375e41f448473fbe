"""The Router on real MariaDB (two servers), PostgreSQL and SQLite fleets.

Routing agrees with the catalog's map at every boundary of every range (random maps from
hypothesis), frozen ranges refuse writes, a map change made by another process is seen
within the staleness bound, scatter reaches every shard.
"""

from __future__ import annotations

import bisect
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lms_db.catalog import RangeAssignment, bump_map_version, read_shard_map, shard_ranges
from lms_db.errors import InputError, RangeFrozen, UnknownObjectError
from lms_db.router import Router
from lms_db.router.keys import MAX_KEY
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_make_second_database,
    fixture_map_fleet,
    fixture_second_mariadb,
)
from tests.unit.test_range_index import probes, uneven_ranges

SHARDS = ("shard-0", "shard-1", "shard-2")


def _write_map(catalog: sa.Engine, layout: dict[str, list[tuple[int, int, str, str]]]) -> int:
    """Replace the catalog's ranges with ``layout`` (as a move would), bumping the version."""
    with catalog.begin() as conn:
        conn.execute(shard_ranges.delete())
        version = bump_map_version(conn)
        conn.execute(
            shard_ranges.insert(),
            [
                {
                    "keyspace": k,
                    "lo": lo,
                    "hi": hi,
                    "shard": s,
                    "state": state,
                    "map_version": version,
                }
                for k, spans in layout.items()
                for lo, hi, s, state in spans
            ],
        )
    return version


@st.composite
def layouts(draw: st.DrawFn) -> dict[str, list[tuple[int, int, str, str]]]:
    """A random tiling of [0, end) per keyspace over the three shards."""
    out = {}
    for keyspace in ("user", "course"):
        cuts = sorted(draw(st.sets(st.integers(1, 10**12), min_size=1, max_size=6)))
        bounds = [0, *cuts]
        end = bounds[-1] + draw(st.integers(1, 10**6))
        spans = list(zip(bounds, [*bounds[1:], end], strict=True))
        out[keyspace] = [
            (
                lo,
                hi,
                draw(st.sampled_from(SHARDS)),
                draw(st.sampled_from(("serving", "serving", "moving", "frozen"))),
            )
            for lo, hi in spans
        ]
    return out


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layout=layouts(), probes=st.lists(st.integers(0, 2 * 10**12), max_size=20))
def test_routing_agrees_with_the_map_at_every_boundary(
    map_fleet: Fleet, layout: dict[str, list[tuple[int, int, str, str]]], probes: list[int]
) -> None:
    catalog = sa.create_engine(map_fleet.topology.catalog.url)
    try:
        version = _write_map(catalog, layout)
        with Router(catalog, map_fleet.topology, max_staleness=0) as router:
            assert router.map_version == version
            truth = read_shard_map(catalog)
            for keyspace, spans in layout.items():
                end = spans[-1][1]
                keys = {k for lo, hi, _, _ in spans for k in (lo, hi - 1, hi)} | set(probes)
                for key in sorted(keys):
                    if key >= end:
                        with pytest.raises(UnknownObjectError, match="no shard serves"):
                            router.shard_for(keyspace, key)
                        continue
                    route = router.shard_for(keyspace, key)
                    expected = truth.find(keyspace, key)
                    assert (route.shard, route.state, route.lo, route.hi) == (
                        expected.shard,
                        expected.state,
                        expected.lo,
                        expected.hi,
                    )
                    assert route.lo <= key < route.hi
                    assert route.map_version == version
    finally:
        catalog.dispose()


def test_a_frozen_range_refuses_writes(map_fleet: Fleet) -> None:
    catalog = sa.create_engine(map_fleet.topology.catalog.url)
    with Router(catalog, map_fleet.topology, max_staleness=0) as router:
        assert router.check_writable("user", 1500).shard == "shard-1"
        with catalog.begin() as conn:
            conn.execute(
                shard_ranges.update()
                .where(shard_ranges.c.keyspace == "user", shard_ranges.c.lo == 1000)
                .values(state="frozen")
            )
            bump_map_version(conn)
        with pytest.raises(RangeFrozen) as caught:
            router.engine_for("user", 1500)
        error = caught.value
        assert error.retryable and error.exit_code == 1 and error.code == "range_frozen"
        assert (error.keyspace, error.key, error.shard) == ("user", 1500, "shard-1")
        assert "frozen" in error.message and "retry" in error.message
        # Reads still work, and the neighbouring ranges still take writes.
        assert router.shard_for("user", 1500).state == "frozen"
        with router.engine_for("user", 1500, read=True).connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        assert router.check_writable("user", 999).shard == "shard-0"
        assert router.check_writable("user", 2000).shard == "shard-2"
    catalog.dispose()


CHANGE_MAP = """
import sys, sqlalchemy as sa
from lms_db.catalog import bump_map_version, shard_ranges
engine = sa.create_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(shard_ranges.update().where(shard_ranges.c.keyspace == "user",
                 shard_ranges.c.lo == 0).values(shard="shard-2"))
    bump_map_version(conn)
"""


def test_a_map_change_by_another_process_is_seen_within_the_staleness_bound(
    map_fleet: Fleet,
) -> None:
    staleness = 0.5
    with Router.from_topology(map_fleet.topology, max_staleness=staleness) as router:
        assert router.shard_for("user", 10).shard == "shard-0"
        url = map_fleet.topology.catalog.url.render_as_string(hide_password=False)
        subprocess.run([sys.executable, "-c", CHANGE_MAP, url], check=True)
        committed = time.monotonic()
        while router.shard_for("user", 10).shard != "shard-2":
            assert time.monotonic() - committed < staleness + 0.5, "map change not seen"
            time.sleep(0.01)
        seen = time.monotonic() - committed
        assert seen <= staleness + 0.5
        assert router.map_version == 2


def test_scatter_runs_on_every_shard_with_bounded_parallelism(map_fleet: Fleet) -> None:
    with Router.from_topology(map_fleet.topology) as router:
        assert router.scatter("user", "SELECT 1", parallel=2) == {s: [(1,)] for s in SHARDS}
        names = router.scatter("global", lambda shard, conn: shard, parallel=1)
        assert names == {s: s for s in SHARDS}
        with pytest.raises(Exception, match="shard-"):
            router.scatter("course", "SELECT * FROM no_such_table")
        engines = {id(router.engine_for_shard(s)) for s in SHARDS}
        assert len(engines) == 3 and len(router.pool) >= 3
        with router.session_for("course", 150) as session:
            assert session.execute(sa.text("SELECT 1")).scalar() == 1
    assert len(router.pool) == 0  # closed: every engine disposed


@pytest.mark.parametrize(
    ("keyspace", "key", "error", "message"),
    [
        ("users", 1, UnknownObjectError, "unknown keyspace 'users'"),
        ("global", 1, UnknownObjectError, "copied to every shard"),
        ("analytics", 1, UnknownObjectError, "analytics database"),
        ("user", "12x", InputError, "non-negative integer"),
        ("user", -1, InputError, "non-negative integer"),
        ("user", True, InputError, "non-negative integer"),
        ("user", 2**63, InputError, "larger than the largest shard key"),
        ("user", 5000, UnknownObjectError, "no shard serves user key 5000"),
    ],
)
def test_bad_keys_and_keyspaces_fail_with_one_line(
    tmp_path: object,
    keyspace: str,
    key: object,
    error: type[Exception],
    message: str,
    request: pytest.FixtureRequest,
) -> None:
    from tests.backend.router_helpers import _fleet_for

    sqlite_fleet = _fleet_for(request, tmp_path, "sqlite", schema=False)  # type: ignore[arg-type]
    with (
        Router.from_topology(sqlite_fleet.topology) as router,
        pytest.raises(error, match=message) as caught,
    ):
        router.shard_for(keyspace, key)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_routes_built_on_the_hot_path_equal_dataclass_ones() -> None:
    from lms_db.catalog import RangeAssignment
    from lms_db.router import ShardRoute
    from lms_db.router.router import _route

    made = _route("user", 5, RangeAssignment("user", 0, 10, "shard-0", "frozen"), 3)
    plain = ShardRoute("user", 5, "shard-0", "frozen", 0, 10, 3)
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert list(vars(made)) == list(vars(plain)) and not made.writable


def test_shard_for_builds_the_same_route_as_the_dataclass(
    tmp_path: object, request: pytest.FixtureRequest
) -> None:
    from lms_db.router import ShardRoute
    from tests.backend.router_helpers import _fleet_for

    fleet = _fleet_for(request, tmp_path, "sqlite", schema=False)  # type: ignore[arg-type]
    with Router.from_topology(fleet.topology) as router:
        for key in (0, 1, 999, 1000, 4999):
            made = router.shard_for("user", key)
            found = router.shard_map.find("user", key)
            plain = ShardRoute(
                "user", key, found.shard, found.state, found.lo, found.hi, router.map_version
            )
            assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
            assert list(vars(made)) == list(vars(plain))


@pytest.fixture(name="sqlite_router")
def fixture_sqlite_router(
    tmp_path: object, request: pytest.FixtureRequest
) -> Iterator[tuple[sa.Engine, Router]]:
    """A Router on a SQLite fleet that checks no version by itself: tests write a map, then
    call ``refresh``."""
    from tests.backend.router_helpers import _fleet_for

    fleet = _fleet_for(request, tmp_path, "sqlite", schema=False)  # type: ignore[arg-type]
    catalog = sa.create_engine(fleet.topology.catalog.url)
    with Router(catalog, fleet.topology, max_staleness=3600) as router:
        yield catalog, router
    catalog.dispose()


def _assert_routes_like_a_search(
    router: Router, ranges: list[RangeAssignment], keys: Iterable[int]
) -> None:
    """Each key routes to the range holding it (as a dataclass-built route), or to none.

    ``ranges`` are sorted and disjoint: the last one starting at or before a key is the only
    one that can hold it.
    """
    from lms_db.router import ShardRoute

    los, version = [r.lo for r in ranges], router.map_version
    for key in keys:
        r = ranges[bisect.bisect_right(los, key) - 1]
        if not r.lo <= key < r.hi:
            with pytest.raises(UnknownObjectError, match=f"no shard serves user key {key} "):
                router.shard_for("user", key)
            continue
        route = router.shard_for("user", key)
        plain = ShardRoute("user", key, r.shard, r.state, r.lo, r.hi, version)
        assert route == plain and list(vars(route)) == list(vars(plain)), key


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ranges=uneven_ranges(), rng=st.randoms(use_true_random=False))
def test_the_hot_path_agrees_with_a_search_on_uneven_maps(
    sqlite_router: tuple[sa.Engine, Router], ranges: list[RangeAssignment], rng: random.Random
) -> None:
    """Huge and one-key ranges side by side, gaps, keys at 0 and 2**63-1 and past the end:
    the bucket, the next bucket and the bisect all answer as a search of the ranges does."""
    catalog, router = sqlite_router
    _write_map(catalog, {"user": [(r.lo, r.hi, r.shard, r.state) for r in ranges]})
    router.refresh()
    _assert_routes_like_a_search(router, ranges, sorted(probes(ranges, rng)))


def test_the_hot_path_agrees_with_a_search_at_10000_uneven_ranges(
    sqlite_router: tuple[sa.Engine, Router],
) -> None:
    rng = random.Random(8)
    ranges, at = [], 0
    for i in range(10_000):
        lo = at + rng.choice([0, 0, 0, 1, 700])  # a gap, often none
        hi = lo + rng.choice([1, 3, 500, 1000, 1000, 1000, 2**30])
        ranges.append(RangeAssignment("user", lo, hi, SHARDS[i % 3], "serving"))
        at = hi
    catalog, router = sqlite_router
    _write_map(catalog, {"user": [(r.lo, r.hi, r.shard, r.state) for r in ranges]})
    router.refresh()
    keys = {0, at - 1, at, MAX_KEY} | {rng.randrange(at + 10) for _ in range(3_000)}
    keys |= {k for r in rng.sample(ranges, 300) for k in (r.lo - 1, r.lo, r.hi - 1, r.hi)}
    _assert_routes_like_a_search(router, ranges, sorted(keys))
