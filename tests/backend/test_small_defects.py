"""The smaller defects of issue #9, each reproduced: sample load twice or twice at once, on
an unmigrated fleet; ``demo --dir FILE``; ``shard route user -1``; ``views refresh`` on an
unmigrated database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.catalog import open_journal_entry, read_journal_entry
from lms_db.sample.guard import SAMPLE_LOAD_OPERATION
from tests.backend.fleet_helpers import lmsdb, write_topology

TABLES = ("users", "user_profiles", "audit_logs", "courses", "enrollments", "payments")


def _sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def _one_line(result: object) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return lines[0]


def _counts(urls: list[str]) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(TABLES, 0)
    for url in urls:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            for table in TABLES:
                out[table] += conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        engine.dispose()
    return out


@pytest.fixture
def migrated(tmp_path: Path) -> tuple[Path, str, list[str]]:
    catalog = _sqlite(tmp_path, "catalog.db")
    shards = [_sqlite(tmp_path, f"s{i}.db") for i in range(3)]
    topology = write_topology(tmp_path, catalog, shards)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    return topology, catalog, shards


@pytest.fixture(params=["sqlite", "mariadb"])
def any_migrated(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str, list[str]]:
    if request.param == "sqlite":
        return request.getfixturevalue("migrated")
    make = request.getfixturevalue("make_mariadb_database")
    catalog = make().render_as_string(hide_password=False)
    shards = [make().render_as_string(hide_password=False) for _ in range(2)]
    topology = write_topology(tmp_path, catalog, shards)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    return topology, catalog, shards


def test_a_second_load_is_refused_up_front_and_add_adds_new_rows(
    any_migrated: tuple[Path, str, list[str]],
) -> None:
    topology, _, shards = any_migrated
    first = lmsdb(topology, "sample", "load", "--users", "30", "--courses", "3", "--json")
    assert first.exit_code == 0, first.output
    after_first = _counts(shards)
    assert after_first["users"] == 30 and after_first["audit_logs"] > 0

    again = lmsdb(topology, "sample", "load", "--users", "30", "--courses", "3")
    assert again.exit_code == 2, again.output
    line = _one_line(again)
    assert "already holds 30 users" in line and "--add" in line
    assert _counts(shards) == after_first  # nothing written: not even audit rows

    more = lmsdb(topology, "sample", "load", "--users", "30", "--courses", "3", "--add", "--json")
    assert more.exit_code == 0, more.output
    assert json.loads(more.stdout)["users"] == 30
    total = _counts(shards)
    assert total["users"] == 60 and total["courses"] == 6
    assert total["audit_logs"] == 2 * after_first["audit_logs"]


def test_a_load_while_another_runs_is_refused_and_a_dead_holder_is_taken_over(
    migrated: tuple[Path, str, list[str]],
) -> None:
    topology, catalog, shards = migrated
    engine = sa.create_engine(catalog)
    live = open_journal_entry(engine, operation=SAMPLE_LOAD_OPERATION, step="load")
    refused = lmsdb(topology, "sample", "load", "--users", "5", "--courses", "1")
    assert refused.exit_code == 2, refused.output
    assert "another sample load is running" in _one_line(refused)
    assert _counts(shards)["users"] == 0

    # A holder whose process is gone (kill -9): its entry is closed and the load goes on.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE journal SET holder = :h WHERE id = :i"),
            {"h": f"{os.uname().nodename}:{dead}", "i": live},
        )
    loaded = lmsdb(topology, "sample", "load", "--users", "5", "--courses", "1")
    assert loaded.exit_code == 0, loaded.output
    assert read_journal_entry(engine, live).state == "failed"
    engine.dispose()
    assert _counts(shards)["users"] == 5


def test_two_loads_at_once_do_not_collide(migrated: tuple[Path, str, list[str]]) -> None:
    topology, _, shards = migrated
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(root / "cli.py"),
                "--topology",
                str(topology),
                "sample",
                "load",
                "--users",
                "400",
                "--courses",
                "10",
            ],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    results = [(p.returncode, err) for p, err in zip(procs, errors, strict=True)]
    # One loads; the other is refused (while the first runs, or after it: data is there).
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another sample load is running" in refused or "already holds" in refused
    assert _counts(shards)["users"] == 400


def test_sample_load_on_an_unmigrated_fleet_creates_nothing(tmp_path: Path) -> None:
    topology = write_topology(
        tmp_path, _sqlite(tmp_path, "catalog.db"), [_sqlite(tmp_path, f"s{i}.db") for i in range(2)]
    )
    result = lmsdb(topology, "sample", "load", "--users", "5", "--courses", "1")
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert "shard-0 has no schema" in line and "lmsdb migrate up" in line
    assert not any(tmp_path.glob("*.db")), "no catalog or shard file was created"


def test_demo_dir_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "topology.toml"
    target.write_text("not a directory")
    result = lmsdb(None, "demo", "--dir", str(target))
    assert result.exit_code == 2, result.output
    assert "is a file, not a directory" in _one_line(result)
    inside = lmsdb(None, "demo", "--dir", str(target / "sub"))
    assert inside.exit_code == 2 and "cannot create the demo directory" in _one_line(inside)


def test_route_a_negative_key(migrated: tuple[Path, str, list[str]]) -> None:
    topology, _, _ = migrated
    result = lmsdb(topology, "shard", "route", "user", "-1")
    assert result.exit_code == 2, result.output
    assert "key must be a non-negative integer, not -1" in _one_line(result)


def test_views_refresh_on_an_unmigrated_database(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    result = lmsdb(None, "views", "refresh", "--url", f"sqlite:///{missing}")
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert "has no popular_courses: the database is not migrated" in line
    assert not missing.exists()
    topology = write_topology(
        tmp_path, _sqlite(tmp_path, "catalog.db"), [_sqlite(tmp_path, "s0.db")]
    )
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    engine = sa.create_engine(_sqlite(tmp_path, "s0.db"))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE popular_courses")
    engine.dispose()
    by_shard = lmsdb(topology, "views", "refresh")
    assert by_shard.exit_code == 2, by_shard.output
    assert _one_line(by_shard).startswith("error: shard-0: ")
