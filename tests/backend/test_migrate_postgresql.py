"""``lmsdb migrate`` on the running PostgreSQL: shards and analytics as fresh databases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db import analytics_metadata, metadata
from lms_db.fleet.locks import _advisory_key
from lms_db.schema.compare import compare_database
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import (
    execute,
    lmsdb,
    lmsdb_json,
    lmsdb_process,
    results_by_shard,
    revision_of,
    table_names,
    write_topology,
)

pytestmark = pytest.mark.postgresql


def _compare(url: URL, md: sa.MetaData) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_database(conn, md)
    finally:
        engine.dispose()


def test_shards_and_analytics_to_head_then_drift(
    tmp_path: Path, make_postgresql_database: Callable[[], URL]
) -> None:
    catalog, analytics = make_postgresql_database(), make_postgresql_database()
    shards = [make_postgresql_database() for _ in range(3)]
    topology = write_topology(tmp_path, catalog, shards, analytics=analytics)
    result = lmsdb(topology, "migrate", "up", "--parallel", "3")
    assert result.exit_code == 0, result.output
    assert lmsdb(topology, "migrate", "up", "--target", "analytics").exit_code == 0
    status = lmsdb_json(topology, "migrate", "status")
    assert status["at_head"] and [s["revision"] for s in status["shards"]] == ["0001"] * 3
    assert lmsdb_json(topology, "migrate", "status", "--target", "analytics")["at_head"]
    assert all(_compare(url, metadata) == [] for url in shards)
    assert _compare(analytics, analytics_metadata) == []
    engine = sa.create_engine(analytics)
    with engine.connect() as conn:  # native partitioning (no TimescaleDB here)
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                    "ON c.oid = p.partrelid WHERE c.relname = 'user_events'"
                )
            ).scalar()
            == 1
        )
    engine.dispose()
    assert lmsdb(topology, "schema", "check").exit_code == 0

    execute(shards[2], "ALTER TABLE users ADD COLUMN hand_added INTEGER")
    check = lmsdb(topology, "schema", "check")
    assert check.exit_code == 1
    assert "shard-2 primary: not in models: column users.hand_added" in check.output
    report = lmsdb_json(topology, "schema", "check")
    assert [d["name"] for d in report["databases"]] == [
        "shard-0 primary",
        "shard-1 primary",
        "shard-2 primary",
        "analytics primary",
    ]
    assert [d["name"] for d in report["databases"] if d["drift"]] == ["shard-2 primary"]


def test_failing_shard_fail_fast_then_rerun(
    tmp_path: Path, make_postgresql_database: Callable[[], URL]
) -> None:
    catalog = make_postgresql_database()
    shards = [make_postgresql_database() for _ in range(3)]
    topology = write_topology(tmp_path, catalog, shards)
    execute(shards[1], "CREATE TABLE courses (id integer PRIMARY KEY)")
    run = lmsdb_json(topology, "migrate", "up", "--parallel", "1", "--fail-fast")
    assert results_by_shard(run) == {
        "shard-0": ("base", "0001", "migrated"),
        "shard-1": ("base", "base", "failed"),
        "shard-2": (None, None, "skipped"),
    }
    # Transactional DDL: not even alembic_version was left behind.
    assert table_names(shards[1]) == {"courses"}
    execute(shards[1], "DROP TABLE courses")
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    assert [revision_of(u) for u in shards] == ["0001"] * 3


def test_concurrent_runs_and_the_advisory_lock(
    tmp_path: Path, make_postgresql_database: Callable[[], URL]
) -> None:
    catalog = make_postgresql_database()
    shards = [make_postgresql_database() for _ in range(2)]
    topology = write_topology(tmp_path, catalog, shards)
    key = _advisory_key(load_topology(topology).shard("shard-1").primary)
    holder = sa.create_engine(shards[1], poolclass=sa.pool.NullPool).connect()
    try:
        assert holder.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        holder.commit()
        locked = lmsdb_json(topology, "migrate", "up", "--lock-timeout", "0.5")
    finally:
        holder.close()
    assert results_by_shard(locked)["shard-1"] == ("base", "base", "locked")
    assert "backend pid" in locked["results"][1]["error"]

    runs = [lmsdb_process(topology, "migrate", "up", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    results = [results_by_shard(json.loads(out)) for out, _err in outputs]
    assert sorted(r["shard-1"][2] for r in results) == ["current", "migrated"]
    assert [r["shard-0"][2] for r in results] == ["current", "current"]
    assert [revision_of(u) for u in shards] == ["0001", "0001"]
