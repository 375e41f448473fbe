"""``lmsdb migrate`` on the running MariaDB: shards as databases with unique names."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db import metadata
from lms_db.migrate.autogen import new_revision
from lms_db.schema.compare import compare_database
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import (
    add_revision,
    copy_migrations,
    execute,
    lmsdb,
    lmsdb_json,
    lmsdb_process,
    results_by_shard,
    revision_of,
    table_names,
    write_topology,
)

pytestmark = pytest.mark.mariadb


def _fleet(tmp_path: Path, make: Callable[[], URL], count: int) -> tuple[Path, list[URL]]:
    catalog = make()
    shards = [make() for _ in range(count)]
    return write_topology(tmp_path, catalog, shards), shards


def test_four_shards_in_parallel_to_head(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    topology, shards = _fleet(tmp_path, make_mariadb_database, 4)
    result = lmsdb(topology, "migrate", "up", "--parallel", "4")
    assert result.exit_code == 0, result.output
    assert "4 of 4 shard(s) ok" in result.stdout
    status = lmsdb_json(topology, "migrate", "status")
    assert status["at_head"]
    assert {s["shard"]: s["revision"] for s in status["shards"]} == {
        f"shard-{i}": "0001" for i in range(4)
    }
    for url in shards:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert compare_database(conn, metadata) == []
        engine.dispose()
    # Autogenerate against a migrated shard finds nothing to do.
    scripts = copy_migrations(tmp_path)
    ref = load_topology(topology).shard("shard-3").primary
    written = new_revision("nothing to do", against=ref, root=scripts)
    assert written.empty and not written.written and not written.path.exists()
    assert lmsdb(topology, "schema", "check").exit_code == 0


@pytest.mark.parametrize(
    ("fail_fast", "expected"),
    [
        (
            False,
            {
                "shard-0": ("base", "0001", "migrated"),
                "shard-1": ("base", "base", "failed"),
                "shard-2": ("base", "0001", "migrated"),
            },
        ),
        (
            True,
            {
                "shard-0": ("base", "0001", "migrated"),
                "shard-1": ("base", "base", "failed"),
                "shard-2": (None, None, "skipped"),
            },
        ),
    ],
    ids=["continue", "fail-fast"],
)
def test_a_failing_shard(
    tmp_path: Path,
    make_mariadb_database: Callable[[], URL],
    fail_fast: bool,
    expected: dict[str, tuple[str, str, str]],
) -> None:
    """As docs/migrations.md says: the failed shard stays at base, the others per --fail-fast."""
    topology, shards = _fleet(tmp_path, make_mariadb_database, 3)
    execute(shards[1], "CREATE TABLE payments (id INT PRIMARY KEY)")
    args = ["migrate", "up", "--parallel", "1", *(["--fail-fast"] if fail_fast else [])]
    result = lmsdb(topology, *args, "--json")
    assert result.exit_code == 1
    bad = [f"{shard} ({kind})" for shard, (_f, _t, kind) in expected.items() if kind != "migrated"]
    assert f"error: {len(bad)} of 3 shard(s) not migrated: {', '.join(bad)}" in result.output
    assert results_by_shard(json.loads(result.stdout)) == expected
    assert [revision_of(u) for u in shards] == [
        expected[f"shard-{i}"][1] if expected[f"shard-{i}"][1] != "base" else None for i in range(3)
    ]
    # Refused before creating anything (Alembic's own version table aside).
    assert table_names(shards[1]) - {"alembic_version"} == {"payments"}
    execute(shards[1], "DROP TABLE payments")
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    assert [revision_of(u) for u in shards] == ["0001"] * 3


def test_failure_mid_revision_is_undone(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    """MySQL DDL is not transactional: a half-run initial revision drops what it created."""
    topology, shards = _fleet(tmp_path, make_mariadb_database, 1)
    # A view named like an index-less table the revision creates late makes CREATE TABLE fail
    # after most tables exist (views are not reported as tables, so the pre-check passes).
    execute(shards[0], "CREATE VIEW popular_courses AS SELECT 1 AS x")
    run = lmsdb_json(topology, "migrate", "up")
    assert results_by_shard(run)["shard-0"] == ("base", "base", "failed")
    assert table_names(shards[0]) <= {"alembic_version"}
    execute(shards[0], "DROP VIEW popular_courses")
    assert lmsdb(topology, "migrate", "up").exit_code == 0


def test_concurrent_runs_apply_each_revision_once(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    topology, shards = _fleet(tmp_path, make_mariadb_database, 2)
    runs = [lmsdb_process(topology, "migrate", "up", "--json", "--parallel", "1") for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    results = [json.loads(out) for out, _err in outputs]
    for shard in ("shard-0", "shard-1"):
        assert sorted(results_by_shard(r)[shard][2] for r in results) == ["current", "migrated"]
    assert [revision_of(u) for u in shards] == ["0001", "0001"]


def test_lock_held_by_another_session(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    topology, shards = _fleet(tmp_path, make_mariadb_database, 1)
    from lms_db.fleet.locks import lock_name

    name = lock_name(load_topology(topology).shard("shard-0").primary)
    holder = sa.create_engine(shards[0], poolclass=sa.pool.NullPool).connect()
    try:
        assert holder.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
        result = lmsdb(topology, "migrate", "up", "--lock-timeout", "1")
    finally:
        holder.close()
    assert result.exit_code == 1
    assert "shard-0 (locked)" in result.output
    assert "another lmsdb run holds the migration lock" in result.output.replace("\n", " ")
    assert revision_of(shards[0]) is None


def test_drift_names_shard_and_column(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    topology, shards = _fleet(tmp_path, make_mariadb_database, 2)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    execute(shards[1], "ALTER TABLE users ADD COLUMN hand_added INT")
    result = lmsdb(topology, "schema", "check")
    assert result.exit_code == 1
    assert "shard-1 primary: not in models: column users.hand_added" in result.output
    report = lmsdb_json(topology, "schema", "check")
    drifted = {d["name"]: d["diffs"] for d in report["databases"] if d["drift"]}
    assert drifted == {"shard-1 primary": ["not in models: column users.hand_added"]}


def test_plan_flags_blocking_ddl(tmp_path: Path, make_mariadb_database: Callable[[], URL]) -> None:
    topology, _shards = _fleet(tmp_path, make_mariadb_database, 1)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    scripts = copy_migrations(tmp_path)
    add_revision(
        scripts,
        "0002",
        "0001",
        'op.add_column("users", sa.Column("nickname", sa.String(50)))\n'
        'op.execute("ALTER TABLE courses ADD COLUMN badge INT, ALGORITHM=INSTANT")',
        'op.drop_column("courses", "badge")\nop.drop_column("users", "nickname")',
    )
    plan = lmsdb_json(topology, "migrate", "plan", "--scripts", str(scripts))
    assert plan[0]["steps"] == ["0002"]
    assert len(plan[0]["warnings"]) == 1
    assert plan[0]["warnings"][0].startswith("0002: may copy users and block writes")


def test_migrate_up_grants_id_windows_so_first_inserts_never_collide(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    """Right after ``migrate up`` every shard draws each table's ids from a window of its
    own: the application's first AUTO_INCREMENT inserts on two shards get different ids,
    and a user's id routes back to the shard that created it."""
    topology, shards = _fleet(tmp_path, make_mariadb_database, 2)
    run = lmsdb_json(topology, "migrate", "up")
    assert run["ok"] and run["id_windows_error"] is None
    granted = {(w["shard"], w["table"]) for w in run["id_windows"]}
    assert ("shard-0", "enrollments") in granted and ("shard-1", "users") in granted
    ids: dict[str, dict[str, int]] = {}
    for name, url in zip(("shard-0", "shard-1"), shards, strict=True):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (uuid, email, password_hash, first_name, last_name) "
                    f"VALUES (UUID(), '{name}@x.test', 'x', 'A', 'B')"
                )
            )
            conn.execute(sa.text("INSERT INTO audit_logs (action) VALUES ('x')"))
            ids[name] = {
                t: conn.execute(sa.text(f"SELECT MAX(id) FROM {t}")).scalar_one()
                for t in ("users", "audit_logs")
            }
        engine.dispose()
    assert ids["shard-0"]["audit_logs"] != ids["shard-1"]["audit_logs"]
    for name, i in (("shard-0", 0), ("shard-1", 1)):
        assert i * 1000 <= ids[name]["users"] < (i + 1) * 1000, ids  # its own user range
    again = lmsdb_json(topology, "migrate", "up")
    assert again["ok"] and again["id_windows"] == [], "a rerun grants nothing"
