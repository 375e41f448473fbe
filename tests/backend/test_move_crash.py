"""kill -9 of the whole process group at every step of a move, then --resume: the same exact
end state every time; --abort before the switch restores the source's state exactly.

The CLI runs in its own session (``start_new_session=True``) with the crash-test hook
(``LMSDB_TEST_PAUSE_AT``): it writes a marker file at the chosen point and sleeps there,
and the test kills the process group with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lms_db.moves.journal_view import list_moves
from lms_db.moves.triggers import existing_triggers
from lms_db.router import Router
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import REPO_ROOT
from tests.backend.move_helpers import move_fleet, range_rows, same_server_fleet, seed_users
from tests.backend.router_helpers import (  # noqa: F401 - fixtures
    Fleet,
    fixture_make_second_database,
    fixture_second_mariadb,
)

LO, HI = 1010, 1040
MOVE = [
    "shard",
    "move",
    "user",
    f"{LO}:{HI}",
    "--to",
    "shard-2",
    "--yes",
    "--chunk-size",
    "4",
    "--json",
]
#: Points to crash at: every step boundary plus points inside the long steps.
POINTS = [
    "before:prepare",
    "before:capture",
    "copy:chunk#3",
    "copy:chunk#40",
    "after:copy",
    "after:catchup",
    "freeze:map",
    "after:freeze",
    "after:final_delta",
    "before:verify",
    "before:switch",
    "after:switch",
    "after:dest_windows",
    "after:source_counters",
    "delete:chunk#2",
    "before:source_windows",
    "before:cleanup",
]
#: SQLite and PostgreSQL run samples of them (the suite's time budget); MariaDB runs them
#: all.  PostgreSQL's sample holds ten points, one in or after every step.
SAMPLES = {
    "sqlite": ["copy:chunk#3", "freeze:map", "after:final_delta", "after:switch", "delete:chunk#2"],
    "postgresql": [
        "copy:chunk#3",
        "after:copy",
        "after:catchup",
        "freeze:map",
        "after:final_delta",
        "before:switch",
        "after:switch",
        "after:dest_windows",
        "delete:chunk#2",
        "before:cleanup",
    ],
    # All shards on one server: the same-server copy path (INSERT ... SELECT chunks).
    "mariadb-same": ["copy:chunk#3", "after:copy", "after:final_delta", "delete:chunk#2"],
}


def cli(
    topology: Path,
    args: list[str],
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--topology", str(topology), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def kill_at(topology: Path, point: str, marker: Path, args: list[str] = MOVE) -> None:
    """Run the move (``args``) until ``point``, then SIGKILL its whole process group."""
    proc = cli(topology, args, {"LMSDB_TEST_PAUSE_AT": point, "LMSDB_TEST_PAUSE_FILE": str(marker)})
    deadline = time.monotonic() + 90
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the move ended before {point}: {proc.returncode} {out} {err}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            pytest.fail(f"the move never reached {point}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    marker.unlink()


def finish(topology: Path, flag: str) -> dict[str, Any]:
    """Find the open move (as ``shard moves`` does, in-process: one CLI start less per
    point) and run ``shard move --resume/--abort ID``; its JSON result."""
    with Router.from_topology(load_topology(topology)) as router:
        moves = list_moves(router)
    assert len(moves) == 1, moves
    move_id = moves[0].move_id
    assert moves[0].resume == f"lmsdb shard move --resume {move_id}"
    proc = cli(topology, ["shard", "move", flag, str(move_id), "--yes", "--json"])
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, (out, err)
    return dict(json.loads(out))


def end_state(fleet: Fleet) -> dict[str, Any]:
    _, source, dest = fleet.shard_urls
    state: dict[str, Any] = {
        "source": range_rows(source, "user", LO, HI),
        "dest": range_rows(dest, "user", LO, HI),
        "source_rest": range_rows(source, "user", 1000, LO),
    }
    with Router.from_topology(fleet.topology) as router:
        state["owner"] = router.shard_for("user", LO).shard
        state["states"] = sorted({r.state for r in router.shard_map.ranges})
    engine = sa.create_engine(source)
    with engine.connect() as conn:
        state["triggers"] = sorted(n.split("_")[1][0] for n in existing_triggers(conn))
    engine.dispose()
    return state


BACKENDS = ["mariadb", "mariadb-same", "postgresql", "sqlite"]
#: Points per test: each group gets its own fleet, so the groups run in parallel under
#: pytest-xdist instead of one long test per backend.
GROUP_SIZE = 3


def point_groups() -> list[Any]:
    """(backend, points) parameters: every backend's points, cut into groups."""
    params = []
    for backend in BACKENDS:
        points = SAMPLES.get(backend, POINTS)
        for start in range(0, len(points), GROUP_SIZE):
            group = tuple(points[start : start + GROUP_SIZE])
            params.append(pytest.param(backend, group, id=f"{backend}-{group[0]}"))
    return params


