"""One error boundary: a server down at start or killed mid-run never shows a traceback (#9).

Reproductions: a server killed mid-``migrate up`` printed a 643-line traceback and no
summary; ``grant-windows`` on a down shard printed 599 lines; ``sample load`` said only
``sample load failed: InterfaceError``; ``schema check`` named the URL but not the shard.
Shard ``p1`` lives on a ``mariadbd`` this test starts, stops and kills; ``p0`` and the
catalog on the MariaDB service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.backend.fleet_helpers import REPO_ROOT, lmsdb, revision_of, write_topology
from tests.backend.servers import MariaDBServer, binaries_available, start_mariadbd

pytestmark = pytest.mark.skipif(not binaries_available(), reason="mariadbd not installed")


@pytest.fixture
def p1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    server = start_mariadbd(tmp_path_factory.mktemp("p1"), "p1", 91, primary=True)
    server.execute("CREATE DATABASE lms_p1")
    yield server
    server.stop()


@pytest.fixture
def topology(
    tmp_path: Path, make_mariadb_database: Callable[[], URL], p1_server: MariaDBServer
) -> Path:
    return write_topology(
        tmp_path,
        make_mariadb_database(),
        [make_mariadb_database(), p1_server.url("lms_p1")],
        names=["p0", "p1"],
    )


def _few_lines_naming_p1(output: str, port: int, *, most: int = 3) -> None:
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert errors and len(errors) <= most, output
    assert any("p1" in line and f":{port}/" in line for line in errors), output


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "up"],
        ["shard", "grant-windows"],
        ["shard", "grant-windows", "--dry-run"],
        ["schema", "check"],
        ["sample", "load", "--users", "20", "--courses", "2"],
    ],
)
def test_a_shard_down_at_start_gives_one_line_naming_it_exit_2(
    topology: Path, p1_server: MariaDBServer, args: list[str]
) -> None:
    """Unreachable before any change: exit 2, one line naming the shard and its URL.  (The
    status commands and grant-windows report each shard: exit 1, the others shown.)"""
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    p1_server.stop()
    result = lmsdb(topology, *args)
    _few_lines_naming_p1(result.stderr, p1_server.port)
    expected = 1 if args[:2] == ["shard", "grant-windows"] else 2
    assert result.exit_code == expected, result.output


def test_shard_status_with_a_shard_down_shows_the_rest_and_exits_1(
    topology: Path, p1_server: MariaDBServer
) -> None:
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    p1_server.stop()
    result = lmsdb(topology, "shard", "status")
    assert result.exit_code == 1 and "p0" in result.stdout
    _few_lines_naming_p1(result.stdout, p1_server.port)
    as_json = lmsdb(topology, "shard", "status", "--json")
    shards = {s["shard"]: s for s in json.loads(as_json.stdout)["shards"]}
    assert shards["p0"]["error"] is None and "Can't connect" in shards["p1"]["error"]


def _start_paused(
    topology: Path, pause_at: str, pause_dir: Path, *args: str
) -> subprocess.Popen[str]:
    env = {**os.environ, "LMSDB_TEST_PAUSE_AT": pause_at, "LMSDB_TEST_PAUSE_DIR": str(pause_dir)}
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "cli.py"), "--topology", str(topology), *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _paused_marker(process: subprocess.Popen[str], pause_dir: Path) -> Path:
    deadline = time.monotonic() + 120
    while not (found := list(pause_dir.glob("*.paused"))):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "never paused"
        time.sleep(0.05)
    return found[0]


def test_server_killed_mid_migrate_up_prints_the_summary_then_a_rerun_resumes(
    topology: Path, p1_server: MariaDBServer, tmp_path: Path
) -> None:
    """p0 migrated already; p1's server is killed after 6 statements of its revision: the run
    prints its per-shard summary (p0 current, p1 error) and a few lines, exit 1; once the
    server is back, a plain rerun finishes p1's revision statement by statement."""
    assert lmsdb(topology, "migrate", "up", "--shard", "p0").exit_code == 0
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    process = _start_paused(topology, "migrate.statement@7", pause_dir, "migrate", "up")
    marker = _paused_marker(process, pause_dir)
    p1_server.kill()
    marker.unlink()  # carry on: the next statement meets a dead server
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, (out, err)
    assert "Traceback" not in out + err
    assert "p0" in out and "current" in out and "error" in out, out
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "p1" in errors[0] and f":{p1_server.port}/" in errors[0], err
    assert "went away" in errors[0], err

    p1_server.restart()
    rerun = lmsdb(topology, "migrate", "up")
    assert rerun.exit_code == 0, rerun.output
    assert revision_of(p1_server.url("lms_p1")) == "0001"
    assert lmsdb(topology, "schema", "check").exit_code == 0


def test_server_killed_mid_sample_load_names_the_shard_exit_1(
    topology: Path, p1_server: MariaDBServer, tmp_path: Path
) -> None:
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    process = _start_paused(
        topology, "sample.phase@2", pause_dir, "sample", "load", "--users", "300", "--courses", "5"
    )
    marker = _paused_marker(process, pause_dir)
    p1_server.kill()
    marker.unlink()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, (out, err)
    assert "Traceback" not in out + err and "InterfaceError" not in err.replace(
        "(InterfaceError)", ""
    )
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "p1" in lines[0] and f":{p1_server.port}/" in lines[0], err
    os.killpg(process.pid, signal.SIGKILL) if process.poll() is None else None
