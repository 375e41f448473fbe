"""The small ``migrate`` defects of #9, each reproduced on SQLite shards.

- ``migrate up base`` was a silent no-op: now exit 2, pointing to ``migrate down base``;
- locked and skipped shards showed ``from base`` in the summary: now the revision read
  (locked) or ``-``/``null`` (skipped: never read);
- ``migrate new --shard`` ignored shards added with ``shard add`` (and an unchanged model
  wrote an empty head revision: see test_migrate_sqlite.test_history_sql_and_new).
"""

from __future__ import annotations

import json
from pathlib import Path

from lms_db.fleet.locks import file_lock
from lms_db.topology.spec import load_topology
from tests.backend.fleet_helpers import (
    add_revision,
    copy_migrations,
    lmsdb,
    write_topology,
)


def _fleet(tmp_path: Path, count: int = 3) -> tuple[Path, list[str]]:
    shards = [f"sqlite:///{tmp_path / f's{i}.db'}" for i in range(count)]
    return write_topology(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", shards), shards


def test_migrate_up_base_is_refused_and_points_to_migrate_down(tmp_path: Path) -> None:
    topology, _ = _fleet(tmp_path)
    for args in (["migrate", "up", "base"], ["migrate", "up", "base", "--dry-run"]):
        result = lmsdb(topology, *args)
        assert result.exit_code == 2, result.output
        assert "lmsdb migrate down base" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "catalog.db").exists() and not (tmp_path / "s0.db").exists(), (
        "nothing changed"
    )


def test_locked_and_skipped_shards_do_not_claim_base(tmp_path: Path) -> None:
    topology, _ = _fleet(tmp_path)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    scripts = copy_migrations(tmp_path)
    add_revision(
        scripts,
        "0002",
        "0001",
        'op.add_column("users", sa.Column("nick", sa.String(20)))',
        'op.drop_column("users", "nick")',
    )
    canary = load_topology(topology).shard("shard-0").primary
    with file_lock(canary):  # another run holds shard-0, the canary
        result = lmsdb(
            topology, "migrate", "up", "--scripts", str(scripts), "--lock-timeout", "0", "--json"
        )
    assert result.exit_code == 1, result.output
    rows = {r["shard"]: r for r in json.loads(result.stdout)["results"]}
    assert (rows["shard-0"]["result"], rows["shard-0"]["from"], rows["shard-0"]["to"]) == (
        "locked",
        "0001",
        "0001",
    )
    for name in ("shard-1", "shard-2"):
        assert (rows[name]["result"], rows[name]["from"], rows[name]["to"]) == (
            "skipped",
            None,
            None,
        )
    with file_lock(canary):
        text = lmsdb(topology, "migrate", "up", "--scripts", str(scripts), "--lock-timeout", "0")
    summary = [line for line in text.stdout.splitlines() if "skipped" in line]
    assert summary and all("base" not in line for line in summary), text.stdout


def test_migrate_new_against_a_shard_added_with_shard_add(tmp_path: Path) -> None:
    topology, _ = _fleet(tmp_path)
    assert lmsdb(topology, "migrate", "up").exit_code == 0
    added = lmsdb(
        topology, "shard", "add", "shard-9", "--primary", f"sqlite:///{tmp_path / 's9.db'}"
    )
    assert added.exit_code == 0, added.output
    scripts = copy_migrations(tmp_path)
    result = lmsdb(
        topology, "migrate", "new", "-m", "nothing", "--shard", "shard-9", "--scripts", str(scripts)
    )
    assert result.exit_code == 0, result.output
    assert "no revision written" in result.stdout
    assert lmsdb(topology, "migrate", "new", "-m", "x", "--shard", "nope").exit_code == 2
