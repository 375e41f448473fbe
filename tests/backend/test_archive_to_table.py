"""``archive run --to-table enrollments_archive``: the same protocol into a table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from lms_db.archive.tables import select_rows
from lms_db.models import Base
from tests.backend.archive_helpers import (
    cli_env,
    ids_in,
    kill_at,
    make_fleet,
    run_cli,
    seed_learning,
)
from tests.backend.router_helpers import Fleet
from tests.backend.s3_helpers import S3Endpoint, fixture_s3  # noqa: F401

ARGS = [
    "archive",
    "run",
    "enrollments",
    "--to-table",
    "enrollments_archive",
    "--older-than",
    "2y",
    "--date-column",
    "completed_at",
    "--status",
    "completed",
    "--chunk-size",
    "2",
    "--parallel",
    "1",
    "--yes",
    "--json",
]


def _childless(fleet: Fleet, expected: dict[int, list[int]]) -> dict[int, list[int]]:
    """Take the children off two archivable enrollments per shard: only those can move."""
    movable = {}
    for index, url in enumerate(fleet.shard_urls):
        movable[index] = expected[index][:2]
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for table in ("lesson_progress", "quiz_attempts"):
                conn.execute(
                    sa.text(f"DELETE FROM {table} WHERE enrollment_id IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"ids": movable[index]},
                )
        engine.dispose()
    return movable


def _rows(url: sa.URL, table: str, ids: list[int]) -> list[tuple[object, ...]]:
    enrollments = Base.metadata.tables["enrollments"]
    source = Base.metadata.tables[table]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = select_rows(source, engine.dialect.name).where(source.c.id.in_(ids))
            names = [c.name for c in enrollments.columns]
            rows = [r._mapping for r in conn.execute(query.order_by(source.c.id))]
            return [tuple(r[n] for n in names) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["mariadb", "postgresql", "sqlite"])
def test_to_table_moves_childless_rows_exactly_and_keeps_the_rest(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint, backend: str
) -> None:
    fleet = make_fleet(request, tmp_path, backend)
    movable = _childless(fleet, seed_learning(fleet, per_shard=8))
    before = {i: _rows(url, "enrollments", movable[i]) for i, url in enumerate(fleet.shard_urls)}
    totals = {i: ids_in(url, "enrollments") for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    result = run_cli(fleet.path, ARGS, env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["destination"] == "table enrollments_archive"
    for i, url in enumerate(fleet.shard_urls):
        assert ids_in(url, "enrollments_archive") == sorted(movable[i])
        assert _rows(url, "enrollments_archive", movable[i]) == before[i]  # value for value
        assert sorted(ids_in(url, "enrollments") + movable[i]) == totals[i]
    again = json.loads(run_cli(fleet.path, ARGS, env).stdout)
    assert all(not any(s["rows"].values()) for s in again["shards"])
    listed = json.loads(run_cli(fleet.path, ["archive", "list", "--json"], env).stdout)
    assert listed[0]["destination"] == "table enrollments_archive"
    refused = run_cli(fleet.path, ["archive", "restore", report["run"]], env)
    assert refused.returncode == 2 and "enrollments_archive" in refused.stderr


def test_to_table_killed_inside_the_move_then_rerun_moves_each_row_once(
    request: pytest.FixtureRequest, tmp_path: Path, s3: S3Endpoint
) -> None:
    fleet = make_fleet(request, tmp_path, "mariadb")
    movable = _childless(fleet, seed_learning(fleet, per_shard=8))
    totals = {i: ids_in(url, "enrollments") for i, url in enumerate(fleet.shard_urls)}
    env = cli_env(s3.url)
    kill_at(fleet.path, ARGS, env, "delete:children", tmp_path / "paused")
    assert ids_in(fleet.shard_urls[0], "enrollments_archive") == []  # rolled back
    assert run_cli(fleet.path, ARGS, env).returncode == 0
    for i, url in enumerate(fleet.shard_urls):
        assert ids_in(url, "enrollments_archive") == sorted(movable[i])
        assert sorted(ids_in(url, "enrollments") + movable[i]) == totals[i]
