"""Id counters and windows after a move: where the source's counters stand before its delete,
and the same windows and counters whether the move ran through or was killed and resumed.

On MySQL/MariaDB the source's counters are positioned before the delete (step
``source_counters``: after it, InnoDB's purge of the deleted rows made the counter's
``ALTER TABLE`` wait about a second); a PostgreSQL sequence standing below rows of the
moved range waits for the delete (step ``source_windows``), which may let it stay lower.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lms_db.catalog import read_id_windows
from lms_db.ids.align import settled
from lms_db.ids.counters import counter_position, max_id
from lms_db.models import metadata
from lms_db.router import Router
from lms_db.router.keys import id_column, id_tables
from tests.backend.fleet_helpers import inserted_id
from tests.backend.move_helpers import range_rows
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
)
from tests.backend.servers import MariaDBServer
from tests.backend.test_move_crash import MOVE, cli, crash_fleet_on, finish, kill_at

users, enrollments = metadata.tables["users"], metadata.tables["enrollments"]
SHARDS = ("shard-0", "shard-1", "shard-2")
#: shard-1 holds users 1000-1049 (``crash_fleet_on``), its users counter at 1050: inside
#: the moved range, so the source's counter has to move (to 2000, its next owned ids),
#: and shard-2 has room for new users after the moved ones.
LO, HI = 1030, 2000
MOVE_UP = ["shard", "move", "user", f"{LO}:{HI}", *MOVE[4:]]


def counters(fleet: Fleet) -> dict[tuple[str, str], int | None]:
    """The next id of every id table on every shard."""
    out: dict[tuple[str, str], int | None] = {}
    for shard, url in zip(SHARDS, fleet.shard_urls, strict=True):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            for table in id_tables():
                column = id_column(table)
                assert column is not None
                out[(shard, table.name)] = counter_position(conn, table.name, column.name)
        engine.dispose()
    return out


def unsettled(url: sa.URL) -> set[str]:
    """Id tables whose counter does not stand above their highest id."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = set()
        for table in id_tables():
            column = id_column(table)
            assert column is not None
            counter = counter_position(conn, table.name, column.name)
            if not settled(counter, max_id(conn, table.name, column.name)):
                out.add(table.name)
    engine.dispose()
    return out


def ids_state(fleet: Fleet) -> dict[str, Any]:
    """The catalog's windows and every counter: what a move leaves of the fleet's ids."""
    with Router.from_topology(fleet.topology) as router:
        windows = sorted(
            (w.table_name, w.shard, w.lo, w.hi) for w in read_id_windows(router.catalog)
        )
    return {"windows": windows, "counters": counters(fleet)}


def moved_rows_on_source(fleet: Fleet) -> int:
    return sum(map(len, range_rows(fleet.shard_urls[1], "user", LO, HI).values()))


def run_through(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> dict[str, Any]:
    """The ids state after the same move, never interrupted, on a fleet of its own."""
    path = tmp_path / "through"
    path.mkdir()
    fleet = crash_fleet_on(request, path, backend)
    proc = cli(fleet.path, MOVE_UP)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, (out, err)
    return ids_state(fleet)


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
@pytest.mark.parametrize(
    "point", ["after:dest_windows", "after:source_counters", "delete:chunk#2", "before:cleanup"]
)
def test_kill_around_the_counter_steps_then_resume_gives_the_ids_of_a_move_run_through(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, point: str
) -> None:
    expected = run_through(request, tmp_path, backend)
    fleet = crash_fleet_on(request, tmp_path, backend)
    before = counters(fleet)
    kill_at(fleet.path, point, tmp_path / "paused", MOVE_UP)
    if point == "after:source_counters":
        # Killed before the delete began: the moved rows are all still on the source.
        assert moved_rows_on_source(fleet) == 20 * 9
        now, final = counters(fleet), expected["counters"]
        waiting = unsettled(fleet.shard_urls[1])
        for key in (k for k in now if k[0] == "shard-1"):
            # A counter the delete cannot change stands where the finished move leaves it;
            # one below rows of the table (PostgreSQL: seeded with explicit ids) waits.
            assert now[key] == (before[key] if key[1] in waiting else final[key]), key
        if backend == "mariadb":
            assert not waiting
            assert (before[("shard-1", "users")], now[("shard-1", "users")]) == (1050, HI)
        else:
            assert {"users", "enrollments"} <= waiting
    assert finish(fleet.path, "--resume")["state"] == "done"
    assert moved_rows_on_source(fleet) == 0
    # The same windows (none granted twice) and the same counters as the move run through.
    assert ids_state(fleet) == expected


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_new_users_after_a_move_get_ids_their_shard_owns_and_never_collide(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = crash_fleet_on(request, tmp_path, backend)
    proc = cli(fleet.path, MOVE_UP)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, (out, err)
    new: dict[str, list[int]] = {}
    enrolled: dict[str, list[int]] = {}
    for shard, url in zip(SHARDS[1:], fleet.shard_urls[1:], strict=True):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for n in range(3):
                user_id = inserted_id(
                    conn.execute(
                        users.insert().values(
                            uuid=f"{shard}-{n}-0000-0000-00000000000000"[:36],
                            email=f"{shard}-{n}@x.io",
                            password_hash="x",
                            first_name="N",
                            last_name="U",
                        )
                    )
                )
                new.setdefault(shard, []).append(user_id)
                enrolled.setdefault(shard, []).append(
                    inserted_id(
                        conn.execute(enrollments.insert().values(user_id=user_id, course_id=1))
                    )
                )
        engine.dispose()
    with Router.from_topology(fleet.topology) as router:
        for shard, ids in new.items():
            assert [router.shard_for("user", i).shard for i in ids] == [shard] * 3, (shard, ids)
    assert not set(new["shard-1"]) & set(new["shard-2"])
    assert not set(enrolled["shard-1"]) & set(enrolled["shard-2"])
    assert new["shard-1"] == [HI, HI + 1, HI + 2] and new["shard-2"] == [1050, 1051, 1052]


def test_a_destination_lost_while_its_windows_are_cut_stops_the_move_and_resume_finishes(
    request: pytest.FixtureRequest, tmp_path: Path, second_mariadb: MariaDBServer
) -> None:
    """The destination's server dies after the switch, before its id windows are cut: the
    move does not report done with counters nobody placed; it stops with one line, and
    ``--resume`` (server back) gives the ids of a move run through."""
    expected = run_through(request, tmp_path, "mariadb")
    fleet = crash_fleet_on(request, tmp_path, "mariadb")  # shard-2 on the second server
    marker = tmp_path / "paused"
    proc = cli(
        fleet.path,
        MOVE_UP,
        {"LMSDB_TEST_PAUSE_AT": "after:switch", "LMSDB_TEST_PAUSE_FILE": str(marker)},
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    second_mariadb.kill()
    try:
        marker.unlink()  # carry on, with the destination gone
        out, err = proc.communicate(timeout=180)
    finally:
        second_mariadb.restart()
        second_mariadb.execute("SET GLOBAL read_only = 0")
    assert proc.returncode == 1, (out, err)
    assert "id windows of shard-2" in out + err and "--resume" in out + err
    assert finish(fleet.path, "--resume")["state"] == "done"
    assert moved_rows_on_source(fleet) == 0
    assert ids_state(fleet) == expected
