"""``lmsdb shard move|split|moves`` from the command line: bad input refused with one line and
exit 2 (nothing changed), a freeze that times out cleanly, a corrupted destination that the
verify refuses to switch, and ids that never collide after a move."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.catalog import open_journal_entry
from lms_db.errors import FreezeTimeout
from lms_db.models import metadata
from lms_db.moves.engine import resume_move, start_move
from lms_db.moves.plan import MoveRequest
from lms_db.moves.triggers import existing_triggers
from lms_db.router import Router
from lms_db.schema.ddl import create_schema
from tests.backend.fleet_helpers import inserted_id, lmsdb
from tests.backend.move_helpers import (
    MOVE_RANGES,
    move_fleet,
    range_rows,
    seed_users,
    stamp_head,
)
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    build_fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
)
from tests.backend.test_move_crash import cli, finish

users, audit, enrollments = (metadata.tables[n] for n in ("users", "audit_logs", "enrollments"))


def _snapshot(fleet: Fleet, reachable: int | None = None) -> dict[str, Any]:
    """What a refused command must leave unchanged: the map, the journal, the triggers."""
    engine = sa.create_engine(fleet.topology.catalog.url)
    with engine.connect() as conn:
        journal = conn.exec_driver_sql("SELECT id, state, step FROM journal").all()
        ranges = conn.exec_driver_sql(
            "SELECT keyspace, lo, hi, shard, state, map_version FROM shard_ranges"
        ).all()
    engine.dispose()
    triggers = []
    for url in fleet.shard_urls[:reachable]:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            triggers.append(sorted(existing_triggers(conn)))
        engine.dispose()
    return {"journal": sorted(journal), "ranges": sorted(ranges), "triggers": triggers}


@pytest.fixture(name="sqlite_fleet")
def fixture_sqlite_fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Fleet:
    fleet = move_fleet(request, tmp_path, "sqlite")
    seed_users(fleet.shard_urls[1], range(1000, 1040), "sqlite")
    return fleet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "1000:1010", "--to", "nope"], "nope"),
        (["user", "900:1100", "--to", "shard-2"], "does not lie inside one range"),
        (["user", "1010:1000", "--to", "shard-2"], "LO must be smaller than HI"),
        (["user", "1010:1010", "--to", "shard-2"], "LO must be smaller than HI"),
        (["user", "ten:20", "--to", "shard-2"], "non-negative integer"),
        (["user", "1000-1010", "--to", "shard-2"], "LO:HI"),
        (["users", "1000:1010", "--to", "shard-2"], "unknown keyspace"),
        (["user", "1000:1010", "--to", "shard-1"], "already served by shard-1"),
        (["user", "1000:1010"], "usage"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    sqlite_fleet: Fleet, args: list[str], message: str
) -> None:
    before = _snapshot(sqlite_fleet)
    result = lmsdb(sqlite_fleet.path, "shard", "move", *args, "--yes")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert _snapshot(sqlite_fleet) == before


def test_refusals_of_state_exit_2_and_change_nothing(sqlite_fleet: Fleet) -> None:
    fleet = sqlite_fleet
    # Non-interactive without --yes.
    before = _snapshot(fleet)
    result = lmsdb(fleet.path, "shard", "move", "user", "1000:1010", "--to", "shard-2")
    assert result.exit_code == 2 and "--yes" in result.output
    assert _snapshot(fleet) == before
    # A destination without the schema's head.
    engine = sa.create_engine(fleet.shard_urls[2])
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
    engine.dispose()
    before = _snapshot(fleet)
    result = lmsdb(fleet.path, "shard", "move", "user", "1000:1010", "--to", "shard-2", "--yes")
    assert result.exit_code == 2 and "not head" in result.output, result.output
    assert _snapshot(fleet) == before
    # A move already open on the range (as a crashed run leaves it).
    catalog = sa.create_engine(fleet.topology.catalog.url)
    entry = open_journal_entry(
        catalog,
        operation="move",
        step="copy",
        shard="shard-1",
        keyspace="user",
        lo=1005,
        hi=1020,
        payload={"request": {}, "source": "shard-1", "dest": "shard-0"},
    )
    catalog.dispose()
    before = _snapshot(fleet)
    result = lmsdb(fleet.path, "shard", "move", "user", "1000:1010", "--to", "shard-0", "--yes")
    assert result.exit_code == 2 and f"--resume {entry}" in result.output, result.output
    assert _snapshot(fleet) == before
    # Resume/abort of something that is not an open move.
    for flag in ("--resume", "--abort"):
        result = lmsdb(fleet.path, "shard", "move", flag, "999", "--yes")
        assert result.exit_code == 2 and "999" in result.output, result.output


def test_unreachable_destination_exit_2(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    # shard-2's server is down: nothing listens on its port.
    good = [make_mariadb_database(), make_mariadb_database()]
    down = sa.engine.make_url("mysql+pymysql://root@127.0.0.1:1/lmsdb_down")
    fleet = build_fleet(
        tmp_path,
        "mariadb",
        make_mariadb_database,
        ranges=MOVE_RANGES,
        shard_urls=[*good, down],
        schema=False,
    )
    for url in good:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            create_schema(conn)
        engine.dispose()
        stamp_head(url)
    before = _snapshot(fleet, reachable=2)
    result = lmsdb(fleet.path, "shard", "move", "user", "1000:1010", "--to", "shard-2", "--yes")
    assert result.exit_code == 2 and "cannot connect" in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert _snapshot(fleet, reachable=2) == before


def test_dry_run_prints_the_plan_and_changes_nothing(sqlite_fleet: Fleet) -> None:
    before = _snapshot(sqlite_fleet)
    result = lmsdb(
        sqlite_fleet.path,
        "shard",
        "split",
        "user",
        "1020",
        "--to",
        "shard-2",
        "--dry-run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["lo"], plan["hi"], plan["source"]) == (1020, 5000, "shard-1")
    tables = [t["table"] for t in plan["tables"]]
    assert tables.index("users") < tables.index("enrollments") < tables.index("quiz_attempts")
    assert {t["table"]: t["rows"] for t in plan["tables"]}["users"] == 20
    assert len(plan["servers"]) == 2
    assert _snapshot(sqlite_fleet) == before


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_a_long_transaction_makes_the_freeze_time_out_cleanly(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = move_fleet(request, tmp_path, backend)
    _, source, dest = fleet.shard_urls
    seed_users(source, range(1000, 1040), backend)
    holder = sa.create_engine(source)
    with Router.from_topology(fleet.topology) as router:
        with holder.connect() as long_txn:

            def open_long_transaction(progress: Any) -> None:
                # Right before the freeze: a transaction that wrote a row of the range
                # stays open.
                if progress.phase == "freeze" and progress.table is None:
                    long_txn.execute(
                        users.update().where(users.c.id == 1000).values(first_name="pending")
                    )

            with pytest.raises(FreezeTimeout, match="serves writes again"):
                start_move(
                    router,
                    MoveRequest("user", 1000, 1020, "shard-2", freeze_timeout=1.0),
                    on_progress=open_long_transaction,
                )
            router.refresh()
            assert router.shard_for("user", 1005).state == "moving"
            # Writes to the range work again meanwhile (no fence left behind).
            writer = sa.create_engine(source)
            with writer.begin() as conn:
                conn.execute(audit.insert().values(id=7_000_001, user_id=1005, action="x"))
            writer.dispose()
            long_txn.rollback()
        moves = [e for e in router.shard_map.ranges if e.state != "serving"]
        assert len(moves) == 1
        from lms_db.moves.journal_view import list_moves

        (open_move,) = list_moves(router)
        assert open_move.abort is not None
        result = resume_move(router, open_move.move_id)
    holder.dispose()
    assert result.state == "done"
    moved = range_rows(dest, "user", 1000, 1020)
    assert (7_000_001, 1005) in {(r[0], r[1]) for r in moved["audit_logs"]}


def test_verify_refuses_to_switch_a_corrupted_destination(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fleet = move_fleet(request, tmp_path, "mariadb")
    _, source, dest = fleet.shard_urls
    seed_users(source, range(1000, 1040), "mariadb")
    before = range_rows(source, "user", 1000, 1040)
    marker = tmp_path / "paused"
    proc = cli(
        fleet.path,
        [
            "shard",
            "move",
            "user",
            "1000:1040",
            "--to",
            "shard-2",
            "--yes",
            "--chunk-size",
            "10",
            "--json",
        ],
        {"LMSDB_TEST_PAUSE_AT": "before:verify", "LMSDB_TEST_PAUSE_FILE": str(marker)},
    )
    import time

    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    # The same value rewritten in an even number of rows of one chunk (what XOR-of-CRC32
    # checksums cancel out).
    engine = sa.create_engine(dest)
    with engine.begin() as conn:
        conn.execute(
            enrollments.update()
            .where(enrollments.c.id.in_([10011, 10031]))
            .values(progress_percentage=50)
        )
    engine.dispose()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    marker.unlink()
    listing = json.loads(lmsdb(fleet.path, "shard", "moves", "--json").stdout)["moves"]
    move_id = listing[0]["move_id"]
    failed = cli(fleet.path, ["shard", "move", "--resume", str(move_id), "--yes"])
    out, err = failed.communicate(timeout=120)
    assert failed.returncode == 1, (out, err)
    assert "enrollments user_id (-inf, 1009]" in err and "Nothing was switched" in err, err
    with Router.from_topology(fleet.topology) as router:
        route = router.shard_for("user", 1001)
    assert (route.shard, route.state) == ("shard-1", "moving")
    # Resume again: the differing table is re-copied under the fence, verified, switched.
    result = finish(fleet.path, "--resume")
    assert result["state"] == "done"
    assert range_rows(dest, "user", 1000, 1040) == before


def test_ids_after_a_move_never_collide_and_stay_in_owned_ranges(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fleet = move_fleet(request, tmp_path, "mariadb")
    _, source, dest = fleet.shard_urls
    seed_users(source, range(1000, 1060), "mariadb")
    with Router.from_topology(fleet.topology) as router:
        start_move(router, MoveRequest("user", 1030, 2000, "shard-2"))
        router.refresh()
        ranges = {(r.lo, r.hi): r.shard for r in router.shard_map.for_keyspace("user")}
    assert ranges[(1030, 2000)] == "shard-2"
    new: dict[str, list[int]] = {"source": [], "dest": []}
    enroll: dict[str, list[int]] = {"source": [], "dest": []}
    for side, url in (("source", source), ("dest", dest)):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for n in range(3):
                user_id = inserted_id(
                    conn.execute(
                        users.insert().values(
                            uuid=f"{side}-{n}-0000-0000-000000000000"[:36],
                            email=f"{side}{n}@x.io",
                            password_hash="x",
                            first_name="N",
                            last_name="U",
                        )
                    )
                )
                new[side].append(int(user_id))
                enroll[side].append(
                    int(
                        inserted_id(
                            conn.execute(enrollments.insert().values(user_id=user_id, course_id=1))
                        )
                    )
                )
        engine.dispose()
    with Router.from_topology(fleet.topology) as router:
        for side, shard in (("source", "shard-1"), ("dest", "shard-2")):
            for user_id in new[side]:
                assert router.shard_for("user", user_id).shard == shard, (side, user_id)
    assert not set(new["source"]) & set(new["dest"])
    assert not set(enroll["source"]) & set(enroll["dest"])


def test_migrate_refuses_while_a_move_is_open(sqlite_fleet: Fleet, tmp_path: Path) -> None:
    from tests.backend.test_move_crash import kill_at

    kill_at(sqlite_fleet.path, "after:copy", tmp_path / "paused")
    result = lmsdb(sqlite_fleet.path, "migrate", "up", "--json")
    assert result.exit_code == 1, result.output
    shards = {s["shard"]: s for s in json.loads(result.stdout)["results"]}
    # The move holds its source (shard-1) and its destination (shard-2).
    assert shards["shard-1"]["result"] == "refused", shards
    assert shards["shard-2"]["result"] == "refused", shards
    assert "move" in shards["shard-1"]["error"]
    assert finish(sqlite_fleet.path, "--resume")["state"] == "done"


def test_a_move_refuses_a_shard_a_migration_holds(sqlite_fleet: Fleet) -> None:
    catalog = sa.create_engine(sqlite_fleet.topology.catalog.url)
    open_journal_entry(catalog, operation="migrate", step="locked", shard="shard-2")
    catalog.dispose()
    before = _snapshot(sqlite_fleet)
    result = lmsdb(
        sqlite_fleet.path, "shard", "move", "user", "1000:1010", "--to", "shard-2", "--yes"
    )
    assert result.exit_code == 1 and "migration" in result.output, result.output
    after = _snapshot(sqlite_fleet)
    # The map and the shards are untouched; the refused move is journaled as failed.
    assert after["ranges"] == before["ranges"] and after["triggers"] == before["triggers"]
    assert [state for _, state, _ in after["journal"]].count("failed") == 2
