"""A rebuilt shard's counters go back inside its id windows (#9, "Ids never collide").

Reproduction: after ``migrate down base --shard shard-1`` and ``migrate up`` (or DROP/CREATE
DATABASE and ``migrate up``) every counter restarted at 1 (PostgreSQL: with no MAXVALUE), a
Router insert on shard-1 got id 1, which routes to shard-0, while ``shard status`` showed
full headroom.  Real MariaDB and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.catalog import read_id_windows
from lms_db.models.audit import AuditLog
from lms_db.models.users import User
from lms_db.router import Router
from lms_db.schema.ddl import create_schema
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import inserted_id, lmsdb, lmsdb_json, write_topology

BACKENDS = ["mariadb", "postgresql"]


def _fleet(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> tuple[Path, list[URL], Callable[[], URL]]:
    make: Callable[[], URL] = request.getfixturevalue(f"make_{backend}_database")
    catalog, shards = make(), [make(), make()]
    return write_topology(tmp_path, catalog, shards), shards, make


def _recreate(url: URL) -> None:
    """DROP and CREATE the database: a shard rebuilt from nothing."""
    name = url.database
    if url.get_backend_name() == "postgresql":
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        drop = f"DROP DATABASE {name} WITH (FORCE)"
    else:
        admin = sa.create_engine(url.set(database="mysql"))
        drop = f"DROP DATABASE {name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(drop)
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()


def _insert_through_router(topology: Path, shard: str) -> tuple[int, int, str]:
    """A user and an audit row inserted on ``shard`` with the database's own counter; the
    user's id, the audit row's id and the shard the Router routes the user id to."""
    with Router.from_topology(load_topology(topology), max_staleness=0) as router:
        with router.engine_for_shard(shard).begin() as conn:
            user_id = inserted_id(
                conn.execute(
                    sa.insert(User).values(
                        uuid="00000000-0000-4000-8000-000000000001",
                        email="rebuilt@x.test",
                        password_hash="x",
                        first_name="A",
                        last_name="B",
                    )
                )
            )
            audit_id = inserted_id(conn.execute(sa.insert(AuditLog).values(action="rebuilt")))
        return int(user_id), int(audit_id), router.shard_for("user", user_id).shard


def _windows(topology: Path, shard: str, table: str) -> list[tuple[int, int]]:
    engine = sa.create_engine(load_topology(topology).catalog.url)
    try:
        return [(w.lo, w.hi) for w in read_id_windows(engine, table) if w.shard == shard]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["migrate-down-base", "drop-database"])
def test_rebuilt_shard_draws_ids_from_its_windows_again(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, how: str
) -> None:
    topology, shards, _ = _fleet(request, tmp_path, backend)
    assert lmsdb_json(topology, "migrate", "up")["ok"]
    if how == "migrate-down-base":
        down = lmsdb(topology, "migrate", "down", "base", "--shard", "shard-1", "--yes")
        assert down.exit_code == 0, down.output
    else:
        _recreate(shards[1])
    run = lmsdb_json(topology, "migrate", "up")
    assert run["ok"], run
    moved = {(w["shard"], w["table"]) for w in run["id_windows"] if w["moved"]}
    assert ("shard-1", "users") in moved

    user_id, audit_id, routed = _insert_through_router(topology, "shard-1")
    assert routed == "shard-1", f"user {user_id} routes to {routed}"
    assert any(lo <= user_id < hi for lo, hi in _windows(topology, "shard-1", "users"))
    assert any(lo <= audit_id < hi for lo, hi in _windows(topology, "shard-1", "audit_logs"))
    status = lmsdb(topology, "shard", "status")
    assert status.exit_code == 0, status.output
    again = lmsdb_json(topology, "shard", "grant-windows")
    assert again["windows"] == [], "a second run has nothing to do"


@pytest.mark.parametrize("backend", BACKENDS)
def test_status_reports_a_counter_outside_its_windows_and_grant_windows_fixes_it(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """A shard rebuilt by hand (schema created outside lmsdb): ``shard status`` says so
    (exit 1, the fixing command named); the dry run shows exactly the real run's moves."""
    topology, shards, _ = _fleet(request, tmp_path, backend)
    assert lmsdb_json(topology, "migrate", "up")["ok"]
    _recreate(shards[1])
    engine = sa.create_engine(shards[1])
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()

    status = lmsdb(topology, "shard", "status")
    assert status.exit_code == 1, status.output
    assert "users counter at 1 is outside its id windows" in status.stdout
    assert "lmsdb shard grant-windows --shard shard-1" in status.stdout
    as_json = json.loads(lmsdb(topology, "shard", "status", "--json").stdout)
    faults = {s["shard"]: s["counter_faults"] for s in as_json["shards"]}
    assert faults["shard-0"] == [] and any("users counter" in f for f in faults["shard-1"])

    dry = lmsdb(topology, "shard", "grant-windows", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)["windows"]
    assert status.exit_code == 1  # nothing changed by the dry run:
    assert lmsdb(topology, "shard", "status").exit_code == 1
    done = lmsdb(topology, "shard", "grant-windows", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["windows"] == planned, "dry run == real run"
    assert lmsdb(topology, "shard", "status").exit_code == 0
    user_id, _, routed = _insert_through_router(topology, "shard-1")
    assert routed == "shard-1", user_id


@pytest.mark.parametrize("backend", BACKENDS)
def test_grant_windows_dry_run_fails_like_the_real_run_when_no_ids_are_left(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """Reproduction: the dry run listed every table and exited 0; the real run failed 'no
    free ids left' while 9,933 ids were left.  Both now say the same, exit 1, and name the
    ids still left."""
    topology, _, _ = _fleet(request, tmp_path, backend)
    assert lmsdb_json(topology, "migrate", "up")["ok"]
    args = (
        "shard",
        "grant-windows",
        "--shard",
        "shard-0",
        "--table",
        "users",
        "--min-remaining",
        "5000",
        "--json",
    )
    dry = lmsdb(topology, *args[:-1], "--dry-run", "--json")
    real = lmsdb(topology, *args)
    assert dry.exit_code == real.exit_code == 1, (dry.output, real.output)
    dry_json, real_json = json.loads(dry.stdout), json.loads(real.stdout)
    assert dry_json["windows"] == real_json["windows"]
    [row] = real_json["windows"]
    assert row["table"] == "users" and row["granted"] == []
    assert "no free users ids left" in row["error"] and "999 ids are still left" in row["error"]
    assert "Traceback" not in real.output
