"""Ctrl-C during ``sample load`` rolls it back: no users without their courses (#9).

Reproduction: Ctrl-C during ``sample load`` left users and no courses.  The load now stops
between two rounds, deletes every row it wrote (by the ids it reserved) and exits 130.
"""

from __future__ import annotations

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

from lms_db.router.keys import keyspace_tables
from tests.backend.fleet_helpers import REPO_ROOT, lmsdb, write_topology


def _rows(url: URL | str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sum(
                conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for k in ("user", "course", "global")
                for t in keyspace_tables(k)
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_sigint_during_sample_load_rolls_it_back(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    if backend == "sqlite":
        catalog: URL | str = f"sqlite:///{tmp_path / 'catalog.db'}"
        shards: list[URL | str] = [f"sqlite:///{tmp_path / f's{i}.db'}" for i in range(3)]
    else:
        make: Callable[[], URL] = request.getfixturevalue("make_mariadb_database")
        catalog, shards = make(), [make() for _ in range(3)]
    topology = write_topology(tmp_path, catalog, shards)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    pause_dir = tmp_path / "pauses"
    pause_dir.mkdir()
    env = {
        **os.environ,
        "LMSDB_TEST_PAUSE_AT": "sample.phase@2",
        "LMSDB_TEST_PAUSE_DIR": str(pause_dir),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "cli.py"),
            "--topology",
            str(topology),
            "sample",
            "load",
            "--users",
            "2500",
            "--courses",
            "10",
        ],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not list(pause_dir.glob("*.paused")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    if backend == "sqlite":
        time.sleep(0.5)  # let the writer commit the rounds already handed over
        assert sum(_rows(u) for u in shards) > 0, "users were written before the courses"
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert "rolled back" in err and "nothing of it remains" in err
    assert [_rows(u) for u in shards] == [0, 0, 0]
    again = lmsdb(topology, "sample", "load", "--users", "30", "--courses", "3")
    assert again.exit_code == 0, again.output
