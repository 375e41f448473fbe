"""``lmsdb migrate`` and ``schema check`` on a SQLite topology (files in tmp_path)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db import metadata
from lms_db.catalog import open_entries, open_journal_entry
from lms_db.catalog.identity import IDENTITY_TABLE
from lms_db.migrate.database import upgrade_database
from lms_db.schema.compare import compare_database
from lms_db.topology.engines import engine_for
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import (
    REPO_ROOT,
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


def _shards(tmp_path: Path, count: int = 3) -> tuple[Path, list[str]]:
    urls = [f"sqlite:///{tmp_path / f'shard-{i}.db'}" for i in range(count)]
    return write_topology(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", urls), urls


def test_up_status_check_down(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path)
    result = lmsdb(topology, "migrate", "up", "--parallel", "2")
    assert result.exit_code == 0, result.output
    assert "3 of 3 shard(s) ok" in result.stdout
    status = lmsdb_json(topology, "migrate", "status")
    assert status["at_head"] and status["head"] == "0001"
    assert [s["revision"] for s in status["shards"]] == ["0001"] * 3
    for url in urls:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert compare_database(conn, metadata) == []
        engine.dispose()
    assert lmsdb(topology, "schema", "check").exit_code == 0
    # The catalog was created, seeded and journaled one closed entry per shard.
    catalog = engine_for(load_topology(topology).catalog)
    assert open_entries(catalog) == []
    with catalog.connect() as conn:
        states = conn.execute(
            sa.text("SELECT shard, state FROM journal WHERE operation = 'migrate'")
        ).all()
        assert sorted(states) == [(f"shard-{i}", "done") for i in range(3)]
        assert conn.execute(sa.text("SELECT count(*) FROM shard_ranges")).scalar() == 6
    catalog.dispose()

    refused = lmsdb(topology, "migrate", "down", "base")
    assert refused.exit_code == 2 and "pass --yes" in refused.output
    down = lmsdb(topology, "migrate", "down", "base", "--yes", "--shard", "shard-2")
    assert down.exit_code == 0, down.output
    # The identity row stays (it says which shard the database is, not part of the schema).
    assert revision_of(urls[2]) is None and table_names(urls[2]) == {
        "alembic_version",
        IDENTITY_TABLE,
    }
    assert revision_of(urls[1]) == "0001"


def test_failing_shard_then_rerun(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path)
    execute(urls[1], "CREATE TABLE users (id INTEGER PRIMARY KEY)")
    run = lmsdb_json(topology, "migrate", "up", "--parallel", "1", "--fail-fast")
    assert not run["ok"]
    assert results_by_shard(run) == {
        "shard-0": ("base", "0001", "migrated"),
        "shard-1": ("base", "base", "failed"),
        "shard-2": (None, None, "skipped"),
    }
    failed = run["results"][1]["error"]
    assert "table(s) users already exist" in failed and "stays at base" in failed
    assert table_names(urls[1]) == {"users"}  # nothing half-created next to it
    execute(urls[1], "DROP TABLE users")
    again = lmsdb(topology, "migrate", "up")
    assert again.exit_code == 0, again.output
    assert [revision_of(u) for u in urls] == ["0001"] * 3


def test_revisions_are_steps_and_a_rerun_resumes(tmp_path: Path) -> None:
    """0002 succeeds, 0003 fails: the shard stays at 0002; fixed, a rerun applies 0003 only."""
    topology, urls = _shards(tmp_path, 2)
    scripts = copy_migrations(tmp_path)
    add_revision(
        scripts,
        "0002",
        "0001",
        'op.create_table("probe", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("probe")',
    )
    bad = add_revision(
        scripts,
        "0003",
        "0002",
        'op.create_table("probe3", sa.Column("id", sa.Integer, primary_key=True))'
        '\nop.execute("INSERT INTO no_such_table VALUES (1)")',
        'op.drop_table("probe3")',
    )
    run = lmsdb_json(topology, "migrate", "up", "--scripts", str(scripts))
    assert results_by_shard(run)["shard-0"] == ("base", "0002", "failed")
    assert results_by_shard(run)["shard-1"] == (None, None, "skipped")  # canary failed
    assert "0003" in run["results"][0]["error"]
    # SQLite DDL runs in a transaction: 0003's table was rolled back with it.
    assert "probe" in table_names(urls[0]) and "probe3" not in table_names(urls[0])
    bad.write_text(
        bad.read_text().replace('\n    op.execute("INSERT INTO no_such_table VALUES (1)")', "")
    )
    rerun = lmsdb_json(topology, "migrate", "up", "--scripts", str(scripts))
    assert rerun["ok"]
    assert rerun["results"][0]["applied"] == ["0003"]
    assert rerun["results"][1]["applied"] == ["0001", "0002", "0003"]
    plan = lmsdb_json(topology, "migrate", "plan", "0001", "--scripts", str(scripts))
    assert [p["steps"] for p in plan] == [[], []]  # up to an older revision: nothing to do
    down = lmsdb_json(topology, "migrate", "down", "0002", "--yes", "--scripts", str(scripts))
    assert [r["applied"] for r in down["results"]] == [["0003"], ["0003"]]


def test_concurrent_runs_apply_each_revision_once(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path, 2)
    first = lmsdb_process(topology, "migrate", "up", "--json", "--parallel", "1")
    second = lmsdb_process(topology, "migrate", "up", "--json", "--parallel", "1")
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    runs = [json.loads(out) for out, _err in outputs]
    for shard in ("shard-0", "shard-1"):
        kinds = sorted(results_by_shard(run)[shard][2] for run in runs)
        assert kinds == ["current", "migrated"], runs
    assert [revision_of(u) for u in urls] == ["0001", "0001"]


def test_lock_held_gives_up_after_lock_timeout(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path, 1)
    from lms_db.fleet.locks import file_lock

    ref = load_topology(topology).shard("shard-0").primary
    with file_lock(ref, timeout=1):
        run = lmsdb_json(topology, "migrate", "up", "--lock-timeout", "0.5")
    assert results_by_shard(run)["shard-0"] == ("base", "base", "locked")
    assert "holds the migration lock" in run["results"][0]["error"]
    assert revision_of(urls[0]) is None


def test_open_move_journal_entry_refuses_the_shard(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path, 2)
    assert lmsdb(topology, "migrate", "up", "--shard", "shard-0").exit_code == 0
    catalog = engine_for(load_topology(topology).catalog)
    open_journal_entry(
        catalog, operation="move", step="copy", shard="shard-1", keyspace="user", lo=1000, hi=1500
    )
    catalog.dispose()
    result = lmsdb(topology, "migrate", "up")
    assert result.exit_code == 1
    assert "shard-1 (refused)" in result.output
    assert revision_of(urls[1]) is None


def test_drift_names_shard_and_column(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    execute(urls[2], "ALTER TABLE users ADD COLUMN hand_added INTEGER")
    result = lmsdb(topology, "schema", "check")
    assert result.exit_code == 1
    assert "shard-2 primary: not in models: column users.hand_added" in result.output
    report = lmsdb_json(topology, "schema", "check")
    assert [d["name"] for d in report["databases"] if d["drift"]] == ["shard-2 primary"]


def test_history_sql_and_new(tmp_path: Path) -> None:
    history = lmsdb_json(None, "migrate", "history")  # type: ignore[arg-type]
    assert [h["revision"] for h in history] == ["0001"] and history[0]["is_head"]
    sql = lmsdb(None, "migrate", "sql", "base:head", "--dialect", "mariadb")
    assert sql.exit_code == 0, sql.output
    assert "CREATE TABLE users" in sql.stdout and "FULLTEXT" in sql.stdout
    down_sql = lmsdb(None, "migrate", "sql", "head:base", "--dialect", "postgresql")
    assert "DROP MATERIALIZED VIEW IF EXISTS popular_courses" in down_sql.stdout
    assert lmsdb(None, "migrate", "sql", "base:nope", "-d", "sqlite").exit_code == 2
    scripts = copy_migrations(tmp_path)
    new = lmsdb(None, "migrate", "new", "-m", "nothing yet", "--scripts", str(scripts))
    assert new.exit_code == 0, new.output
    # #9: no model change writes no empty head revision (it did before)...
    assert "no revision written" in new.stdout
    assert list((scripts / "oltp" / "versions").glob("*nothing_yet.py")) == []
    assert [
        h["revision"]
        for h in lmsdb_json(
            None,  # type: ignore[arg-type]
            "migrate",
            "history",
            "--scripts",
            str(scripts),
        )
    ] == ["0001"]
    # ...unless asked for (a data migration to fill in by hand).
    empty = lmsdb(None, "migrate", "new", "-m", "by hand", "--empty", "--scripts", str(scripts))
    assert empty.exit_code == 0 and "empty: the models match" in empty.stdout, empty.output
    assert len(list((scripts / "oltp" / "versions").glob("*by_hand.py"))) == 1


def test_shipped_sqlite_topology_works(tmp_path: Path) -> None:
    topology = tmp_path / "local-sqlite.toml"
    shutil.copy(REPO_ROOT / "shards" / "local-sqlite.toml", topology)
    result = lmsdb(topology, "migrate", "up")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "local").glob("*.db")) == [
        "catalog.db",
        "shard-0.db",
        "shard-1.db",
        "shard-2.db",
    ]


def test_upgrade_database_for_one_new_shard(tmp_path: Path) -> None:
    topology, urls = _shards(tmp_path, 1)
    ref = load_topology(topology).shard("shard-0").primary
    assert upgrade_database(ref) == "0001"
    assert upgrade_database(ref) == "0001"
    assert revision_of(urls[0]) == "0001"


@pytest.mark.parametrize("target", ["analytics"])
def test_analytics_target(tmp_path: Path, target: str) -> None:
    analytics = f"sqlite:///{tmp_path / 'analytics.db'}"
    topology = write_topology(
        tmp_path,
        f"sqlite:///{tmp_path / 'catalog.db'}",
        [f"sqlite:///{tmp_path / 'shard-0.db'}"],
        analytics=analytics,
    )
    result = lmsdb(topology, "migrate", "up", "--target", target)
    assert result.exit_code == 0, result.output
    assert revision_of(analytics) == "a001" and "user_events" in table_names(analytics)
    assert not (tmp_path / "shard-0.db").exists()


def test_shards_only_the_catalog_knows_are_migrated_too(tmp_path: Path) -> None:
    """A shard registered by `lmsdb shard add` (catalog only) is part of the fleet."""
    topology, _urls = _shards(tmp_path, 1)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    added = f"sqlite:///{tmp_path / 'added.db'}"
    catalog = engine_for(load_topology(topology).catalog)
    with catalog.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO shards (name, primary_url_template, state, created_at) "
                "VALUES ('shard-added', :url, 'active', CURRENT_TIMESTAMP)"
            ),
            {"url": added},
        )
    catalog.dispose()
    status = lmsdb_json(topology, "migrate", "status")
    assert [(s["shard"], s["revision"]) for s in status["shards"]] == [
        ("shard-0", "0001"),
        ("shard-added", "base"),
    ]
    run = lmsdb_json(topology, "migrate", "up")
    assert results_by_shard(run)["shard-added"] == ("base", "0001", "migrated")
    assert lmsdb(topology, "schema", "check", "--shard", "shard-added").exit_code == 0
