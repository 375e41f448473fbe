"""``lmsdb shard verify [KEYSPACE LO:HI]`` through CliRunner on three-shard fleets (MariaDB
on two servers, PostgreSQL, SQLite): rows planted on the wrong shard, corrupted copies, an
open move's copy, a clean fleet, and bad input.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from cli import app
from lms_db.catalog import open_journal_entry, seed_from_topology
from lms_db.models import metadata
from lms_db.topology.spec import load_topology
from tests.backend.move_helpers import move_fleet, seed_users
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
    topology_text,
    url_text,
)
from tests.backend.test_move_crash import kill_at

runner = CliRunner()
STAMP = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)  # fixed: copies are byte-identical
users, enrollments = metadata.tables["users"], metadata.tables["enrollments"]
courses, modules = metadata.tables["courses"], metadata.tables["course_modules"]
lessons = metadata.tables["module_lessons"]


def lmsdb(fleet: Fleet, *args: str) -> Result:
    return runner.invoke(app, ["--topology", str(fleet.path), "shard", "verify", *args])


def as_json(fleet: Fleet, *args: str, code: int) -> Any:
    result = lmsdb(fleet, *args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def put_users(fleet: Fleet, shard: int, ids: range | list[int], email: str = "u") -> None:
    """Users with one enrollment each, written straight to shard ``shard``."""
    engine = fleet.engine(shard)
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "id": i,
                    "uuid": f"00000000-0000-0000-0000-{i:012d}",
                    "email": f"{email}{i}@x.org",
                    "password_hash": "h",
                    "first_name": "Zoë 😀",
                    "last_name": "L",
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
                for i in ids
            ],
        )
        conn.execute(
            enrollments.insert(),
            [
                {
                    "id": i * 10,
                    "user_id": i,
                    "course_id": 7,
                    "enrolled_at": STAMP,
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
                for i in ids
            ],
        )
    engine.dispose()


def put_course(fleet: Fleet, shard: int, course: int) -> None:
    """A course with two modules of three lessons each (lessons follow their module)."""
    engine = fleet.engine(shard)
    with engine.begin() as conn:
        conn.execute(
            courses.insert().values(
                id=course,
                uuid=f"c-{course}",
                title="T",
                slug=f"c{course}",
                instructor_id=1,
                created_at=STAMP,
                updated_at=STAMP,
            )
        )
        conn.execute(
            modules.insert(),
            [
                {
                    "id": course * 10 + m,
                    "course_id": course,
                    "title": "M",
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
                for m in (1, 2)
            ],
        )
        conn.execute(
            lessons.insert(),
            [
                {
                    "id": course * 100 + m * 10 + n,
                    "module_id": course * 10 + m,
                    "title": "L",
                    "type": "video",
                    "created_at": STAMP,
                    "updated_at": STAMP,
                }
                for m in (1, 2)
                for n in range(3)
            ],
        )
    engine.dispose()


def clean_fleet(fleet: Fleet) -> None:
    put_users(fleet, 0, range(1, 30))
    put_users(fleet, 1, range(1000, 1040))
    put_users(fleet, 2, range(2000, 2010))
    put_course(fleet, 0, 5)
    put_course(fleet, 1, 150)


def test_a_clean_fleet_audits_and_verifies_clean(fleet: Fleet) -> None:
    clean_fleet(fleet)
    audit = as_json(fleet, code=0)
    assert audit["clean"] and audit["findings"] == [] and audit["tables_checked"] == 3 * 17
    result = lmsdb(fleet)
    assert result.exit_code == 0 and "clean: every row lives on the shard owning its key" in (
        result.stdout
    )
    checked = as_json(fleet, "user", "0:5000", "--chunk-rows", "7", code=0)
    assert checked["clean"] and checked["problems"] == []
    owners = [
        (p["lo"], p["hi"], p["owner"], [h["shard"] for h in p["holders"]])
        for p in checked["pieces"]
    ]
    assert owners == [
        (0, 1000, "shard-0", ["shard-0"]),
        (1000, 2000, "shard-1", ["shard-1"]),
        (2000, 5000, "shard-2", ["shard-2"]),
    ]
    assert checked["pieces"][1]["holders"][0]["rows"] == {"users": 40, "enrollments": 40}


def test_rows_planted_on_the_wrong_shard_are_found(fleet: Fleet) -> None:
    clean_fleet(fleet)
    put_users(fleet, 0, [1500, 1501, 4999])  # owners: shard-1, shard-1, shard-2
    put_course(fleet, 2, 150)  # course 150 (shard-1) with its modules and lessons
    result = lmsdb(fleet)
    assert result.exit_code == 1, result.output
    audit = as_json(fleet, "--sample", "2", code=1)
    found = {(f["shard"], f["table"]): f for f in audit["findings"]}
    assert sorted(found) == [
        ("shard-0", "enrollments"),
        ("shard-0", "users"),
        ("shard-2", "course_modules"),
        ("shard-2", "courses"),
        ("shard-2", "module_lessons"),
    ]
    planted = found[("shard-0", "users")]
    assert (planted["rows"], planted["min_key"], planted["max_key"]) == (3, 1500, 4999)
    assert planted["sample"] == [
        {"pk": 1500, "key": 1500, "owner": "shard-1"},
        {"pk": 1501, "key": 1501, "owner": "shard-1"},
    ]
    assert found[("shard-2", "module_lessons")]["rows"] == 6  # placed through their modules
    assert audit["misplaced_rows"] == 3 + 3 + 1 + 2 + 6
    assert "shard-0 users: 3 rows whose user key it does not own" in result.stdout
    only_course = as_json(fleet, "course", code=1)
    assert {f["table"] for f in only_course["findings"]} == {
        "courses",
        "course_modules",
        "module_lessons",
    }


def test_orphans_of_a_via_table_are_reported(fleet: Fleet) -> None:
    clean_fleet(fleet)
    engine = fleet.engine(0)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        elif conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")
        else:
            conn.exec_driver_sql("SET foreign_key_checks = 0")
        conn.execute(lessons.insert().values(id=99_999, module_id=424_242, title="L", type="video"))
    engine.dispose()
    audit = as_json(fleet, "course", code=1)
    [finding] = audit["findings"]
    assert (finding["shard"], finding["table"], finding["rows"], finding["orphans"]) == (
        "shard-0",
        "module_lessons",
        0,
        1,
    )


def test_range_verify_names_left_behind_rows_and_differing_chunks(fleet: Fleet) -> None:
    clean_fleet(fleet)
    put_users(fleet, 0, range(1000, 1010))  # an identical copy of ten of shard-1's users
    checked = as_json(fleet, "user", "1000:2000", "--chunk-rows", "5", code=1)
    [piece] = checked["pieces"]
    behind = piece["holders"][1]
    assert (behind["shard"], behind["role"], behind["rows"]) == (
        "shard-0",
        "left behind",
        {"users": 10, "enrollments": 10},
    )
    # Chunks are cut on the owner (40 users): the copy lacks the owner's last 30 rows.
    chunks = {
        (m["table"], m["chunk_text"], m["source_rows"], m["dest_rows"])
        for m in behind["mismatches"]
    }
    assert ("users", "(-inf, 1004]", 5, 5) not in chunks
    assert ("users", "(1009, 1014]", 5, 0) in chunks
    result = lmsdb(fleet, "user", "1000:2000", "--chunk-rows", "5")
    assert result.exit_code == 1
    assert "shard-0 holds 20 rows of user [1000, 2000) (owner shard-1) it does not own" in (
        " ".join(result.stdout.split())
    )


def test_an_open_moves_copy_must_match_the_owner(fleet: Fleet) -> None:
    clean_fleet(fleet)
    put_users(fleet, 2, range(1000, 1040))  # shard-2 holds a full copy of [1000, 2000)
    catalog = sa.create_engine(fleet.topology.catalog.url)
    open_journal_entry(
        catalog,
        operation="move",
        step="copy",
        shard="shard-1",
        keyspace="user",
        lo=1000,
        hi=2000,
        payload={"source": "shard-1", "dest": "shard-2"},
    )
    catalog.dispose()
    checked = as_json(fleet, "user", "1000:2000", "--chunk-rows", "10", code=0)
    holder = checked["pieces"][0]["holders"][1]
    assert (holder["shard"], holder["role"], holder["problem"]) == (
        "shard-2",
        "move destination",
        False,
    )
    engine = fleet.engine(2)
    with engine.begin() as conn:  # the same value written into two rows of one chunk
        conn.execute(users.update().where(users.c.id.in_([1012, 1017])).values(last_name="X"))
    engine.dispose()
    checked = as_json(fleet, "user", "1000:2000", "--chunk-rows", "10", code=1)
    assert checked["problems"] == [
        "shard-2 vs shard-1: users chunk (1009, 1019]: same row count, contents differ "
        "(source 10 rows, destination 10 rows)"
    ]


BAD_INPUT = [
    (("user", "5:5"), "range 5:5: LO must be smaller than HI"),
    (("user", "9:3"), "LO must be smaller than HI"),
    (("user", "abc"), "range must be LO:HI"),
    (("user", "1:2:3"), "key must be a non-negative integer"),
    (("user", "-1:4"), "No such option: -1"),
    (("user", "0:99999999999999999999"), "larger than the largest shard key"),
    (("nope", "0:10"), "unknown keyspace 'nope'"),
    (("global", "0:10"), "keyspace 'global'"),
    (("user", "0:9000"), "no shard serves user keys from 5000"),
    (("nope",), "unknown keyspace 'nope'"),
    (("user", "0:10", "--chunk-rows", "0"), "--chunk-rows"),
]


def test_bad_input_is_one_line_and_exit_2(fleet: Fleet) -> None:
    for args, message in BAD_INPUT:
        result = lmsdb(fleet, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output


def test_an_unreachable_shard_is_exit_2(
    fleet: Fleet, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    dead = {
        "mariadb": "mysql+pymysql://root@127.0.0.1:1/x",
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/x",
        "sqlite": f"sqlite:///{tmp_path}/no/such/dir/x.db",
    }[fleet.backend]
    urls = [url_text(u) for u in fleet.shard_urls[:2]] + [dead]
    # A catalog of its own: the fleet's catalog recorded shard-2 at its live address.
    catalog = {
        "mariadb": lambda: request.getfixturevalue("make_mariadb_database")(),
        "postgresql": lambda: request.getfixturevalue("make_postgresql_database")(),
        "sqlite": lambda: f"sqlite:///{tmp_path}/dead-catalog.db",
    }[fleet.backend]()
    path = tmp_path / "dead.toml"
    path.write_text(topology_text(catalog, urls), encoding="utf-8")
    seed_engine = sa.create_engine(load_topology(path).catalog.url)
    seed_from_topology(seed_engine, load_topology(path))
    seed_engine.dispose()
    for args in ((), ("user", "0:1000")):
        result = runner.invoke(
            app, ["--topology", str(path), "--connect-timeout", "2", "shard", "verify", *args]
        )
        assert result.exit_code == 2, result.output
        assert "cannot connect to shard shard-2" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
@pytest.mark.parametrize(
    ("point", "role"), [("after:copy", "move destination"), ("after:switch", "move source")]
)
def test_verify_after_a_killed_move_compares_its_copy(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, point: str, role: str
) -> None:
    """A real move killed mid-way: its copy is compared, clean while equal, then corrupted."""
    fleet = move_fleet(request, tmp_path, backend)
    seed_users(fleet.shard_urls[1], range(1000, 1040), backend)
    kill_at(fleet.path, point, tmp_path / "paused")
    checked = as_json(fleet, "user", "1010:1040", "--chunk-rows", "8", code=0)
    [piece] = checked["pieces"]
    owner = "shard-1" if point == "after:copy" else "shard-2"
    other = "shard-2" if owner == "shard-1" else "shard-1"
    assert piece["owner"] == owner and checked["open_moves"]
    holder = piece["holders"][1]
    assert (holder["shard"], holder["role"], holder["problem"]) == (other, role, False)
    assert holder["rows"]["users"] == 30
    # The same value written into two rows of one chunk on the destination (the source is
    # fenced once frozen; the destination never is).
    engine = fleet.engine(2)
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id.in_([1019, 1021])).values(last_name="X"))
    engine.dispose()
    checked = as_json(fleet, "user", "1010:1040", "--chunk-rows", "8", code=1)
    assert checked["problems"] == [
        f"{other} vs {owner}: users chunk (1017, 1025]: same row count, contents differ "
        "(source 8 rows, destination 8 rows)"
    ]
