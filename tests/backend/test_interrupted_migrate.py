"""Interrupts and crashes in ``migrate up`` leave nothing half-done (#9).

Reproduction: Ctrl-C (SIGINT to the process group) during ``migrate up`` exited 130 silently
and left a MariaDB shard with 8 of 21 tables and its journal entry open forever; the next
``migrate up`` refused and asked to drop tables by hand; the same after kill -9 of the
process tree.  Here ``lmsdb`` runs as a real process group on 3 shards; the named pause
points of :mod:`lms_db.hooks` stop it at an exact statement, the test sends SIGINT or
SIGKILL to the whole group, and a plain rerun must bring every shard to head with no drift.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from lms_db.catalog import open_entries
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import (
    REPO_ROOT,
    lmsdb,
    lmsdb_json,
    revision_of,
    table_names,
    write_topology,
)

HEAD = "0001"
PAUSE_TIMEOUT = 120.0


def _start(topology: Path, pause_at: str, pause_dir: Path, *args: str) -> subprocess.Popen[str]:
    """``lmsdb migrate up`` in a process group of its own, pausing at ``pause_at``."""
    env = {**os.environ, "LMSDB_TEST_PAUSE_AT": pause_at, "LMSDB_TEST_PAUSE_DIR": str(pause_dir)}
    return subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "cli.py"),
            "--topology",
            str(topology),
            "migrate",
            "up",
            *args,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_paused(process: subprocess.Popen[str], pause_dir: Path, count: int = 1) -> None:
    deadline = time.monotonic() + PAUSE_TIMEOUT
    while len(list(pause_dir.glob("*.paused"))) < count:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"lmsdb exited {process.returncode} before pausing:\n{out}\n{err}")
        assert time.monotonic() < deadline, "lmsdb never reached the pause point"
        time.sleep(0.05)


def _fleet(tmp_path: Path, make: Callable[[], URL], count: int = 3) -> tuple[Path, list[URL]]:
    catalog = make()
    shards = [make() for _ in range(count)]
    return write_topology(tmp_path, catalog, shards), shards


def _open_migrate_entries(topology: Path) -> list[int]:
    engine = sa.create_engine(load_topology(topology).catalog.url)
    try:
        return [e.id for e in open_entries(engine, operation="migrate")]
    finally:
        engine.dispose()


def _assert_rerun_finishes(topology: Path, shards: list[URL]) -> None:
    rerun = lmsdb(topology, "migrate", "up")
    assert rerun.exit_code == 0, rerun.output
    assert [revision_of(u) for u in shards] == [HEAD] * len(shards)
    check = lmsdb(topology, "schema", "check")
    assert check.exit_code == 0, check.output
    assert _open_migrate_entries(topology) == []
    assert lmsdb_json(topology, "migrate", "up")["ok"], "a third run has nothing to do"


@pytest.mark.parametrize(
    "pause_at", ["migrate.statement@8", "migrate.statement.done@5", "migrate.statement@30"]
)
def test_kill_9_of_the_process_group_mid_revision_then_a_plain_rerun_finishes(
    tmp_path: Path, make_mariadb_database: Callable[[], URL], pause_at: str
) -> None:
    """``statement@8``: killed before statement 8 (7 tables exist); ``statement.done@5``:
    killed after statement 5 ran but before the journal recorded it (the rerun finds its
    effect and skips it); ``statement@30``: later, among the indexes."""
    topology, shards = _fleet(tmp_path, make_mariadb_database)
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    process = _start(topology, pause_at, pause_dir, "--parallel", "2")
    _wait_paused(process, pause_dir)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert table_names(shards[0]) - {"alembic_version"}, "some tables exist"
    assert revision_of(shards[0]) is None, "the canary was killed inside its first revision"
    assert len(_open_migrate_entries(topology)) == 1, "the killed run's entry stays open"
    listing = lmsdb(topology, "journal", "list", "--json")
    assert listing.exit_code == 0, listing.output
    [entry] = json.loads(listing.stdout)
    assert entry["shard"] == "shard-0" and entry["stale"], entry
    assert "migrate up --shard shard-0" in entry["next_step"]
    status = lmsdb(topology, "shard", "status")
    assert "see lmsdb journal list" in status.stdout, status.output

    _assert_rerun_finishes(topology, shards)


def test_sigint_stops_at_a_safe_point_reports_and_exits_130(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    topology, shards = _fleet(tmp_path, make_mariadb_database)
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    process = _start(topology, "migrate.statement@8", pause_dir, "--parallel", "2", "--json")
    _wait_paused(process, pause_dir)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    report = json.loads(out)
    assert report["code"] == "interrupted" and report["retryable"] and report["interrupted"]
    results = {r["shard"]: r for r in report["results"]}
    assert results["shard-0"]["result"] == "interrupted"
    assert "before statement 8" in results["shard-0"]["error"]
    assert {results[s]["result"] for s in ("shard-1", "shard-2")} == {"skipped"}
    assert "interrupted" in err and "rerun lmsdb migrate up" in err
    made = table_names(shards[0]) - {"alembic_version"}
    assert 0 < len(made) < 21, "stopped halfway through the initial revision"
    assert _open_migrate_entries(topology) == [], "the entry is closed, marked interrupted"
    _assert_rerun_finishes(topology, shards)


def test_sigint_to_parallel_workers_then_kill_9_then_rerun(
    tmp_path: Path, make_mariadb_database: Callable[[], URL]
) -> None:
    """No canary, three worker processes each paused in their revision: SIGINT stops every
    one of them at that statement; a second run is killed -9 mid-revision; a third finishes."""
    topology, shards = _fleet(tmp_path, make_mariadb_database)
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    process = _start(topology, "migrate.statement@4", pause_dir, "--parallel", "3", "--no-canary")
    _wait_paused(process, pause_dir, count=3)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in out + err and "INTERRUPTED" in out
    assert all(0 < len(table_names(u) - {"alembic_version"}) < 21 for u in shards)
    assert _open_migrate_entries(topology) == []

    again = tmp_path / "pauses-2"
    again.mkdir()
    second = _start(topology, "migrate.statement@12", again, "--parallel", "3", "--no-canary")
    _wait_paused(second, again, count=3)
    os.killpg(second.pid, signal.SIGKILL)
    second.communicate(timeout=30)
    assert len(_open_migrate_entries(topology)) == 3
    _assert_rerun_finishes(topology, shards)


def test_sigint_on_sqlite_rolls_the_revision_back(tmp_path: Path) -> None:
    """SQLite (and PostgreSQL) run a revision in one transaction: interrupted, it leaves no
    table; the journal entry is closed; a rerun migrates."""
    shards = [f"sqlite:///{tmp_path / f's{i}.db'}" for i in range(3)]
    topology = write_topology(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", shards)
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    process = _start(topology, "migrate.statement@10", pause_dir, "--parallel", "1")
    _wait_paused(process, pause_dir)
    os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "SIGTERM" in err and "Traceback" not in out + err
    assert table_names(shards[0]) == set()
    assert _open_migrate_entries(topology) == []
    _assert_rerun_finishes(topology, [sa.engine.make_url(u) for u in shards])
