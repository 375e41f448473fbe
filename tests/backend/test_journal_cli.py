"""``lmsdb journal list|show|release``: open operations, stale holders, safe release (#9)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from lms_db.catalog import ensure_catalog, journal, open_journal_entry
from lms_db.catalog.schema import utcnow
from tests.backend.fleet_helpers import lmsdb, write_topology


def _catalog(tmp_path: Path) -> tuple[Path, sa.Engine]:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    topology = write_topology(tmp_path, catalog, [f"sqlite:///{tmp_path / 's0.db'}"])
    engine = sa.create_engine(catalog)
    ensure_catalog(engine)
    return topology, engine


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_list_show_and_release_by_holder_liveness(tmp_path: Path) -> None:
    topology, engine = _catalog(tmp_path)
    here = socket.gethostname()
    alive = open_journal_entry(engine, operation="move", step="copy", shard="shard-0")
    dead = open_journal_entry(
        engine,
        operation="migrate",
        step="up:0001:statement 8 running",
        shard="shard-0",
        holder=f"{here}:{_dead_pid()}",
    )
    far_recent = open_journal_entry(
        engine, operation="archive", step="upload", shard="shard-0", holder="elsewhere.example:42"
    )
    far_old = open_journal_entry(
        engine, operation="archive", step="upload", shard="shard-0", holder="elsewhere.example:43"
    )
    with engine.begin() as conn:
        conn.execute(
            journal.update()
            .where(journal.c.id == far_old)
            .values(updated_at=utcnow() - timedelta(hours=1))
        )

    listed = lmsdb(topology, "journal", "list", "--json")
    assert listed.exit_code == 0, listed.output
    by_id = {e["id"]: e for e in json.loads(listed.stdout)}
    assert by_id[alive]["alive"] is True and not by_id[alive]["stale"]
    assert by_id[dead]["stale"] and "migrate up --shard shard-0" in by_id[dead]["next_step"]
    assert by_id[far_recent]["alive"] is None and by_id[far_old]["stale"]
    text = lmsdb(topology, "journal", "list", env={"COLUMNS": "250"})
    assert "gone (stale)" in text.stdout and "alive" in text.stdout
    shown = json.loads(lmsdb(topology, "journal", "show", str(dead), "--json").stdout)
    assert shown["step"] == "up:0001:statement 8 running" and shown["state"] == "open"

    for held in (alive, far_recent):  # a live (or maybe live) holder is not released
        refused = lmsdb(topology, "journal", "release", str(held))
        assert refused.exit_code == 1 and "--force" in refused.stderr, refused.output
    assert lmsdb(topology, "journal", "release", str(dead)).exit_code == 0
    assert lmsdb(topology, "journal", "release", str(far_old)).exit_code == 0
    forced = lmsdb(topology, "journal", "release", str(far_recent), "--force")
    assert forced.exit_code == 0, forced.output
    again = lmsdb(topology, "journal", "release", str(dead))
    assert again.exit_code == 2 and "already failed" in again.stderr
    assert lmsdb(topology, "journal", "show", "999").exit_code == 2
    left = {e["id"] for e in json.loads(lmsdb(topology, "journal", "list", "--json").stdout)}
    assert left == {alive}
    released = json.loads(lmsdb(topology, "journal", "show", str(dead), "--json").stdout)
    assert released["state"] == "failed" and released["payload"]["outcome"] == "released"
    engine.dispose()