def crash_fleet_on(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Fleet:
    """The move fleet on ``backend``, seeded with users 1000-1049 on shard-1."""
    if backend == "mariadb-same":
        fleet = dataclasses.replace(same_server_fleet(request, tmp_path), backend="mariadb-same")
    else:
        fleet = move_fleet(request, tmp_path, backend)
    seed_users(fleet.shard_urls[1], range(1000, 1050), backend.split("-")[0])
    return fleet


@pytest.fixture(params=BACKENDS, name="crash_fleet")
def fixture_crash_fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Fleet:
    return crash_fleet_on(request, tmp_path, request.param)


def test_the_point_groups_cover_every_point() -> None:
    """Cutting the matrix into groups drops no point of any backend."""
    covered: dict[str, list[str]] = {}
    for param in point_groups():
        backend, group = param.values
        covered.setdefault(backend, []).extend(group)
    assert covered == {b: list(SAMPLES.get(b, POINTS)) for b in BACKENDS}


@pytest.mark.parametrize(("backend", "points"), point_groups())
def test_kill_at_every_step_then_resume_gives_the_same_end_state(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, points: tuple[str, ...]
) -> None:
    fleet = crash_fleet_on(request, tmp_path, backend)
    _, source, _dest = fleet.shard_urls
    before = range_rows(source, "user", LO, HI)
    rest = range_rows(source, "user", 1000, LO)
    marker = tmp_path / "paused"
    for point in points:
        kill_at(fleet.path, point, marker)
        result = finish(fleet.path, "--resume")
        assert result["state"] == "done", point
        if fleet.backend == "mariadb-same":
            assert result["copy_path"] == "same-server", point
        state = end_state(fleet)
        assert state["dest"] == before, point
        assert sum(map(len, state["source"].values())) == 0, point
        assert state["source_rest"] == rest, point
        assert state["owner"] == "shard-2" and state["states"] == ["serving"], point
        assert set(state["triggers"]) == {"f"}, point  # only fences stay
        if point == points[-1]:
            break
        # Move it back for the next round (a plain move, no crash).
        back = cli(
            fleet.path,
            ["shard", "move", "user", f"{LO}:{HI}", "--to", "shard-1", "--yes", "--json"],
        )
        out, err = back.communicate(timeout=180)
        assert back.returncode == 0, (point, out, err)
        assert range_rows(source, "user", LO, HI) == before, point


@pytest.mark.parametrize("point", ["copy:chunk#5", "after:freeze", "before:switch"])
def test_kill_then_abort_restores_the_source(
    crash_fleet: Fleet, tmp_path: Path, point: str
) -> None:
    fleet = crash_fleet
    _, source, dest = fleet.shard_urls
    before = range_rows(source, "user", 1000, 5000)
    kill_at(fleet.path, point, tmp_path / "paused")
    result = finish(fleet.path, "--abort")
    assert result["state"] == "aborted"
    assert range_rows(source, "user", 1000, 5000) == before
    assert sum(map(len, range_rows(dest, "user", LO, HI).values())) == 0
    state = end_state(fleet)
    assert state["owner"] == "shard-1" and state["states"] == ["serving"]
    assert state["triggers"] == []
    with Router.from_topology(fleet.topology) as router:
        ranges = [(r.lo, r.hi, r.shard) for r in router.shard_map.for_keyspace("user")]
    assert ranges == [(0, 1000, "shard-0"), (1000, 5000, "shard-1")]
