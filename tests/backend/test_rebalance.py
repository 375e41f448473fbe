"""``lmsdb shard rebalance`` on MariaDB (two servers), PostgreSQL and SQLite: the plan evens
out the fleet, the moves keep every row exactly once, and a run killed between or inside
its moves finishes with ``--resume`` in the same end state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from cli import app
from lms_db.catalog import open_entries, read_shard_map
from lms_db.errors import MapMismatch
from lms_db.moves.rebalance import plan_fleet, run_rebalance
from lms_db.router import Router
from tests.backend.move_helpers import move_fleet, range_rows, seed_users
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
)

BACKENDS = ["mariadb", "postgresql", "sqlite"]
REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def lmsdb(fleet: Fleet, *args: str) -> Result:
    return runner.invoke(app, ["--topology", str(fleet.path), "shard", *args])


def every_row(fleet: Fleet) -> dict[str, list[tuple[Any, ...]]]:
    """All user-keyspace rows of the fleet per table, sorted (a row on two shards counts twice)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for url in fleet.shard_urls:
        for table, rows in range_rows(url, "user", 0, 2**62).items():
            out.setdefault(table, []).extend(rows)
    return {t: sorted(rows, key=repr) for t, rows in out.items()}


def user_counts(fleet: Fleet) -> list[int]:
    return [
        sum(len(v) for v in range_rows(url, "user", 0, 2**62).values()) for url in fleet.shard_urls
    ]


def seeded(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Fleet:
    fleet = move_fleet(request, tmp_path, backend)
    seed_users(fleet.shard_urls[0], range(10, 20), backend)
    seed_users(fleet.shard_urls[1], [*range(1000, 1050), *range(4000, 4010)], backend)
    return fleet


def map_of(fleet: Fleet) -> list[tuple[str, int, int, str, str]]:
    engine = sa.create_engine(fleet.topology.catalog.url)
    try:
        return [(r.keyspace, r.lo, r.hi, r.shard, r.state) for r in read_shard_map(engine).ranges]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rebalance_evens_out_the_fleet_and_keeps_every_row_once(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    fleet = seeded(request, tmp_path, backend)
    rows_before, map_before = every_row(fleet), map_of(fleet)
    assert user_counts(fleet) == [90, 540, 0]

    dry = lmsdb(fleet, "rebalance", "--keyspace", "user", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert [(m["source"], m["dest"], m["split"]) for m in plan["moves"]] == [
        ("shard-1", "shard-2", True),
        ("shard-1", "shard-0", True),
    ]
    assert plan["after"][0]["loads"] == {"shard-0": 225, "shard-1": 198, "shard-2": 207}
    assert map_of(fleet) == map_before and every_row(fleet) == rows_before  # nothing changed

    by_bytes = lmsdb(
        fleet, "rebalance", "--keyspace", "user", "--by", "bytes", "--dry-run", "--json"
    )
    assert by_bytes.exit_code == 0, by_bytes.output
    sized = json.loads(by_bytes.stdout)
    loads = sized["before"][0]["loads"]
    assert sized["by"] == "bytes" and loads["shard-2"] == 0
    assert loads["shard-0"] > 90 and loads["shard-1"] > 540  # rows weighed by their size
    assert all(m["source"] != "shard-2" for m in sized["moves"])

    refused = lmsdb(fleet, "rebalance", "--keyspace", "user")  # CliRunner: not a terminal
    assert refused.exit_code == 2 and "pass --yes" in refused.stderr

    run = lmsdb(fleet, "rebalance", "--keyspace", "user", "--yes", "--chunk-size", "50")
    assert run.exit_code == 0, run.output
    assert "rebalance" in run.stdout and "done: 2 moves" in run.stdout
    assert user_counts(fleet) == [225, 198, 207]
    assert every_row(fleet) == rows_before  # every row once, byte for byte
    assert lmsdb(fleet, "verify").exit_code == 0  # each row on the shard owning its key
    assert {r[4] for r in map_of(fleet)} == {"serving"}
    again = lmsdb(fleet, "rebalance", "--keyspace", "user", "--dry-run", "--json")
    assert json.loads(again.stdout)["moves"] == []


@pytest.mark.parametrize(
    ("backend", "pause_at"),
    [
        ("sqlite", "rebalance:move#2"),  # between the two moves
        ("sqlite", "after:copy#2"),  # inside the second move, before its switch
        ("mariadb", "after:switch#1"),  # inside the first move, after its switch
        ("postgresql", "copy:chunk#3"),  # inside the first move's copy
    ],
)
def test_a_killed_rebalance_resumes_to_the_same_end_state(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, pause_at: str
) -> None:
    fleet = seeded(request, tmp_path, backend)
    rows_before = every_row(fleet)
    marker = tmp_path / "paused"
    env = {**os.environ, "LMSDB_TEST_PAUSE_AT": pause_at, "LMSDB_TEST_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "cli.py"),
            "--topology",
            str(fleet.path),
            "shard",
            "rebalance",
            "--keyspace",
            "user",
            "--yes",
            "--chunk-size",
            "20",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached " + pause_at
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)  # reaps it and closes the pipes

    catalog = sa.create_engine(fleet.topology.catalog.url)
    [entry] = open_entries(catalog, operation="rebalance")
    catalog.dispose()
    again = lmsdb(fleet, "rebalance", "--keyspace", "user", "--yes")
    assert again.exit_code == 2 and f"--resume {entry.id}" in again.stderr
    resumed = lmsdb(fleet, "rebalance", "--resume", str(entry.id), "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert user_counts(fleet) == [225, 198, 207]
    assert every_row(fleet) == rows_before
    assert lmsdb(fleet, "verify").exit_code == 0
    assert {r[4] for r in map_of(fleet)} == {"serving"}
    catalog = sa.create_engine(fleet.topology.catalog.url)
    assert open_entries(catalog) == []
    catalog.dispose()


def test_bad_rebalance_input_is_exit_2(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    fleet = seeded(request, tmp_path, "sqlite")
    for args, message in [
        (("--keyspace", "nope", "--dry-run"), "unknown keyspace 'nope'"),
        (("--by", "weight", "--dry-run"), "--by must be rows or bytes"),
        (("--resume", "999", "--yes"), "999"),
        (("--abandon", "999"), "999"),
    ]:
        result = lmsdb(fleet, "rebalance", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_map_changed_since_the_plan_stops_the_run_and_abandon_closes_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fleet = seeded(request, tmp_path, "sqlite")
    rows_before = every_row(fleet)
    with Router.from_topology(fleet.topology) as router:
        plan = plan_fleet(router, keyspace="user")
        # As if someone moved the first planned range away after the plan was made.
        stale = replace(plan, moves=(replace(plan.moves[0], source="shard-0"), *plan.moves[1:]))
        with pytest.raises(
            MapMismatch,
            match=r"no longer inside one range of shard-0.*"
            r"lmsdb shard rebalance --resume \d+",
        ):
            run_rebalance(router, stale)
        [entry] = open_entries(router.catalog, operation="rebalance")
    assert every_row(fleet) == rows_before  # nothing moved
    resumed = lmsdb(fleet, "rebalance", "--resume", str(entry.id), "--yes")
    assert resumed.exit_code == 1 and "map changed since the plan" in resumed.stderr
    abandoned = lmsdb(fleet, "rebalance", "--abandon", str(entry.id))
    assert abandoned.exit_code == 0, abandoned.output
    catalog = sa.create_engine(fleet.topology.catalog.url)
    assert open_entries(catalog) == []
    catalog.dispose()
    assert lmsdb(fleet, "rebalance", "--keyspace", "user", "--yes").exit_code == 0
