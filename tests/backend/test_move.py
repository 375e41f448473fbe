"""Range moves on MariaDB (two servers), PostgreSQL and SQLite: every row of the range
ends on the destination exactly once, byte for byte, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.errors import OperationError
from lms_db.models import metadata
from lms_db.moves.engine import MoveProgress, start_move
from lms_db.moves.fence_set import create_statements, fence_bypass
from lms_db.moves.plan import MoveRequest, split_range
from lms_db.moves.scope import keyspace_scopes
from lms_db.moves.triggers import (
    FENCE_MESSAGE,
    ensure_move_tables,
    existing_triggers,
    fences,
    run_all,
)
from lms_db.router import Router
from lms_db.schema.compare import compare_database
from tests.backend.move_helpers import move_fleet, range_rows, seed_users
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    fixture_make_second_database,
    fixture_second_mariadb,
)

BACKENDS = ["mariadb", "postgresql", "sqlite"]
AUDIT = metadata.tables["audit_logs"]


def _total(rows: dict[str, list[tuple[object, ...]]]) -> int:
    return sum(len(v) for v in rows.values())


@pytest.mark.parametrize("backend", BACKENDS)
def test_move_and_split_put_every_row_on_the_destination_once(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = move_fleet(request, tmp_path, backend)
    _, other, new = fleet.shard_urls
    seed_users(other, [*range(1000, 1060), *range(2990, 3010)], backend)
    moved = range_rows(other, "user", 1020, 1050)
    upper = range_rows(other, "user", 3000, 5000)
    kept = range_rows(other, "user", 1000, 1020)
    assert _total(moved) == 30 * 9 and _total(upper) == 10 * 9

    with Router.from_topology(fleet.topology) as router:
        result = start_move(router, MoveRequest("user", 1020, 1050, "shard-2", chunk_size=7))
        assert result.state == "done" and result.rows_copied == 270
        lo, hi = split_range(router, "user", 3000)
        assert (lo, hi) == (3000, 5000)
        start_move(router, MoveRequest("user", lo, hi, "shard-2", chunk_size=4))
        router.refresh()
        assert router.shard_for("user", 1030).shard == "shard-2"
        assert router.shard_for("user", 3005).shard == "shard-2"
        assert router.shard_for("user", 1019).shard == "shard-1"
        assert router.shard_for("user", 2999).shard == "shard-1"
        states = {r.state for r in router.shard_map.ranges}
        assert states == {"serving"}

    # Byte for byte on the destination (emoji, JSON text, DECIMAL, NULL, TIMESTAMP, BIGINT).
    assert range_rows(new, "user", 1020, 1050) == moved
    assert range_rows(new, "user", 3000, 5000) == upper
    # Nowhere on the source any more; the rest of the source untouched.
    assert _total(range_rows(other, "user", 1020, 1050)) == 0
    assert _total(range_rows(other, "user", 3000, 5000)) == 0
    assert range_rows(other, "user", 1000, 1020) == kept
    assert _total(range_rows(new, "user", 1000, 1020)) == 0
    engine = sa.create_engine(other)
    with engine.connect() as conn:
        left = existing_triggers(conn)
    engine.dispose()
    # The changelog triggers are gone; the fences stay (stale writers get an error).
    assert left and all(name.startswith("lmsdb_f") for name in left)
    # lmsdb's own move tables are no drift for `lmsdb schema check`.
    engine = sa.create_engine(other)
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("lmsdb_fences")
        assert compare_database(conn, metadata) == []
    engine.dispose()


def _refused(url: sa.URL, user_id: int) -> bool:
    """Whether the shard refuses a direct audit insert for ``user_id`` with its fence."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(AUDIT.insert().values(id=9_000_000 + user_id, user_id=user_id, action="x"))
        return False
    except sa.exc.DBAPIError as exc:
        assert FENCE_MESSAGE in str(exc.orig)
        return True
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_fences_of_many_moves_share_one_trigger_set_per_table(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = move_fleet(request, tmp_path, backend)
    _, one, two = fleet.shard_urls
    seed_users(one, [*range(1000, 1010), *range(1020, 1030)], backend)
    with Router.from_topology(fleet.topology) as router:
        split_range(router, "user", 1020)
        split_range(router, "user", 1030)
        for lo, hi in ((1000, 1020), (1020, 1030)):
            start_move(router, MoveRequest("user", lo, hi, "shard-2", chunk_size=5))
        engine = sa.create_engine(one)
        with engine.connect() as conn:
            left = existing_triggers(conn)
        engine.dispose()
        # One set per table whatever the number of moves (PostgreSQL: one trigger).
        per_table = 1 if backend == "postgresql" else 3
        assert len(left) == per_table * len(keyspace_scopes("user"))
        # Replaced in place (MariaDB: CREATE OR REPLACE TRIGGER), not a second name set.
        assert all(name.startswith("lmsdb_fa_") for name in left)
        assert _refused(one, 1005) and _refused(one, 1025) and not _refused(one, 1035)
        # Moving one range back lifts that range's fence only.
        start_move(router, MoveRequest("user", 1000, 1020, "shard-1", chunk_size=5))
        assert not _refused(one, 1005) and _refused(one, 1025)
        assert _refused(two, 1005) and not _refused(two, 1025)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_delete_stops_at_a_row_written_past_the_fence_after_the_verify(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = move_fleet(request, tmp_path, backend)
    _, one, _ = fleet.shard_urls
    seed_users(one, range(1000, 1010), backend)
    scopes = keyspace_scopes("user")

    def write_past_the_fence(progress: MoveProgress) -> None:
        # Between the verify and the delete, a writer passing the fence (only the move
        # itself may) adds a row of the range the verify did not count.
        if progress.phase != "delete" or progress.table is not None:
            return
        engine = sa.create_engine(one)
        try:
            with engine.connect() as conn:
                move_id = conn.execute(sa.select(fences.c.move_id)).scalar_one()
                conn.rollback()
                if backend == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                with fence_bypass(conn, move_id, scopes, True):
                    conn.execute(AUDIT.insert().values(id=9_000_001, user_id=1003, action="x"))
                conn.commit()
        finally:
            engine.dispose()

    with Router.from_topology(fleet.topology) as router:
        request_ = MoveRequest("user", 1000, 1010, "shard-2", chunk_size=4)
        with pytest.raises(OperationError, match=r"audit_logs .* the verify counted"):
            start_move(router, request_, on_progress=write_past_the_fence)
    # That chunk was rolled back: the uncounted row is still on the source, not lost.
    left = range_rows(one, "user", 1000, 1010)["audit_logs"]
    assert any(row[0] == 9_000_001 for row in left)


@pytest.mark.parametrize("backend", ["mariadb", "sqlite"])
def test_a_move_consolidates_per_move_fences_of_older_versions(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = move_fleet(request, tmp_path, backend)
    _, one, _ = fleet.shard_urls
    seed_users(one, [*range(1000, 1010), *range(1020, 1030)], backend)
    # An older lmsdb fenced [1040, 1050) with its own triggers (lmsdb_f77_<table>_{i,u,d}).
    engine = sa.create_engine(one)
    with engine.begin() as conn:
        ensure_move_tables(conn)
        conn.execute(
            fences.insert().values(move_id=77, keyspace="user", lo=1040, hi=1050, shard="x")
        )
        for scope in keyspace_scopes("user"):
            run_all(conn, create_statements(conn, scope, "f77", [(77, 1040, 1050)]))
    engine.dispose()
    assert _refused(one, 1045)
    with Router.from_topology(fleet.topology) as router:
        split_range(router, "user", 1020)
        start_move(router, MoveRequest("user", 1000, 1020, "shard-2", chunk_size=5))
    engine = sa.create_engine(one)
    with engine.connect() as conn:
        left = existing_triggers(conn)
    engine.dispose()
    assert not any(name.startswith("lmsdb_f77_") for name in left)
    assert len(left) == 3 * len(keyspace_scopes("user"))
    assert _refused(one, 1045) and _refused(one, 1005) and not _refused(one, 1025)
